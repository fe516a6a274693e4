#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit/integration/doc tests and docs.
# Installs whatever the tests need first, so it works on a fresh Debian machine
# with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
# MOTO_SERVER for the AWS tests (allora-aws, the boot-contract test),
# ALLORA_TEST_PYTHON (with the official Python SDK) for allora-devnet's
# python_worker test, cfn-lint on PATH.
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
# The onnx-enabled side server binary (its serving path is tested in allora-infer).
cargo test -p allora-worker --features onnx --lib --bins --locked
RUSTDOCFLAGS="-D warnings" cargo doc -p allora-infer --all-features --no-deps --locked

# The deployment app: its tests (node --test), then a synthesis of the example
# configuration as `cdk synth` does it but without building the binaries (that
# happens on deploy): the cdk-nag AwsSolutions checks run in the app (a finding
# that is not acknowledged fails it), and cfn-lint checks the template. The
# boot-contract test (examples/tests/boot_contract.rs, run by cargo test above)
# synthesizes it too and runs what the instance runs.
export CDK_DISABLE_CLI_TELEMETRY=true
(
    cd examples/deploy/cdk
    node node_modules/typescript/bin/tsc
    node --test dist/test/stack.test.js dist/test/worker-address.test.js
    rm -rf ../../../target/cdk.out ../../../target/cdk-kms.out
    node dist/test/synth.js ../../../target/cdk.out config=deploy.example.json
    # The same with the key in a KMS key the stack creates (and the custom
    # resource that outputs its address).
    node dist/test/synth.js ../../../target/cdk-kms.out config=deploy.example.json keySource=kms
)
cfn-lint --non-zero-exit-code error target/cdk.out/*.template.json target/cdk-kms.out/*.template.json

# Fuzz every parser of outside input briefly (scripts/fuzz.sh for longer runs).
FUZZ_SCRATCH=1 bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
