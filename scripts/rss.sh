#!/usr/bin/env bash
# Peak resident memory (VmHWM) of the example worker, `allora-worker run`,
# idle and serving 100 topics, each for a fixed time.
#
# The chain is the `allora-devnet` binary and the model is the side server
# `allora-inference-server`, each its own process, so only the worker's
# memory is counted (the worker's embedded-devnet mode would count the
# devnet too).
#
#   bash scripts/rss.sh                # release build, then 60 s per case
#   bash scripts/rss.sh --seconds 10   # quicker, less steady figures
#   bash scripts/rss.sh --no-build     # reuse target/release binaries
#
# Cases:
#   idle      one topic whose epoch is longer than the run: the worker is
#             connected and follows every block, but no window opens.
#   N topics  N topics (default 100) with 5-block epochs and windows on
#             1-second blocks: N submissions every 5 s, batched.
#
# Figures are read from /proc/PID/status: VmHWM (the kernel's own peak, so
# nothing between samples is missed) at the end of each case; VmRSS is
# sampled every second only to show the trend.
set -euo pipefail

seconds=60
topics=100
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --topics) topics="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release"

if [ "$build" = 1 ]; then
    cargo build --release -p allora-worker --bins
    cargo build --release -p allora-devnet --bin allora-devnet
fi
for b in allora-worker allora-inference-server allora-devnet; do
    [ -x "$bin/$b" ] || { echo "missing $bin/$b (run without --no-build)" >&2; exit 1; }
done
if ! "$bin/allora-worker" run --help >/dev/null 2>&1; then
    echo "$bin/allora-worker has no 'run' command: build a checkout with the worker CLI" >&2
    exit 1
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Ports from a range unlikely to collide with other runs on the machine.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

"$bin/allora-worker" keys new --words 12 --key-file "$work/worker.key" >/dev/null
address="$("$bin/allora-worker" keys show --key-file "$work/worker.key" | grep -o 'allo1[0-9a-z]*' | head -n 1)"
[ -n "$address" ] || { echo "could not read the worker address" >&2; exit 1; }

inference_port="$(free_port)"
"$bin/allora-inference-server" --port "$inference_port" >"$work/inference.log" 2>&1 &
pids+=($!)

# Starts a devnet with the given topic flags; sets grpc and ws.
start_devnet() {
    local log="$work/devnet-$1.log"
    shift
    "$bin/allora-devnet" --grpc-port 0 --ws-port 0 --block-interval 1 \
        --fund "$address:1000000000000000" "$@" >"$log" 2>&1 &
    devnet_pid=$!
    pids+=("$devnet_pid")
    for _ in $(seq 1 100); do
        grep -q '^websocket:' "$log" && break
        sleep 0.1
    done
    grpc="$(awk '/^gRPC:/ {print $2}' "$log")"
    ws="$(awk '/^websocket:/ {print $2}' "$log")"
    [ -n "$grpc" ] && [ -n "$ws" ] || { echo "devnet did not start:" >&2; cat "$log" >&2; exit 1; }
}

# Runs the worker for $seconds against the devnet; prints peak RSS.
measure() {
    local name="$1" n="$2"
    local config="$work/$name.toml" data="$work/data-$name"
    mkdir -p "$data"
    {
        echo "grpc_endpoints = [\"$grpc\"]"
        echo "websocket_url = \"$ws\""
        echo "data_dir = \"$data\""
        echo "key_file = \"$work/worker.key\""
        echo "gas_price = \"feemarket\""
        echo "metrics_addr = \"127.0.0.1:$(free_port)\""
        for t in $(seq 1 "$n"); do
            echo "[[topics]]"
            echo "id = $t"
            echo "token = \"ETH\""
            echo "inference_url = \"http://127.0.0.1:$inference_port/inference/{Token}\""
        done
    } >"$config"
    "$bin/allora-worker" --config "$config" run >"$work/worker-$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    local trend=""
    for s in $(seq 1 "$seconds"); do
        sleep 1
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "worker exited early; its log:" >&2
            tail -n 30 "$work/worker-$name.log" >&2
            exit 1
        fi
        if [ $((s % 10)) = 0 ] || [ "$s" = "$seconds" ]; then
            trend="$trend ${s}s:$(awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$pid/status")"
        fi
    done
    local hwm
    hwm="$(awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$pid/status")"
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    # The submission record shows the worker did the work being measured.
    local confirmed=0 abandoned=0
    if [ -f "$data/submissions.jsonl" ]; then
        confirmed="$(grep -c '"state":"confirmed"' "$data/submissions.jsonl" || true)"
        abandoned="$(grep -c '"state":"abandoned"' "$data/submissions.jsonl" || true)"
    fi
    printf '%-10s peak RSS (VmHWM) %7s MiB over %ss; RSS MiB at%s; windows confirmed %s, abandoned %s\n' \
        "$name" "$hwm" "$seconds" "$trend" "$confirmed" "$abandoned"
}

start_devnet idle --topic 1:100000:1 --worker "1:$address"
measure idle 1
kill "$devnet_pid"

topic_flags=()
for t in $(seq 1 "$topics"); do
    topic_flags+=(--topic "$t:5:5" --worker "$t:$address")
done
start_devnet "topics$topics" "${topic_flags[@]}"
measure "topics$topics" "$topics"
