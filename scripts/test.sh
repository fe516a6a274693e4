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
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
# Optional features: the provider mocks and the ONNX provider (tract), which
# the default build leaves out. The ONNX tests use the committed
# allora-infer/tests/fixtures/linear.onnx, so no Python is needed here.
cargo clippy -p allora-infer -p allora-worker --all-targets --features allora-infer/mock,allora-worker/onnx --locked -- -D warnings
cargo test -p allora-infer --all-features --locked
cargo test -p allora-worker --features onnx --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
RUSTDOCFLAGS="-D warnings" cargo doc -p allora-infer --all-features --no-deps --locked
