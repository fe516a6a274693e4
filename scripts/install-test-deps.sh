#!/usr/bin/env bash
# Installs what the test suite needs besides the Rust toolchain, on a fresh
# Debian machine, as root or as a user:
#   - moto[server] (AWS emulator for the allora-aws tests and the boot-contract
#     test), cfn-lint and the official Allora Python SDK (allora-sdk 1.3.0,
#     whose stock worker the allora-devnet python_worker test runs against the
#     devnet), in a virtual environment under target/test-deps;
#   - the npm packages of the CDK app (npm ci in examples/deploy/cdk);
#   - Debian's systemd package, for `systemd-analyze verify` of the units.
# Idempotent and quiet: a second run only checks stamps. Writes
# target/test-deps/env.sh, which exports MOTO_SERVER and ALLORA_TEST_PYTHON
# (the venv's interpreter) and puts cfn-lint on PATH; scripts/test.sh
# sources it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

PY_REQUIREMENTS=(
    'moto[server]==5.2.5'
    'cfn-lint==1.58.0'
    # The official SDK, with the versions of its wire-level dependencies
    # (protobuf codecs, gRPC client, signing) it was studied with.
    'allora-sdk==1.3.0'
    'cosmpy==0.12.2'
    'betterproto2==0.7.1'
    'grpclib==0.4.9'
    'protobuf==5.29.6'
    'ecdsa==0.19.2'
)
deps="$root/target/test-deps"
venv="$deps/venv"
cdk_dir="$root/examples/deploy/cdk"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

log() { echo "install-test-deps: $*" >&2; }

# Debian splits venv and npm out of python3 and nodejs; only root can add them.
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        log "missing $*; install it (sudo apt-get install $*) and run again"
        exit 1
    fi
    log "installing $* with apt-get"
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3 python3-venv
command -v npm >/dev/null || apt_install nodejs npm
command -v systemd-analyze >/dev/null || apt_install systemd

mkdir -p "$deps"
requirements="${PY_REQUIREMENTS[*]}"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$requirements" ]; then
    if ! [ -x "$venv/bin/python" ]; then
        rm -rf "$venv"
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            apt_install python3-venv
            python3 -m venv "$venv"
        fi
    fi
    log "installing $requirements"
    "$venv/bin/python" -m pip install --quiet "${PY_REQUIREMENTS[@]}"
    echo "$requirements" >"$venv/.installed"
fi

# npm ci wipes node_modules, so only rerun it when the lock file changed.
lock_sum="$(sha256sum "$cdk_dir/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$cdk_dir/node_modules/.allora-lock-sum" 2>/dev/null)" != "$lock_sum" ]; then
    log "installing the CDK app's npm packages"
    (cd "$cdk_dir" && npm ci --silent --no-progress >/dev/null)
    echo "$lock_sum" >"$cdk_dir/node_modules/.allora-lock-sum"
fi

cat >"$deps/env.sh" <<ENV
export MOTO_SERVER="$venv/bin/moto_server"
export ALLORA_TEST_PYTHON="$venv/bin/python"
export PATH="$venv/bin:\$PATH"
ENV
