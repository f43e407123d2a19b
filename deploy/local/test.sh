#!/usr/bin/env bash
# `make test`: start the real Kafka and PostgreSQL unless the environment names others,
# run the whole suite, and stop what this script started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
started=""
# The locked dependencies against the known vulnerabilities, first (deploy/local/audit.sh).
bash deploy/local/audit.sh
if [[ -z "${MOTCUA_TEST_KAFKA_BOOTSTRAP:-}" || -z "${MOTCUA_TEST_DATABASE_URL:-}" ]]; then
  status="$(deploy/local/stack.sh status)"
  if [[ "$status" != *"kafka: running"* || "$status" != *"postgresql: running"* ]]; then
    started=yes
  fi
  deploy/local/stack.sh start
fi
cleanup() { [[ -n "$started" ]] && deploy/local/stack.sh stop || true; }
trap cleanup EXIT
# The dashboard's end-to-end test drives Debian's headless Chromium.
if ! command -v chromium >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "[test] installing Debian's chromium for the dashboard test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "[test] chromium could not be installed; the browser test will say so"
fi
# The printed forms are set in DejaVu Sans (full Vietnamese coverage).
if [[ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf && "$(id -u)" == 0 ]]; then
  echo "[test] installing Debian's fonts-dejavu-core for the printed forms"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null) \
    || echo "[test] fonts-dejavu-core could not be installed; the forms test will say so"
fi
# The deployment tests (tests/deploy) run promtool on the alert rules and render the compose file.
if ! command -v promtool >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "[test] installing Debian's prometheus (promtool) for the alert-rule tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
    || echo "[test] promtool could not be installed; the alert-rule tests will say so"
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "[test] installing Debian's docker-compose for the compose-file test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null) \
    || echo "[test] docker-compose could not be installed; the compose test will say so"
fi
if [[ $# -eq 0 ]]; then
  echo "[test] ruff and mypy"
  .venv/bin/ruff check shared services tests deploy
  .venv/bin/mypy shared services tests deploy/demo
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
