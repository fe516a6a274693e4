#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit/integration/doc tests and docs.
# Installs whatever the tests need first, so it works on a fresh Debian machine
# with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
# MOTO_SERVER for the allora-aws tests, ALLORA_TEST_PYTHON (with the official
# Python SDK) for allora-devnet's python_worker test, cfn-lint on PATH.
# shellcheck source=/dev/null
source target/test-deps/env.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# No test may reach a real AWS endpoint.
export AWS_EC2_METADATA_DISABLED=true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every crate's tests (the devnet's included), doc-tests and docs.
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# Optional features: the provider mocks and the ONNX provider (tract), which
# the default build leaves out. The ONNX tests use the committed
# allora-infer/tests/fixtures/linear.onnx, so no Python is needed here.
cargo clippy -p allora-infer -p allora-worker --all-targets --features allora-infer/mock,allora-worker/onnx --locked -- -D warnings
cargo test -p allora-infer --all-features --locked
cargo test -p allora-worker --features onnx --locked
RUSTDOCFLAGS="-D warnings" cargo doc -p allora-infer --all-features --no-deps --locked

# The deployment app: cdk synth runs the cdk-nag AwsSolutions checks (a finding
# that is not acknowledged fails it) and cfn-lint checks the template. Synth
# only renders the template, so the release URL and digest are never fetched.
export CDK_DISABLE_CLI_TELEMETRY=true
(
    cd examples/deploy/cdk
    npx --no-install cdk synth --quiet --no-notices \
        -c releaseUrl=https://github.com/allora-rs/allora-rs/releases/download/v0.1.0/allora-rs-x86_64-linux.tar.gz \
        -c releaseSha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
        >/dev/null
)
cfn-lint --non-zero-exit-code error examples/deploy/cdk/cdk.out/*.template.json

# Fuzz every parser of outside input briefly (scripts/fuzz.sh for longer runs).
FUZZ_SCRATCH=1 bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
