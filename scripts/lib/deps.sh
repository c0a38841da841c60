# shellcheck shell=bash
# Installs the Debian packages PlantSync needs, only when something is missing. Idempotent; works as
# root or through sudo.

PLANTSYNC_DEBIAN_PACKAGES=(librdkafka-dev libpq-dev libmongoc-dev postgresql pkg-config prometheus-pushgateway prometheus)

plantsync_deps_missing() {
    local module
    command -v pkg-config >/dev/null 2>&1 || return 0
    for module in rdkafka libpq libmongoc-1.0; do
        pkg-config --exists "$module" || return 0
    done
    plantsync_pg_bindir >/dev/null 2>&1 || return 0
    command -v prometheus-pushgateway >/dev/null 2>&1 || return 0
    command -v promtool >/dev/null 2>&1 || return 0
    return 1
}

plantsync_pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || return 1
    echo "$dir"
}

plantsync_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "error: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

plantsync_ensure_deps() {
    if ! plantsync_deps_missing; then
        return 0
    fi
    echo "==> installing Debian packages: ${PLANTSYNC_DEBIAN_PACKAGES[*]}"
    plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${PLANTSYNC_DEBIAN_PACKAGES[@]}" >/dev/null
    if plantsync_deps_missing; then
        echo "error: packages installed but pkg-config/PostgreSQL still missing" >&2
        return 1
    fi
}
