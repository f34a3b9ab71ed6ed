#!/usr/bin/env bash
# API speed of `easel serve` (not generation): requests per second and latency
# percentiles of GET on one job, and of POST (submit), with wrk on loopback only.
#
#   scripts/api_bench.sh [--database URL] [--busy-workers N] [BINARY=.build-bin/release/easel] [DURATION=20s] [CONNECTIONS=32]
#
# Needs wrk (apt-get install wrk). By default the server runs with --workers 0 (API only)
# on SQLite in a fresh data directory, so no generation runs during the POST run, and a
# queue limit high enough never to answer 429. --database runs it on PostgreSQL (give it an
# empty database: queued jobs of earlier runs would count in every queued job's place).
# --busy-workers N runs N workers on the bundled model with 200 jobs queued first (64x64,
# 20 steps), so GET (of the last one queued) and POST are measured while generation keeps the CPU busy.
# Logs go to a file at the default level, as in production. Prints each store's durability.
set -euo pipefail
DATABASE=""
BUSY=0
while [[ $# -gt 0 && $1 == --* ]]; do
    case "$1" in
    --database) DATABASE=$2; shift 2 ;;
    --busy-workers) BUSY=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
BIN=$(realpath "${1:-.build-bin/release/easel}")
DURATION=${2:-20s}
CONNECTIONS=${3:-32}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }

DATA=$(mktemp -d /tmp/easel-bench-XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
STORE=(--data-dir "$DATA")
[[ -n $DATABASE ]] && STORE+=(--database "$DATABASE")
KEY=$("$BIN" keys create --workspace bench "${STORE[@]}" | grep -oE 'easel_[0-9a-f]{40}')

# The bundled model (installed by serve on start); with no workers nothing runs it.
MODEL=1185eeaf-da6a-56d7-859c-ef1fe41c4a9a
if [[ $BUSY -gt 0 ]]; then
    SERVE=(--workers "$BUSY")
    BODY='{"prompt":"a lighthouse at dusk","width":64,"height":64,"steps":20}'
else
    SERVE=(--workers 0)
    BODY='{"prompt":"a lighthouse at dusk","width":512,"height":512,"steps":20}'
fi

"$BIN" serve --port "$PORT" "${STORE[@]}" "${SERVE[@]}" --max-queued-per-workspace 100000000 \
    >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 300); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

if [[ -n $DATABASE ]]; then
    if command -v psql >/dev/null; then
        # psql refuses Easel's own pool_max_conns parameter: without it, the same database.
        PSQL_URL=$(sed -E 's/([?&])pool_max_conns=[^&]*&?/\1/; s/[?&]$//' <<<"$DATABASE")
        echo "store: PostgreSQL, $(psql "$PSQL_URL" -Atc "SELECT 'fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit')")"
    else
        echo "store: PostgreSQL (psql not found: durability settings not shown)"
    fi
else
    echo "store: SQLite, journal_mode=WAL synchronous=FULL (Easel's setting)"
fi

INFERENCES="$BASE/api/v1/images/models/$MODEL/inferences"
submit() {
    curl -sf -X POST "$INFERENCES" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$BODY" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
if [[ $BUSY -gt 0 ]]; then
    for _ in $(seq 199); do submit >/dev/null; done
    echo "busy: $BUSY workers, 200 jobs queued before the runs (the GET is of the last, queued one)"
fi
JOB=$(submit)

cat >"$DATA/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF

echo "load before: $(uptime)"
echo "== GET one job ($CONNECTIONS connections, $DURATION)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$INFERENCES/$JOB"
echo "== POST submit ($CONNECTIONS connections, $DURATION)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$DATA/post.lua" "$INFERENCES"
echo "load after: $(uptime)"
echo "health: $(curl -sf "$BASE/health")"
