#!/usr/bin/env bash
# Instructions per signing operation, under callgrind: steadier than the
# criterion timings on a shared machine. Each operation runs 0 and N times;
# the difference over N leaves out start-up and key set-up.
#
#   bash scripts/sign-instructions.sh [N]     (default N = 100)
set -euo pipefail
n="${1:-100}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build --release -p allora-benches --example sign_ops
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/sign_ops"

instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | awk '/Collected :/ {print $NF}'
}

declare -A per_op
for op in bare_k256 payload tx payload_and_tx worker_payload_and_tx checked_payload_and_tx; do
    base="$(instructions "$op" 0)"
    full="$(instructions "$op" "$n")"
    per_op[$op]=$(( (full - base) / n ))
    printf '%-24s %12d instructions per operation\n' "$op" "${per_op[$op]}"
done
# The target is for what the worker runs per window (its signer holding the
# local key, on its runtime); the synchronous API and the verified path
# (every signer outside the process) are shown beside it.
for op in payload_and_tx worker_payload_and_tx checked_payload_and_tx; do
    awk -v both="${per_op[$op]}" -v bare="${per_op[bare_k256]}" -v op="$op" \
        'BEGIN { printf "%s / (2 x bare_k256) = %.2f\n", op, both / (2 * bare) }'
done
echo "target: worker_payload_and_tx <= 1.10"
