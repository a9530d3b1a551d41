#!/usr/bin/env bash
# Fuzzes the HTTP/1 parser layer: each cargo-fuzz target in fuzz/ (head, chunked, conn) runs for
# SECONDS (default 30), starting from fuzz/seeds/TARGET and the local corpus in fuzz/corpus/TARGET.
# Exits non-zero if any target crashes (a panic, a failed assertion, a sanitizer report, or one
# input running longer than 10 s); the reproducer is left in fuzz/artifacts/TARGET/.
#
# Usage: scripts/fuzz.sh [SECONDS]    FUZZ_TARGETS="conn" scripts/fuzz.sh 600
# Re-run a crash:  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/crash-…
# Minimise it:     cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin TARGET artifacts/TARGET/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
read -r -a targets <<<"${FUZZ_TARGETS:-head chunked conn}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
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
cargo "${toolchain[@]}" fuzz build
failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! cargo "${toolchain[@]}" fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -dict="$root/fuzz/http.dict" -print_final_stats=1; then
    failed+=("$target")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
