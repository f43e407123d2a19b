#!/usr/bin/env bash
# `make demo`: the infrastructure is up (make infra); start the services, back-fill a month
# of the demo province through the public APIs, check the simulator's own figures against
# the metrics API for every unit, keep a live trickle going, and print the dashboard URL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LOG=.local/demo/simulator.jsonl
live_pid=""
stop_all() {
  trap - INT TERM EXIT
  [[ -n "$live_pid" ]] && kill "$live_pid" 2>/dev/null || true
  echo; deploy/local/services.sh stop || true; deploy/local/standin.sh stop || true; deploy/local/stack.sh stop || true
}
trap stop_all INT TERM EXIT
deploy/local/standin.sh start  # the national portal's local stand-in
deploy/local/services.sh start
if [[ -s "$LOG" ]]; then
  echo "[demo] a month was back-filled before ($LOG); delete .local/demo to start over"
else
  echo "[demo] back-filling 30 days of the demo province through the public APIs"
  .venv/bin/python -m deploy.demo.simulator backfill --days 30 --log "$LOG"
fi
echo "[demo] the simulator's figures against the metrics API, unit by unit:"
.venv/bin/python -m deploy.demo.simulator verify --log "$LOG" || echo "[demo] see the differences above"
.venv/bin/python -m deploy.demo.simulator live --rate 0.3 --log "$LOG" > .local/demo/live.log 2>&1 &
live_pid=$!
echo
echo "Một cửa demo is running, with a live trickle of new dossiers:"
echo "  dashboard   http://127.0.0.1:8005/"
deploy/local/services.sh urls
echo "Ctrl-C stops everything."
# (No `status | grep -q`: under pipefail, grep's early exit fails the pipeline.)
while kill -0 "$live_pid" 2>/dev/null && [[ "$(deploy/local/services.sh status)" == *running* ]]; do
  sleep 2
done
