#!/usr/bin/env bash
# API speed of `easel serve` (not generation): requests per second and latency
# percentiles of GET on one job, and of POST (submit), with wrk on loopback only.
#
#   scripts/api_bench.sh [BINARY=.build-bin/release/easel] [DURATION=20s] [CONNECTIONS=32]
#
# Needs wrk (apt-get install wrk). The server runs with --workers 0 (API only), so no
# generation runs during the POST run, and a queue limit high enough never to answer 429.
# Logs go to a file at the default level, as in production.
set -euo pipefail
BIN=$(realpath "${1:-.build-bin/release/easel}")
DURATION=${2:-20s}
CONNECTIONS=${3:-32}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }

DATA=$(mktemp -d /tmp/easel-bench-XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
KEY=$("$BIN" keys create --workspace bench --data-dir "$DATA" | grep -oE 'easel_[0-9a-f]{40}')
mkdir -p "$DATA/model-src"
echo '{"_class_name": "StableDiffusionPipeline"}' >"$DATA/model-src/model_index.json"
MODEL=$("$BIN" models add "$DATA/model-src" --name bench --data-dir "$DATA" | sed -n 's/^model id: //p')

"$BIN" serve --port "$PORT" --data-dir "$DATA" --workers 0 --max-queued-per-workspace 100000000 \
    >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

INFERENCES="$BASE/api/v1/images/models/$MODEL/inferences"
BODY='{"prompt":"a lighthouse at dusk","width":512,"height":512,"steps":20}'
JOB=$(curl -sf -X POST "$INFERENCES" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "$BODY" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

cat >"$DATA/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF

echo "== GET one job ($CONNECTIONS connections, $DURATION)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$INFERENCES/$JOB"
echo "== POST submit ($CONNECTIONS connections, $DURATION)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$DATA/post.lua" "$INFERENCES"
echo "jobs stored: $(curl -sf "$BASE/health")"
