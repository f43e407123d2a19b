#!/usr/bin/env bash
# Starts and stops the six services as background uvicorn processes.
#   deploy/local/services.sh start|stop|status|wait
#   deploy/local/services.sh kill <service>      SIGKILL one service (`start` brings it back)
#   deploy/local/services.sh restart <service>   SIGTERM, wait for the drain, start again
# Environment: MOTCUA_RUN_DIR (pid and log files, default <repo>/.local/run),
# MOTCUA_PORT_BASE (default 8000: intake 8001 ... metrics 8005, national_portal 8006),
# MOTCUA_* settings.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="${MOTCUA_RUN_DIR:-$ROOT/.local/run}"
BASE="${MOTCUA_PORT_BASE:-8000}"
PY="${MOTCUA_PYTHON:-$ROOT/.venv/bin/python}"
SERVICES=(intake processing postal feedback metrics national_portal)

port_of() { local i; for i in "${!SERVICES[@]}"; do [[ "${SERVICES[$i]}" == "$1" ]] && echo $((BASE + i + 1)); done; }
alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start() {
  mkdir -p "$RUN"
  # The local stack's addresses, unless the environment already names others.
  local line name
  while IFS= read -r line; do
    name="${line%%=*}"
    [[ -z "${!name:-}" ]] && export "$line"
  done < <("$ROOT/deploy/local/stack.sh" env)
  # The connector looks applicants up at this stack's intake.
  export NATIONAL_PORTAL_INTAKE_URL="${NATIONAL_PORTAL_INTAKE_URL:-http://127.0.0.1:$(port_of intake)}"
  local s up
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then echo "[services] $s already running" >&2; continue; fi
    up="$(echo "$s" | tr a-z A-Z)"
    env "${up}_PORT=$(port_of "$s")" "$PY" -m "services.$s.main" >> "$RUN/$s.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$s.pid"
  done
  wait_ready
}

wait_ready() {
  local s i code
  for s in "${SERVICES[@]}"; do
    for i in $(seq 1 120); do
      code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port_of "$s")/readyz" || true)"
      [[ "$code" == 200 ]] && break
      if ! alive "$s"; then echo "[services] $s exited; last log lines:" >&2; tail -20 "$RUN/$s.log" >&2; exit 1; fi
      sleep 0.5
    done
    [[ "$code" == 200 ]] || { echo "[services] $s not ready after 60 s" >&2; tail -20 "$RUN/$s.log" >&2; exit 1; }
  done
}

stop() {
  local s pid i
  for s in "${SERVICES[@]}"; do
    alive "$s" && kill -TERM "$(cat "$RUN/$s.pid")" 2>/dev/null || true
  done
  for s in "${SERVICES[@]}"; do
    [[ -f "$RUN/$s.pid" ]] || continue
    pid="$(cat "$RUN/$s.pid")"
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/$s.pid"
  done
}

# One service down: with SIGKILL (a crash) or SIGTERM (a graceful stop that drains).
down() {
  local s="$1" sig="$2" pid i
  [[ -f "$RUN/$s.pid" ]] || return 0
  pid="$(cat "$RUN/$s.pid")"
  kill "-$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/$s.pid"
}

urls() {
  local s
  for s in "${SERVICES[@]}"; do
    printf '  %-15s http://127.0.0.1:%s   (OpenAPI: /docs, health: /healthz /readyz, /metrics)\n' "$s" "$(port_of "$s")"
  done
}

status() {
  local s
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then echo "$s: running (pid $(cat "$RUN/$s.pid")) port $(port_of "$s")"; else echo "$s: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  urls) urls ;;
  wait) wait_ready ;;
  kill) down "${2:?service}" KILL ;;
  restart) down "${2:?service}" TERM; start ;;
  *) echo "usage: $0 start|stop|status|urls|wait|kill <service>|restart <service>" >&2; exit 2 ;;
esac
