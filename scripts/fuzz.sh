#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 20 s each) on its
# committed corpus under fuzz/corpus/<target>/. New interesting inputs land in
# that corpus (commit the useful ones); crashes land in fuzz/artifacts/ and
# fail the script.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# With FUZZ_SCRATCH=1 (as scripts/test.sh sets) new inputs go to a temporary
# directory and the committed corpus is only read, so a test run leaves the
# tree clean.
#
# cargo-fuzz needs nightly-only rustc flags; on a stable toolchain they are
# unlocked with RUSTC_BOOTSTRAP=1 (for this script only). Targets are built
# without a sanitizer (-s none): the code under test is safe Rust, and what we
# look for are panics (debug assertions on, so overflows panic too).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-20}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd fuzz
FLAGS=(-s none --debug-assertions)
cargo fuzz build "${FLAGS[@]}"
SCRATCH=""
if [[ "${FUZZ_SCRATCH:-0}" == 1 ]]; then
    SCRATCH="$(mktemp -d)"
    trap 'rm -rf "$SCRATCH"' EXIT
fi
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    dirs=("corpus/$target")
    if [[ -n "$SCRATCH" ]]; then
        mkdir -p "$SCRATCH/$target"
        dirs=("$SCRATCH/$target" "corpus/$target")
    fi
    echo "fuzzing $target for ${SECONDS_PER_TARGET}s"
    cargo fuzz run "${FLAGS[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 -print_final_stats=1
done
