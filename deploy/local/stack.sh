#!/usr/bin/env bash
# Starts and stops the real components of the local stack: a single-node Apache Kafka
# (KRaft) broker fetched from Maven Central, and a PostgreSQL cluster made with the
# machine's initdb/pg_ctl. Everything lives under $MOTCUA_LOCAL (default: <repo>/.local),
# which git ignores. A second start reuses the cached jars and the data.
#
#   deploy/local/stack.sh start|stop|status|env
#   deploy/local/stack.sh kafka-start|kafka-stop|pg-start|pg-stop
#   deploy/local/stack.sh kafka-kill|pg-kill    (SIGKILL, for `make chaos`; start brings them back)
#   deploy/local/stack.sh pg-backup DIR|pg-restore DIR   (`make backup`, `make restore`)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${MOTCUA_LOCAL:-$ROOT/.local}"
KAFKA_PORT="${MOTCUA_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${MOTCUA_KAFKA_CONTROLLER_PORT:-19093}"
# Ports below the kernel's ephemeral range (32768+), so that no client socket can hold them.
PG_PORT="${MOTCUA_PG_PORT:-25432}"
PG_USER=motcua
PG_PASSWORD=motcua
PG_DB=motcua

KAFKA_HOME="$LOCAL/kafka"
PG_HOME="$LOCAL/pg"
# The WAL archive: every finished WAL segment is copied here (a new cluster, at creation), so
# that a restore replays past its base backup up to the last segment archived.
WAL_ARCHIVE="${MOTCUA_PG_WAL_ARCHIVE:-$PG_HOME/wal-archive}"

log() { printf '[stack] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- Kafka
kafka_fetch() {
  local stamp="$KAFKA_HOME/libs/.complete"
  if [[ -f "$stamp" ]] && cmp -s "$ROOT/deploy/local/kafka/pom.xml" "$stamp"; then
    return
  fi
  command -v java >/dev/null || { log "java is required (apt-get install default-jre-headless)"; exit 1; }
  command -v mvn >/dev/null || { log "maven is required (apt-get install maven)"; exit 1; }
  log "fetching the Kafka broker jars from Maven Central"
  # Into a fresh folder first: a failed download must not leave the broker without jars.
  rm -rf "$KAFKA_HOME/libs.new"
  mkdir -p "$KAFKA_HOME/libs.new"
  mvn -B -q -Dstyle.color=never -f "$ROOT/deploy/local/kafka/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/libs.new" -DincludeScope=runtime
  rm -rf "$KAFKA_HOME/libs"
  mv "$KAFKA_HOME/libs.new" "$KAFKA_HOME/libs"
  cp "$ROOT/deploy/local/kafka/pom.xml" "$stamp"
}

# Kafka's performance tools (the reference of `make bench`), kept apart from the broker's
# classpath: kafka-tools is published for fewer versions than the broker.
tools_fetch() {
  local stamp="$KAFKA_HOME/tools/.complete"
  if [[ -f "$stamp" ]] && cmp -s "$ROOT/deploy/local/kafka/tools-pom.xml" "$stamp"; then return; fi
  log "fetching Kafka's performance tools from Maven Central"
  rm -rf "$KAFKA_HOME/tools.new"; mkdir -p "$KAFKA_HOME/tools.new"
  mvn -B -q -Dstyle.color=never -f "$ROOT/deploy/local/kafka/tools-pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/tools.new" -DincludeScope=runtime
  rm -rf "$KAFKA_HOME/tools"; mv "$KAFKA_HOME/tools.new" "$KAFKA_HOME/tools"
  cp "$ROOT/deploy/local/kafka/tools-pom.xml" "$stamp"
}

kafka_java() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_HOME/logs" \
    -Dlog4j2.configurationFile="$ROOT/deploy/local/kafka/log4j2.yaml" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

kafka_pid() {
  local f="$KAFKA_HOME/kafka.pid"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

kafka_start() {
  if kafka_pid >/dev/null; then log "kafka already running on 127.0.0.1:$KAFKA_PORT"; return; fi
  if port_open "$KAFKA_PORT"; then log "port $KAFKA_PORT is taken by another process"; exit 1; fi
  kafka_fetch
  mkdir -p "$KAFKA_HOME/data" "$KAFKA_HOME/logs"
  sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$KAFKA_HOME/data#g" \
      "$ROOT/deploy/local/kafka/server.properties.in" > "$KAFKA_HOME/server.properties"
  if [[ ! -f "$KAFKA_HOME/data/meta.properties" ]]; then
    log "formatting KRaft storage"
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid | tail -1)"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_HOME/server.properties" >/dev/null
  fi
  log "starting kafka on 127.0.0.1:$KAFKA_PORT"
  nohup bash -c "exec java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir='$KAFKA_HOME/logs' \
    -Dlog4j2.configurationFile='$ROOT/deploy/local/kafka/log4j2.yaml' \
    -cp '$KAFKA_HOME/libs/*' kafka.Kafka '$KAFKA_HOME/server.properties'" \
    > "$KAFKA_HOME/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$KAFKA_HOME/kafka.pid"
  local i
  for i in $(seq 1 120); do
    if grep -q "Kafka Server started" "$KAFKA_HOME/logs/server.log" 2>/dev/null \
       && port_open "$KAFKA_PORT"; then
      log "kafka is up"
      return
    fi
    if ! kafka_pid >/dev/null; then
      log "kafka exited; see $KAFKA_HOME/logs"; tail -20 "$KAFKA_HOME/logs/stdout.log" >&2; exit 1
    fi
    sleep 0.5
  done
  log "kafka did not start within 60 s"; exit 1
}

kafka_stop() {
  local pid
  if ! pid="$(kafka_pid)"; then rm -f "$KAFKA_HOME/kafka.pid"; return; fi
  log "stopping kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { log "kafka did not stop in 30 s; killing"; kill -KILL "$pid" || true; }
  # A rotated server.log must not make the next start believe the broker is already up.
  mv -f "$KAFKA_HOME/logs/server.log" "$KAFKA_HOME/logs/server.log.prev" 2>/dev/null || true
  rm -f "$KAFKA_HOME/kafka.pid"
}

# A crash, not a stop: SIGKILL, no flush, no controlled shutdown.
kafka_kill() {
  local pid
  pid="$(kafka_pid)" || return 0
  log "killing kafka (SIGKILL, pid $pid)"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  mv -f "$KAFKA_HOME/logs/server.log" "$KAFKA_HOME/logs/server.log.prev" 2>/dev/null || true
  rm -f "$KAFKA_HOME/kafka.pid"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bindir() {
  local d
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
    pg_config --bindir; return
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/pg_ctl" ]] && { echo "$d"; return; }
  done
  return 1
}

pg_ensure_installed() {
  if pg_bindir >/dev/null; then return; fi
  if [[ "$(id -u)" == 0 ]]; then
    log "installing Debian's postgresql package"
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  else
    log "PostgreSQL binaries not found; install Debian's postgresql package"; exit 1
  fi
}

# initdb and postgres refuse to run as root: run them as the 'postgres' system user then.
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  pg_ensure_installed
  local bin; bin="$(pg_bindir)"
  mkdir -p "$PG_HOME"
  [[ "$(id -u)" == 0 ]] && chown postgres "$PG_HOME" 2>/dev/null || true
  if [[ ! -f "$PG_HOME/data/PG_VERSION" ]]; then
    log "creating the PostgreSQL cluster"
    local pw="$PG_HOME/.pw"
    printf '%s\n' "$PG_PASSWORD" > "$pw"; chmod 644 "$pw"
    as_pg "$bin/initdb" -D "$PG_HOME/data" -U "$PG_USER" --pwfile="$pw" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
    cat >> "$PG_HOME/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_HOME'
max_connections = 300
shared_buffers = 512MB
# Enough for base backups and WAL archiving; nothing decodes the WAL (logical would log more).
wal_level = replica
max_wal_senders = 4
logging_collector = off
timezone = 'UTC'
# Continuous archiving for point-in-time restore (docs/operations.md): a segment at least
# every archive_timeout seconds while there are writes, so at most that much is at risk.
archive_mode = on
archive_command = 'test ! -f $WAL_ARCHIVE/%f && cp %p $WAL_ARCHIVE/%f'
archive_timeout = ${MOTCUA_PG_ARCHIVE_TIMEOUT_S:-60}
EOF
  fi
  mkdir -p "$WAL_ARCHIVE"
  [[ "$(id -u)" == 0 ]] && chown postgres "$WAL_ARCHIVE" 2>/dev/null || true
  if as_pg "$bin/pg_ctl" -D "$PG_HOME/data" status >/dev/null 2>&1; then
    log "postgresql already running on 127.0.0.1:$PG_PORT"
  else
    if port_open "$PG_PORT"; then log "port $PG_PORT is taken by another process"; exit 1; fi
    log "starting postgresql on 127.0.0.1:$PG_PORT"
    # The port on the command line wins over the one written at initdb time.
    as_pg "$bin/pg_ctl" -D "$PG_HOME/data" -o "-p $PG_PORT" -l "$PG_HOME/postgres.log" \
      -w -t 60 start >/dev/null
  fi
  if ! as_pg "$bin/psql" -h "$PG_HOME" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "select 1 from pg_database where datname='$PG_DB'" | grep -q 1; then
    as_pg "$bin/psql" -h "$PG_HOME" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "create database $PG_DB"
  fi
  log "postgresql is up"
}

pg_stop() {
  local bin; bin="$(pg_bindir 2>/dev/null)" || return 0
  [[ -f "$PG_HOME/data/PG_VERSION" ]] || return 0
  if as_pg "$bin/pg_ctl" -D "$PG_HOME/data" status >/dev/null 2>&1; then
    log "stopping postgresql"
    as_pg "$bin/pg_ctl" -D "$PG_HOME/data" -m fast -w -t 60 stop >/dev/null
  fi
}

# A crash: SIGKILL to the postmaster and every backend; the next start runs crash recovery.
pg_kill() {
  local f="$PG_HOME/data/postmaster.pid" pm
  [[ -f "$f" ]] || return 0
  pm="$(head -1 "$f")"
  kill -0 "$pm" 2>/dev/null || return 0
  log "killing postgresql (SIGKILL, postmaster $pm and its backends)"
  kill -KILL "$pm" $(pgrep -P "$pm" || true) 2>/dev/null || true
  while kill -0 "$pm" 2>/dev/null || pgrep -P "$pm" >/dev/null; do sleep 0.1; done
}

# A base backup of the whole cluster (compressed tar), streamed with the WAL it needs.
pg_backup() {
  local dir="$1" bin; bin="$(pg_bindir)"
  mkdir -p "$dir"
  [[ "$(id -u)" == 0 ]] && chown postgres "$dir" 2>/dev/null || true
  log "base backup of postgresql into $dir"
  PGPASSWORD="$PG_PASSWORD" as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" \
    -D "$dir/base" -Ft -z -X stream -c fast --label "motcua $(date -u +%FT%TZ)"
  # The archive must hold every segment up to the end of the backup.
  as_pg "$bin/psql" -h "$PG_HOME" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAtc "select pg_switch_wal()" >/dev/null
}

# Point-in-time restore: the base backup, then every WAL segment of the archive replayed, up
# to the last one archived; the cluster then comes up as it was at that point.
pg_restore_cluster() {
  local dir="$1" bin; bin="$(pg_bindir)"
  [[ -f "$dir/base/base.tar.gz" ]] || { log "no base backup in $dir"; exit 1; }
  pg_stop || true
  if [[ -d "$PG_HOME/data" ]]; then
    log "moving the old data directory aside ($PG_HOME/data.before-restore)"
    rm -rf "$PG_HOME/data.before-restore"
    mv "$PG_HOME/data" "$PG_HOME/data.before-restore"
  fi
  mkdir -p "$PG_HOME/data"
  tar -xzf "$dir/base/base.tar.gz" -C "$PG_HOME/data"
  mkdir -p "$PG_HOME/data/pg_wal"
  tar -xzf "$dir/base/pg_wal.tar.gz" -C "$PG_HOME/data/pg_wal"
  cat >> "$PG_HOME/data/postgresql.auto.conf" <<EOF
restore_command = 'cp $WAL_ARCHIVE/%f %p'
recovery_target_timeline = 'latest'
EOF
  touch "$PG_HOME/data/recovery.signal"
  chmod 700 "$PG_HOME/data"
  [[ "$(id -u)" == 0 ]] && chown -R postgres "$PG_HOME/data" 2>/dev/null || true
  log "restoring: replaying the archived WAL from $WAL_ARCHIVE"
  as_pg "$bin/pg_ctl" -D "$PG_HOME/data" -o "-p $PG_PORT" -l "$PG_HOME/postgres.log" \
    -w -t 600 start >/dev/null
  until as_pg "$bin/psql" -h "$PG_HOME" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAtc \
      "select not pg_is_in_recovery()" 2>/dev/null | grep -q t; do sleep 0.5; done
  log "postgresql restored and promoted"
}

print_env() {
  # A developer's machine: the services accept their published default secrets here only.
  echo "MOTCUA_ENV=local"
  echo "MOTCUA_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"
  echo "MOTCUA_DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
}

status() {
  if kafka_pid >/dev/null; then echo "kafka: running (pid $(kafka_pid)) 127.0.0.1:$KAFKA_PORT"; else echo "kafka: stopped"; fi
  local bin
  if bin="$(pg_bindir 2>/dev/null)" && [[ -f "$PG_HOME/data/PG_VERSION" ]] \
     && as_pg "$bin/pg_ctl" -D "$PG_HOME/data" status >/dev/null 2>&1; then
    echo "postgresql: running 127.0.0.1:$PG_PORT"
  else
    echo "postgresql: stopped"
  fi
}

case "${1:-}" in
  start) pg_start; kafka_start ;;
  stop) kafka_stop; pg_stop ;;
  kafka-start) kafka_start ;;
  kafka-stop) kafka_stop ;;
  kafka-fetch) kafka_fetch ;;
  tools-fetch) tools_fetch ;;
  pg-start) pg_start ;;
  pg-stop) pg_stop ;;
  kafka-kill) kafka_kill ;;
  pg-kill) pg_kill ;;
  pg-backup) pg_backup "${2:?usage: $0 pg-backup DIR}" ;;
  pg-restore) pg_restore_cluster "${2:?usage: $0 pg-restore DIR}" ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env|kafka-start|kafka-stop|kafka-kill|pg-start|pg-stop|pg-kill|pg-backup DIR|pg-restore DIR" >&2; exit 2 ;;
esac
