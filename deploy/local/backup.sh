#!/usr/bin/env bash
# `make backup` and `make restore` (docs/operations.md):
#
#   deploy/local/backup.sh backup [DIR]    the consumer groups' offsets, then a base backup of
#                                          the PostgreSQL cluster (WAL archiving keeps what
#                                          comes after it); DIR defaults to .local/backups/<time>
#   deploy/local/backup.sh restore DIR     stop the services, restore the cluster from DIR and
#                                          replay the WAL archive, put the saved offsets back;
#                                          then `make run` (or services.sh start) and the
#                                          consumers catch up from Kafka
#
# The offsets are saved first: they never run ahead of the database copy, so after a
# restore every consumer reads again from at or before what the database holds, and its
# inbox makes what it had applied a no-op.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
STACK=deploy/local/stack.sh
LOCAL="${MOTCUA_LOCAL:-$ROOT/.local}"
PY="${MOTCUA_PYTHON:-$ROOT/.venv/bin/python}"
log() { printf '[backup] %s\n' "$*" >&2; }
# The stack's own settings (database, broker), unless the environment names others.
while IFS='=' read -r name value; do
  if [[ -z "${!name:-}" ]]; then export "$name=$value"; fi
done < <($STACK env)

case "${1:-}" in
  backup)
    dir="${2:-$LOCAL/backups/$(date -u +%Y%m%dT%H%M%SZ)}"
    mkdir -p "$dir"
    "$PY" -m shared.backup save-offsets "$dir/offsets.json"
    $STACK pg-backup "$dir"
    printf '{"taken_at": "%s", "kind": "pg_basebackup + WAL archive + consumer offsets"}\n' \
      "$(date -u +%FT%TZ)" > "$dir/manifest.json"
    log "backup written to $dir"
    echo "$dir"
    ;;
  restore)
    dir="${2:?usage: $0 restore DIR}"
    [[ -f "$dir/offsets.json" && -f "$dir/base/base.tar.gz" ]] || { log "not a backup: $dir"; exit 1; }
    deploy/local/services.sh stop >/dev/null 2>&1 || true
    $STACK pg-restore "$dir"
    "$PY" -m shared.backup reset-offsets "$dir/offsets.json"
    log "restored from $dir; start the services and the consumers catch up from Kafka"
    ;;
  *) echo "usage: $0 backup [DIR] | restore DIR" >&2; exit 2 ;;
esac
