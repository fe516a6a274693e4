#!/usr/bin/env bash
# Installs what the test suite needs besides the Rust toolchain, on a fresh
# Debian machine, as root or as a user:
#   - moto[server] (AWS emulator for the allora-aws tests and the boot-contract
#     test) and cfn-lint, in a virtual environment under target/test-deps;
#   - the npm packages of the CDK app (npm ci in examples/deploy/cdk);
#   - Debian's systemd package, for `systemd-analyze verify` of the units.
# Idempotent and quiet: a second run only checks stamps. Writes
# target/test-deps/env.sh, which exports MOTO_SERVER and puts cfn-lint on
# PATH; scripts/test.sh sources it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

MOTO_REQUIREMENT='moto[server]==5.2.5'
CFN_LINT_REQUIREMENT='cfn-lint==1.58.0'
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
requirements="$MOTO_REQUIREMENT $CFN_LINT_REQUIREMENT"
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
    "$venv/bin/python" -m pip install --quiet "$MOTO_REQUIREMENT" "$CFN_LINT_REQUIREMENT"
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
export PATH="$venv/bin:\$PATH"
ENV
