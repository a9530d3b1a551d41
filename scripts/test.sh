#!/usr/bin/env bash
# The whole test suite: formatting, lints (with and without the io_uring backend), unit and
# integration tests on each I/O backend (tests start target/debug/hsys; no release build needed).
# Quiet: no `Compiling …` lines and one dot per passing test; warnings, lints and a failing
# test's name, output and panic still print in full (and a lint or a failure fails the script).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
# The library never prints (ARCHITECTURE.md): its diagnostics are `tracing` events.
if grep -rnE '\b(e?print(ln)?|dbg)!' src/; then
    echo "scripts/test.sh: the library prints (above); emit a tracing event instead" >&2
    exit 1
fi
cargo clippy --quiet --all-targets --locked -- -D warnings
# The build without the io_uring backend (epoll only) must stay clean too.
cargo clippy --quiet --all-targets --locked --no-default-features -- -D warnings
# The unstable `internals` feature (the codec made public for the benches and fuzz targets):
# the benches build only with it, so this is what keeps them linted.
cargo clippy --quiet --all-targets --locked --features internals -- -D warnings
# The suite on the default backend (io_uring where the kernel allows it), then again on epoll.
cargo test --quiet --locked --all-targets
# `--all-targets` leaves out the doctests (the crate doc's and the entry points' examples).
cargo test --quiet --locked --doc
HSYS_BACKEND=epoll cargo test --quiet --locked --tests
