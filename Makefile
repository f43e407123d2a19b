# Một cửa — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
STACK := deploy/local/stack.sh
SERVICES := deploy/local/services.sh

.PHONY: run demo test unit stop install infra lint typecheck clean status rebuild contracts bench chaos lock audit backup restore soak

## make run: install, start Kafka, PostgreSQL and the five services, load the demo catalog,
## print the URLs, and keep running until Ctrl-C (or `make stop` from another terminal).
run: install infra
	@bash deploy/local/run.sh

## make test: the same set-up, then the whole suite; stops what it started.
test: install
	@bash deploy/local/test.sh

## make unit: the domain, service-layer and in-process tests only (no Kafka, no PostgreSQL, no
## service process): seconds; then the branch coverage of each domain module and handler.
unit: install
	@.venv/bin/python -m coverage run -m pytest -q -p no:cacheprovider tests/unit
	@.venv/bin/python -m tests.support.coverage_gate

## make demo: everything, a back-filled month of the demo province, a live trickle, the URL.
demo: install infra
	@bash deploy/local/demo.sh

stop:
	@$(SERVICES) stop || true
	@$(STACK) stop

status:
	@$(STACK) status; $(SERVICES) status

install: .venv/.installed

# The versions are those of requirements.lock (constraints), so a fresh clone installs
# what was tested; `make lock` writes it again from pyproject.toml.
.venv/.installed: pyproject.toml requirements.lock
	@command -v python3.11 >/dev/null || command -v python3 >/dev/null
	@test -d .venv || (command -v python3.11 >/dev/null && python3.11 -m venv .venv || python3 -m venv .venv)
	@.venv/bin/pip install -q --upgrade pip >/dev/null
	@.venv/bin/pip install -q -c requirements.lock -e '.[dev]'
	@touch $@

## make lock: resolve pyproject.toml's dependencies afresh in a throw-away environment and pin
## every version in requirements.lock (then `make install` and `make test`, and commit both).
lock:
	@rm -rf .local/lockenv && python3.11 -m venv .local/lockenv
	@.local/lockenv/bin/pip install -q --upgrade pip >/dev/null
	@.local/lockenv/bin/pip install -q -e '.[dev]'
	@{ echo "# The exact versions a fresh clone installs (make install: pip install -c requirements.lock)."; \
	   echo "# Regenerate with \`make lock\` after changing pyproject.toml's dependencies; see README."; \
	   .local/lockenv/bin/pip freeze --exclude-editable; } > requirements.lock
	@rm -rf .local/lockenv
	@echo "requirements.lock written"

## make backup: the consumers' offsets and a base backup of PostgreSQL (BACKUP_DIR=... to
## choose where; the WAL archive keeps what comes after). make restore BACKUP_DIR=...: stop the
## services, restore the cluster and replay the archive, put the offsets back.
backup: install
	@bash deploy/local/backup.sh backup $(BACKUP_DIR)

restore: install
	@bash deploy/local/backup.sh restore $(BACKUP_DIR)

## make audit: the locked dependencies against the known vulnerabilities (pip-audit).
audit: install
	@bash deploy/local/audit.sh

infra:
	@$(STACK) start

lint: install
	@.venv/bin/ruff check shared services tests
	@.venv/bin/mypy shared services tests deploy/demo

clean: stop
	rm -rf .local .venv

## make rebuild: `metrics rebuild` — replay the topics into fresh tables and swap them in.
rebuild: install
	@.venv/bin/python -m services.metrics.rebuild

## make contracts: regenerate deploy/contracts (AsyncAPI from the event models, OpenAPI).
contracts: install
	@.venv/bin/python -m shared.contracts

## make bench: measure on this machine (see tests/perf/RESULTS.md); BENCH_SCALE=0.1 for a quick run.
bench: install infra
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	@.venv/bin/python tests/perf/bench.py > /dev/null
	@.venv/bin/python tests/perf/summary.py

## make chaos: SIGKILL Kafka, PostgreSQL and each service (then a rolling SIGTERM restart) under
## the simulator's load, on a stack of its own; audit losses and double counts into
## tests/chaos/results.json and RESULTS.md. Options: CHAOS_ARGS='--days 2 --faults kafka,metrics';
## CHAOS_ARGS=--long for outages of minutes (Kafka 5 min, PostgreSQL 2 min) with their figures.
chaos: install infra
	@.venv/bin/python -m tests.chaos.chaos $(CHAOS_ARGS)

## make soak: 30 minutes at a steady load on a stack of its own: memory (RSS) per service at
## the start and the end, p99 latency per 5 minutes, open connections; into
## tests/chaos/soak.json and RESULTS.md. Not part of make test. SOAK_ARGS='--minutes 5'.
soak: install
	@.venv/bin/python -m tests.chaos.soak $(SOAK_ARGS)
