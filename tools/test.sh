#!/usr/bin/env bash
# The one command that sets up a fresh machine and runs every test suite (README: "Run the tests").
# CI calls it from .ci/run. Each step is bounded in time; it stops every process it starts.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

# Rust toolchain components used below (present on the project's machine image; rustup adds them
# offline-free if missing).
if ! cargo fmt --version >/dev/null 2>&1; then rustup component add rustfmt; fi
if ! cargo clippy --version >/dev/null 2>&1; then rustup component add clippy; fi

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs (broken intra-doc links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "unit, property, fixture and integration tests (includes the fuzz corpus replay)"
timeout 1500 cargo test --workspace --locked

step "real-client compatibility suite (ali-ons, C++ 1.x and 2.1.0, rocketmq-client-rust; tools/real-clients/README.md)"
timeout 900 bash tools/real-clients/run.sh
