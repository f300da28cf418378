#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, from Debian's packages.
#
#   scripts/postgres.sh start   install PostgreSQL if missing (apt-get), start a cluster in
#                               a temporary directory on 127.0.0.1:$OIR_PG_PORT (55432),
#                               create the database oir_test and print its SQLAlchemy URL
#   scripts/postgres.sh stop    stop that cluster and delete its directory
#
# The cluster runs as the postgres user when started by root (as the caller otherwise),
# trusts local connections, listens on loopback only, and trades durability for speed
# (fsync off): it holds test data and nothing else. Progress goes to stderr, so
#   export OIR_TEST_PG_URL=$(scripts/postgres.sh start)
# works.
set -euo pipefail

PORT="${OIR_PG_PORT:-55432}"
STATE="${TMPDIR:-/tmp}/oir-postgres-${PORT}.dir"
DB="oir_test"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/${DB}"

say() { echo "postgres.sh: $*" >&2; }

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

install_postgres() {
    say "PostgreSQL not found: installing Debian's postgresql package"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

# Run a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin dir
    bin=$(pg_bin)
    if [ -z "$bin" ]; then
        install_postgres
        bin=$(pg_bin)
        [ -n "$bin" ] || { say "installing PostgreSQL did not give an initdb"; exit 1; }
    fi
    if [ -f "$STATE" ] && as_owner "$bin/pg_ctl" -D "$(cat "$STATE")/data" status >/dev/null 2>&1; then
        say "reusing the cluster in $(cat "$STATE")"
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/oir-postgres.XXXXXX")
        chmod 755 "$dir"
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
        say "initdb in $dir"
        as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -k $dir -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2 \
            || { say "the server did not start:"; cat "$dir/server.log" >&2; exit 1; }
        echo "$dir" > "$STATE"
    fi
    if ! "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE $DB" >&2
    fi
    echo "$URL"
}

stop() {
    local bin dir
    [ -f "$STATE" ] || { say "no cluster started on port $PORT"; return 0; }
    dir=$(cat "$STATE")
    bin=$(pg_bin)
    if [ -n "$bin" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir" "$STATE"
    say "stopped and removed $dir"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
