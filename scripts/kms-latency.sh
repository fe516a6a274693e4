#!/usr/bin/env bash
# Sign latency of the KMS signer against the moto emulator on loopback:
# starts moto on a free 127.0.0.1 port, points the AWS SDK at it (dummy
# credentials, no instance metadata), runs the kms_latency example with
# MessageType=RAW (moto's DIGEST signing is wrong), and stops moto.
#
#   bash scripts/kms-latency.sh                # release build, 50 samples
#   bash scripts/kms-latency.sh --samples 200  # more samples
#   bash scripts/kms-latency.sh --debug        # debug build (slower crypto)
#
# moto answers from a Python process on this machine, so the figures are a
# floor set by the SDK, HTTP and moto; real KMS adds the network round trip
# to the region and KMS's own signing time.
set -euo pipefail

samples=50
profile=(--release)
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples="$2"; shift 2 ;;
        --debug) profile=(); shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-test-deps.sh
# shellcheck source=/dev/null
source target/test-deps/env.sh

cargo build --locked "${profile[@]}" -p allora-aws --example kms_latency

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$MOTO_SERVER" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
        break
    fi
    sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
cargo run --locked "${profile[@]}" -q -p allora-aws --example kms_latency -- --raw --samples "$samples"
