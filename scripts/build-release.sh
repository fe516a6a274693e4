#!/usr/bin/env bash
# Builds the release binaries the EC2 instance runs (allora-worker and
# allora-inference-server) for x86_64 or aarch64 (Graviton) Linux, and packs
# them as OUT_DIR/allora-rs-ARCH-linux.tar.gz with its SHA-256 beside it.
#
#   bash scripts/build-release.sh x86_64|aarch64 [OUT_DIR [--tarball-only]]
#
# OUT_DIR defaults to target/dist; --tarball-only leaves out the .sha256 file
# (CDK bundling wants exactly one file) and prints the digest instead.
#
# The CDK app runs it when it deploys a stack (the binaries ship as an S3
# asset). aarch64 is cross-compiled from an x86_64 host: it needs the Rust
# target (rustup target add aarch64-unknown-linux-gnu) and a cross linker
# (Debian/Ubuntu: apt-get install gcc-aarch64-linux-gnu); on an arm64 host it
# is a native build. The binaries link glibc dynamically; the build fails if
# they need a newer glibc than Amazon Linux 2023's (2.34).
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-}"
out="${2:-target/dist}"
only_tarball="${3:-}"
max_glibc="2.34"
case "$arch" in
x86_64 | aarch64) ;;
*)
    echo "usage: $0 x86_64|aarch64 [OUT_DIR [--tarball-only]]" >&2
    exit 2
    ;;
esac
target="$arch-unknown-linux-gnu"
log() { echo "build-release: $*" >&2; }

if [ "$arch" = aarch64 ] && [ "$(uname -m)" != aarch64 ]; then
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        log "the Rust target $target is missing: run 'rustup target add $target'"
        exit 1
    fi
    if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
        log "no aarch64 cross linker: install it (Debian/Ubuntu: apt-get install gcc-aarch64-linux-gnu)"
        exit 1
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
fi

log "building allora-worker and allora-inference-server for $target (release)"
cargo build --release --locked -p allora-worker --bins --target "$target" >&2
bin="target/$target/release"

# The newest glibc symbol version each binary needs must exist on the host OS.
for b in allora-worker allora-inference-server; do
    needed="$(readelf --version-info --wide "$bin/$b" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)"
    if [ "$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]; then
        log "$b needs glibc $needed, newer than Amazon Linux 2023's $max_glibc: build on an older distribution"
        exit 1
    fi
    log "$b: $(readelf -h "$bin/$b" | awk -F: '/Machine/ {gsub(/^ +/, "", $2); print $2}'), needs glibc $needed"
done

mkdir -p "$out"
tarball="$out/allora-rs-$arch-linux.tar.gz"
tar -czf "$tarball" -C "$bin" allora-worker allora-inference-server
digest="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$only_tarball" != --tarball-only ]; then
    echo "$digest  $(basename "$tarball")" >"$tarball.sha256"
fi
log "wrote $tarball (sha256 $digest)"
