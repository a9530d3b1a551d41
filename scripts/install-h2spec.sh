#!/usr/bin/env bash
# Builds h2spec (the HTTP/2 conformance tester: 146 cases, 147 with --strict) from the sources
# vendored in third_party/h2spec (upstream summerwind/h2spec at af83a65, MIT) with Debian's Go
# toolchain and the Debian packages of its imports: no Go module proxy, no network but apt.
# Usage: scripts/install-h2spec.sh [DEST]   (default /usr/local/bin/h2spec). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-/usr/local/bin/h2spec}
version=2.6.0
commit=af83a65f0b6273ef38bf778d400d98892e7653d8
if [ -x "$dest" ] && "$dest" --version 2>/dev/null | grep -q "$commit"; then
  exit 0
fi
pkgs=(golang-go
  golang-github-spf13-cobra-dev golang-github-spf13-pflag-dev
  golang-github-fatih-color-dev golang-github-mattn-go-colorable-dev golang-github-mattn-go-isatty-dev
  golang-golang-x-net-dev golang-golang-x-sys-dev golang-golang-x-text-dev)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go=$(command -v go || echo /usr/lib/go/bin/go)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$root/third_party/h2spec/src" "$work/src"
cd "$work/src/github.com/summerwind/h2spec"
env GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$work/cache" GOFLAGS= GOPROXY=off \
  CGO_ENABLED=0 "$go" build -trimpath \
  -ldflags "-s -w -X main.VERSION=$version -X main.COMMIT=$commit" \
  -o "$work/h2spec" ./cmd/h2spec
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/h2spec" "$dest"
