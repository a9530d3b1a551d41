#!/usr/bin/env bash
# Fuzzes the parsers of peer bytes: each cargo-fuzz target in fuzz/ (head, chunked, conn: the HTTP/1
# layer; client_hello: the TLS ClientHello peek; tls_glue: a TLS session fed hostile records;
# tls_h1: HTTP/1 over a real TLS session, its records in any split, answered as in the clear — slow,
# three handshakes a run; hpack_decode: HPACK header blocks in sequence on one decoder;
# hpack_roundtrip: field lists encoded then decoded, the peer's table size changing; h2_conn: an
# HTTP/2 connection fed any frames in any split; conditional: the response cache's If-None-Match
# lists and HTTP-dates; access_line: access-log lines from hostile request bytes) runs for SECONDS (default 30), starting
# from fuzz/seeds/TARGET and the local corpus in fuzz/corpus/TARGET. The HTTP/1 targets (tls_h1 and
# access_line too) use fuzz/http.dict.
# Exits non-zero if any target crashes (a panic, a failed assertion, a sanitizer report, or one
# input running longer than 10 s); the reproducer is left in fuzz/artifacts/TARGET/.
# libFuzzer's own output goes to fuzz/logs/TARGET.log (the build's to fuzz/logs/build.log); what is
# printed is one line per target (runs, coverage, corpus, time, verdict) and, on a crash, the log
# from the panic or sanitizer report on, and the reproducer's path.
#
# Usage: scripts/fuzz.sh [SECONDS]    FUZZ_TARGETS="conn" scripts/fuzz.sh 600
# Re-run a crash:  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/crash-…
# Minimise it:     cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin TARGET artifacts/TARGET/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
read -r -a targets <<<"${FUZZ_TARGETS:-head chunked conn client_hello tls_glue tls_h1 hpack_decode hpack_roundtrip h2_conn conditional access_line}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --quiet cargo-fuzz --locked || cargo install --quiet cargo-fuzz
fi

# cargo-fuzz needs nightly-only flags (`-Zsanitizer`); a stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, so no nightly has to be installed. Without a rustup `stable`, use the default.
toolchain=()
if cargo +stable --version >/dev/null 2>&1; then
  toolchain=(+stable)
fi
export RUSTC_BOOTSTRAP=1

root=$PWD
cd fuzz
mkdir -p logs
rm -f logs/*.log
if ! cargo "${toolchain[@]}" fuzz build >logs/build.log 2>&1; then
  tail -n 60 logs/build.log | sed 's/^/  | /' >&2
  echo "fuzz: the build failed (whole output: fuzz/logs/build.log)" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}, ${seconds} s each (libFuzzer output in fuzz/logs/TARGET.log)"

# The value of `stat::NAME:` in libFuzzer's final stats, or `?`.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1 | grep . || echo '?'; }
# The value after `NAME:` in libFuzzer's first (`#N INITED cov: …`) or last (`#N DONE …`)
# status line, or `?`.
status() {
  local line
  if [[ $1 == first ]]; then line=$(grep -m1 -E '^#[0-9]+' "$3" || true); else line=$(grep -E '^#[0-9]+' "$3" | tail -n 1 || true); fi
  grep -oE "$2: [^ ]+" <<<"$line" | cut -d' ' -f2 | grep . || echo '?'
}

failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log=logs/$target.log
  start=$SECONDS
  verdict=ok
  # HTTP tokens help the HTTP/1 targets only; a ClientHello may be one full record (16 KiB).
  dict=()
  max_len=8192
  case $target in
    head | chunked | conn | tls_h1 | access_line) dict=(-dict="$root/fuzz/http.dict") ;;
    client_hello) max_len=17000 ;;
  esac
  cargo "${toolchain[@]}" fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 "${dict[@]}" -print_final_stats=1 \
    >"$log" 2>&1 || verdict=FAILED
  # The input that crashed (or timed out), if libFuzzer wrote one.
  unit=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | cut -d' ' -f5 || true)
  unit=${unit#"$root/"}
  [[ $verdict == ok || -z $unit ]] || verdict=CRASH
  printf 'fuzz: %-12s %-6s %9s runs (%s/s), cov %s, ft %s, corpus %s -> %s, %d s\n' "$target" "$verdict" \
    "$(final_stat number_of_executed_units "$log")" "$(final_stat average_exec_per_sec "$log")" \
    "$(status last cov "$log")" "$(status last ft "$log")" \
    "$(status first corp "$log" | cut -d/ -f1)" "$(status last corp "$log" | cut -d/ -f1)" $((SECONDS - start))
  if [[ $verdict != ok ]]; then
    failed+=("$target")
    # 30 lines from the first sign of the crash (a panic and the top of its backtrace, or a
    # sanitizer or libFuzzer report) and libFuzzer's SUMMARY line; else the log's tail.
    first=$(grep -n -m1 -E "panicked at|==[0-9]+== ?ERROR|ERROR: libFuzzer|ALARM: working on|out-of-memory" "$log" | cut -d: -f1 || true)
    if [[ -n $first ]]; then
      sed -n "$first,$((first + 29))p" "$log"
      echo "…"
      grep -m1 '^SUMMARY:' "$log" || true
    else
      tail -n 30 "$log"
    fi | sed 's/^/  | /' >&2
    echo "fuzz: $target: whole output in fuzz/$log; reproducer: ${unit:-none written}" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/; re-run one: see scripts/fuzz.sh's header)" >&2
  exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
