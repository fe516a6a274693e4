#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit/integration/doc tests and docs.
# Installs whatever the tests need first, so it works on a fresh Debian machine
# with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# No test may reach a real AWS endpoint.
export AWS_EC2_METADATA_DISABLED=true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The devnet (feature `devnet`) and its tests, binary and docs.
cargo clippy --workspace --all-targets --features allora-sdk/devnet --locked -- -D warnings
cargo test --workspace --all-targets --features allora-sdk/devnet --locked
cargo test --workspace --doc --features allora-sdk/devnet --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features allora-sdk/devnet --locked
# Fuzz every parser of outside input briefly (scripts/fuzz.sh for longer runs).
FUZZ_SCRATCH=1 bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
