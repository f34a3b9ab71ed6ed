#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on loopback only.
#
#   scripts/test_postgres.sh start DIR   # prints the URL (postgres://easel:easel@127.0.0.1:PORT/easel)
#   scripts/test_postgres.sh stop DIR
#
# Uses Debian's postgresql (initdb, pg_ctl from /usr/lib/postgresql/<version>/bin). The
# server refuses to run as root, so when run as root the cluster belongs to the `postgres`
# system user (created by the package) or, failing that, `nobody`. It listens on 127.0.0.1
# and a unix socket inside DIR, never on another address. fsync is off (a throwaway cluster
# for tests); EASEL_TEST_PG_FSYNC=on keeps it on, for benchmarks of durable commits.
set -euo pipefail

action=${1:?start or stop}
dir=${2:?cluster folder}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        local owner=postgres
        id -u postgres >/dev/null 2>&1 || owner=nobody
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

case "$action" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        owner=postgres; id -u postgres >/dev/null 2>&1 || owner=nobody
        chown "$owner" "$dir"
    fi
    chmod 700 "$dir"
    # A free loopback port, chosen by the kernel.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'easel\n' > "$dir.pw"
    chmod 644 "$dir.pw"
    as_owner "$bin/initdb" -D "$dir/data" -U easel --pwfile="$dir.pw" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir.pw"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${EASEL_TEST_PG_FSYNC:-off} -c max_connections=200" start \
        >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    PGPASSWORD=easel "$bin/psql" -h 127.0.0.1 -p "$port" -U easel -d postgres -qc "CREATE DATABASE easel" >/dev/null
    echo "postgres://easel:easel@127.0.0.1:$port/easel"
    ;;
stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
