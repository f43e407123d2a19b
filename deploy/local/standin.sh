#!/usr/bin/env bash
# The national portal's local STAND-IN (tests/support/national_portal.py) for make run and
# make demo: the real Cổng Dịch vụ công quốc gia cannot be reached from here.
#   deploy/local/standin.sh start|stop
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="${MOTCUA_RUN_DIR:-$ROOT/.local/run}"
PY="${MOTCUA_PYTHON:-$ROOT/.venv/bin/python}"
PORT="${MOTCUA_STANDIN_PORT:-8090}"
PID="$RUN/national-portal-standin.pid"
case "${1:-}" in
  start)
    mkdir -p "$RUN"
    if [[ -f "$PID" ]] && kill -0 "$(cat "$PID")" 2>/dev/null; then exit 0; fi
    (cd "$ROOT" && exec "$PY" -m tests.support.national_portal --port "$PORT") \
      >> "$RUN/national-portal-standin.log" 2>&1 < /dev/null &
    echo $! > "$PID"
    for _ in $(seq 1 40); do
      curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/api/auth" -d '{}' && exit 0
      sleep 0.25
    done
    echo "[standin] the national portal stand-in did not start" >&2; exit 1 ;;
  stop)
    [[ -f "$PID" ]] && kill "$(cat "$PID")" 2>/dev/null || true
    rm -f "$PID" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
