# shellcheck shell=bash
# A Python venv for the project's Python-based checks (k8s/tests), under
# ${XDG_CACHE_HOME:-$HOME/.cache}/plantsync/venv. Idempotent: created once, and pip runs again only
# when the requirements file changes. Works as root or not; installs Debian's python3-venv (as root
# or through sudo) only if python3 cannot create a venv.
#
# plantsync_python_venv REQUIREMENTS...   sets PLANTSYNC_VENV (the venv's directory)

# shellcheck source=scripts/lib/deps.sh
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

plantsync_python_venv() {
    local venv=${XDG_CACHE_HOME:-${HOME:?}/.cache}/plantsync/venv stamp want have
    command -v python3 >/dev/null 2>&1 || {
        echo "==> installing Debian packages: python3 python3-venv"
        plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv >/dev/null
    }
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        rm -rf "$venv"
        mkdir -p "$(dirname "$venv")"
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            echo "==> installing Debian package: python3-venv"
            plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
            plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
    fi
    stamp="$venv/.plantsync-requirements"
    want=$(cat "$@" | sha256sum | cut -d' ' -f1)
    have=$(cat "$stamp" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        echo "==> installing Python packages into $venv: $*"
        local args=() file
        for file in "$@"; do args+=(-r "$file"); done
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
        echo "$want" >"$stamp"
    fi
    export PLANTSYNC_VENV=$venv
}
