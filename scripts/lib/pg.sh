# shellcheck shell=bash
# Starts and stops a throwaway PostgreSQL cluster in a temp directory, listening only on a unix socket
# there (no TCP port, so no clashes). initdb refuses root, so as root the cluster runs as the
# unprivileged system user `plantsync-pg`, created on first use.
#
# plantsync_pg_start [fast]   sets PLANTSYNC_PG_DIR and exports PLANTSYNC_PG_URI
# plantsync_pg_stop           stops the server and removes the directory (safe to call twice)
# With "fast", durability is off (fsync, synchronous_commit): for tests, never for benchmarks.

PLANTSYNC_PG_USER=plantsync-pg

plantsync_pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PLANTSYNC_PG_USER" -- "$@"
    else
        "$@"
    fi
}

plantsync_pg_start() {
    local mode=${1:-durable} bindir options
    bindir=$(plantsync_pg_bindir) || { echo "error: PostgreSQL server binaries not found" >&2; return 1; }
    if [ "$(id -u)" -eq 0 ] && ! id "$PLANTSYNC_PG_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$PLANTSYNC_PG_USER"
    fi
    PLANTSYNC_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/plantsync-pg.XXXXXX")
    chmod 755 "$PLANTSYNC_PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown "$PLANTSYNC_PG_USER" "$PLANTSYNC_PG_DIR"
    plantsync_pg_run "$bindir/initdb" -D "$PLANTSYNC_PG_DIR/data" -U plantsync --auth=trust \
        -E UTF8 --no-locale >"$PLANTSYNC_PG_DIR/initdb.log" 2>&1 \
        || { cat "$PLANTSYNC_PG_DIR/initdb.log" >&2; return 1; }
    # Swift Testing runs every test case at once, each with a producer, a consumer and helper sessions:
    # room for a few hundred connections (each costs the idle server well under 1 MB).
    options="-c listen_addresses='' -c unix_socket_directories=$PLANTSYNC_PG_DIR -c port=5432 -c max_connections=800"
    if [ "$mode" = fast ]; then
        options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    plantsync_pg_run "$bindir/pg_ctl" -D "$PLANTSYNC_PG_DIR/data" -o "$options" \
        -l "$PLANTSYNC_PG_DIR/server.log" -w -t 60 start >/dev/null \
        || { cat "$PLANTSYNC_PG_DIR/server.log" >&2; return 1; }
    export PLANTSYNC_PG_URI="postgresql:///postgres?host=$PLANTSYNC_PG_DIR&port=5432&user=plantsync"
    echo "==> PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') running at $PLANTSYNC_PG_DIR ($mode)"
}

plantsync_pg_stop() {
    [ -n "${PLANTSYNC_PG_DIR:-}" ] && [ -d "$PLANTSYNC_PG_DIR" ] || return 0
    local bindir
    bindir=$(plantsync_pg_bindir) || return 0
    if [ -f "$PLANTSYNC_PG_DIR/data/postmaster.pid" ]; then
        plantsync_pg_run "$bindir/pg_ctl" -D "$PLANTSYNC_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PLANTSYNC_PG_DIR"
    PLANTSYNC_PG_DIR=
}
