#!/usr/bin/env bash
# `make run`: the infrastructure is up (make infra); start the services, load the demo
# catalog, print the URLs, and stop everything on Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
stop_all() { trap - INT TERM EXIT; echo; deploy/local/services.sh stop || true; deploy/local/standin.sh stop || true; deploy/local/stack.sh stop || true; }
trap stop_all INT TERM EXIT
# The national portal cannot be reached from here: a local stand-in takes its place.
deploy/local/standin.sh start
deploy/local/services.sh start
echo
echo "Một cửa is running:"
deploy/local/services.sh urls
echo "  national portal (a local STAND-IN, tests/support/national_portal.py): http://127.0.0.1:8090"
deploy/local/stack.sh env | sed 's/^/  /'
echo
echo "Logs: .local/run/*.log. Ctrl-C (or 'make stop' elsewhere) stops everything."
# Stay in the foreground while the services live.
# (No `status | grep -q`: under pipefail, grep's early exit fails the pipeline.)
while [[ "$(deploy/local/services.sh status)" == *running* ]]; do sleep 2; done
