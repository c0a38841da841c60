# shellcheck shell=bash
# Starts and stops PlantSync's MongoDB wire-protocol TEST DOUBLE (scripts/mongo-double: a Python server
# on PyPI's mongomock; it is not MongoDB) on a free loopback port.
#
# plantsync_mongo_start   exports PLANTSYNC_MONGO_URI; if it is already set (a real server), starts
#                         nothing and the tests run against that server instead
# plantsync_mongo_stop    stops the double (safe to call twice, and when nothing was started)
#
# The Python packages go into a virtualenv under the user's cache directory, installed only when
# missing (pip, with the versions pinned below), as root or not.

PLANTSYNC_MONGO_PY_PACKAGES=("mongomock==4.3.0" "pymongo>=4.6,<5")
PLANTSYNC_MONGO_VENV=${PLANTSYNC_MONGO_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/plantsync/mongo-double-venv}

plantsync_mongo_deps() {
    local venv=$PLANTSYNC_MONGO_VENV
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import mongomock, bson' >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "==> installing Debian packages: python3 python3-venv"
        plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        plantsync_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv >/dev/null
    fi
    echo "==> installing the MongoDB test double's Python packages into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" || return 1
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${PLANTSYNC_MONGO_PY_PACKAGES[@]}" || return 1
}

plantsync_mongo_start() {
    if [ -n "${PLANTSYNC_MONGO_URI:-}" ]; then
        echo "==> MongoDB: using PLANTSYNC_MONGO_URI from the environment (no test double started)"
        return 0
    fi
    plantsync_mongo_deps || { echo "error: could not install the MongoDB test double's packages" >&2; return 1; }
    PLANTSYNC_MONGO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/plantsync-mongo.XXXXXX")
    local root port
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../mongo-double" && pwd)
    "$PLANTSYNC_MONGO_VENV/bin/python" -B "$root/plantsync_mongo_double.py" --host 127.0.0.1 --port 0 \
        --port-file "$PLANTSYNC_MONGO_DIR/port" >"$PLANTSYNC_MONGO_DIR/double.log" 2>&1 &
    PLANTSYNC_MONGO_PID=$!
    for _ in $(seq 1 300); do
        [ -s "$PLANTSYNC_MONGO_DIR/port" ] && break
        if ! kill -0 "$PLANTSYNC_MONGO_PID" 2>/dev/null; then
            cat "$PLANTSYNC_MONGO_DIR/double.log" >&2
            echo "error: the MongoDB test double exited at start" >&2
            return 1
        fi
        sleep 0.1
    done
    port=$(cat "$PLANTSYNC_MONGO_DIR/port" 2>/dev/null) || { echo "error: the MongoDB test double did not start" >&2; return 1; }
    export PLANTSYNC_MONGO_URI="mongodb://127.0.0.1:$port/?directConnection=true&serverSelectionTimeoutMS=5000"
    # Tests bound how many of them use the double at once (TestSupport's MongoDoubleSlots).
    export PLANTSYNC_MONGO_DOUBLE=1
    echo "==> MongoDB TEST DOUBLE (mongomock, not a real server) listening on 127.0.0.1:$port"
}

plantsync_mongo_stop() {
    if [ -n "${PLANTSYNC_MONGO_PID:-}" ]; then
        kill "$PLANTSYNC_MONGO_PID" 2>/dev/null || true
        wait "$PLANTSYNC_MONGO_PID" 2>/dev/null || true
        PLANTSYNC_MONGO_PID=
    fi
    if [ -n "${PLANTSYNC_MONGO_DIR:-}" ] && [ -d "$PLANTSYNC_MONGO_DIR" ]; then
        rm -rf "$PLANTSYNC_MONGO_DIR"
    fi
    PLANTSYNC_MONGO_DIR=
}
