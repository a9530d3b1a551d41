#!/usr/bin/env bash
# Makes the TLS test fixtures in tests/fixtures/tls/ (committed; run again only to renew them,
# they are valid for 100 years). A CA, two server certificates it signs (`localhost` with
# 127.0.0.1 and ::1, and `alt.test`), and a client CA with one client certificate.
set -euo pipefail
cd "$(dirname "$0")/../tests/fixtures/tls"
days=36500
ossl() { openssl "$@" 2>/dev/null; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { # name subject
  key "$1.key"
  ossl req -x509 -new -key "$1.key" -subj "/CN=$2" -days $days -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject ca san eku
  key "$1.key"
  ossl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$4" "$5" >"$1.ext"
  ossl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days $days \
    -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
ca ca "hsys test CA"
leaf localhost localhost ca "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
leaf alt alt.test ca "DNS:alt.test" serverAuth
ca client-ca "hsys test client CA"
leaf client "hsys test client" client-ca "DNS:client.test" clientAuth
rm -f ./*.srl
