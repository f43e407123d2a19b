#!/usr/bin/env bash
# `make test`: start the real Kafka and PostgreSQL unless the environment names others,
# run the whole suite, and stop what this script started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
started=""
if [[ -z "${MOTCUA_TEST_KAFKA_BOOTSTRAP:-}" || -z "${MOTCUA_TEST_DATABASE_URL:-}" ]]; then
  if ! deploy/local/stack.sh status | grep -q "kafka: running" || ! deploy/local/stack.sh status | grep -q "postgresql: running"; then
    started=yes
  fi
  deploy/local/stack.sh start
fi
# The dashboard's end-to-end test drives Debian's headless Chromium.
if ! command -v chromium >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "[test] installing Debian's chromium for the dashboard test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "[test] chromium could not be installed; the browser test will say so"
fi
cleanup() { [[ -n "$started" ]] && deploy/local/stack.sh stop || true; }
trap cleanup EXIT
if [[ $# -eq 0 ]]; then
  echo "[test] ruff and mypy"
  .venv/bin/ruff check shared services tests
  .venv/bin/mypy shared services
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
