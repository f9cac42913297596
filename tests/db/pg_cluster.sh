#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster. The script runs initdb into a temp
# folder, starts the server on a free port on 127.0.0.1 and creates the database
# "eventcrawl_test". It exports EVENTCRAWL_TEST_PG_DSN and runs the command. Afterwards it stops
# the server and deletes the folder, also when the command fails or the script is interrupted.
#
# Usage: pg_cluster.sh COMMAND [ARGS...]
# Needs root, because initdb and pg_ctl reject root and run here as the postgres user.
set -euo pipefail

pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "pg_cluster.sh: run as root; it starts the cluster as the postgres user via runuser" >&2
    exit 2
fi
if [[ ! -x "$pg_bin/initdb" ]]; then
    echo "pg_cluster.sh: $pg_bin/initdb not found; install postgresql-15 or set PG_BIN" >&2
    exit 2
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/eventcrawl-pg-XXXXXX")
started=0

cleanup() {
    if [[ $started -eq 1 ]]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$root/data" -m immediate -w -t 30 stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The socket folder must be writable by postgres, so the whole cluster lives in a folder it owns.
chown postgres:postgres "$root"

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

runuser -u postgres -- "$pg_bin/initdb" -D "$root/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$root/initdb.log" 2>&1 || {
    cat "$root/initdb.log" >&2
    exit 1
}

# Another process can take the chosen port between free_port and the server start, so retry.
port=
server_options=
for attempt in 1 2 3; do
    port=$(free_port)
    server_options="-k $root -p $port -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if runuser -u postgres -- "$pg_bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 30 \
        -o "$server_options" start >/dev/null; then
        started=1
        break
    fi
    echo "pg_cluster.sh: server start on port $port failed (attempt $attempt)" >&2
done
if [[ $started -ne 1 ]]; then
    cat "$root/server.log" >&2
    exit 1
fi

"$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qc \
    'CREATE DATABASE eventcrawl_test' >/dev/null

export EVENTCRAWL_TEST_PG_DSN="postgresql://postgres@127.0.0.1:$port/eventcrawl_test"
export EVENTCRAWL_TEST_PG_PORT="$port"
# For tests that stop, start or restart the server: run pg_ctl from PG_BIN as the postgres user
# with -D "$EVENTCRAWL_TEST_PG_DATA" -l "$EVENTCRAWL_TEST_PG_LOG", and for a start also with
# -o "$EVENTCRAWL_TEST_PG_SERVER_OPTIONS" (port, socket folder and settings of the first start).
export EVENTCRAWL_TEST_PG_BIN="$pg_bin"
export EVENTCRAWL_TEST_PG_DATA="$root/data"
export EVENTCRAWL_TEST_PG_LOG="$root/server.log"
export EVENTCRAWL_TEST_PG_SERVER_OPTIONS="$server_options"
set +e
"$@"
status=$?
set -e
exit $status
