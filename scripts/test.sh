#!/usr/bin/env bash
# The whole test suite: formatting, lints (with and without the io_uring backend), unit and
# integration tests on each I/O backend (tests start target/debug/hsys; no release build needed).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The build without the io_uring backend (epoll only) must stay clean too.
cargo clippy --all-targets --locked --no-default-features -- -D warnings
# The unstable `internals` feature (the codec made public for the benches and fuzz targets):
# the benches build only with it, so this is what keeps them linted.
cargo clippy --all-targets --locked --features internals -- -D warnings
# The suite on the default backend (io_uring where the kernel allows it), then again on epoll.
cargo test --locked --all-targets
# `--all-targets` leaves out the doctests (the crate doc's and the entry points' examples).
cargo test --locked --doc
HSYS_BACKEND=epoll cargo test --locked --tests
