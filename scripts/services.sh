#!/usr/bin/env bash
# Local backing services for boxoffice, without Docker or systemd:
#   Redis      127.0.0.1:${BOX_REDIS_PORT:-6379}
#   MariaDB    127.0.0.1:${BOX_MYSQL_PORT:-3306}   db boxoffice, user boxoffice/boxoffice (ALL ON *.*)
#   Kafka      127.0.0.1:${BOX_KAFKA_PORT:-9092}   (scripts/kafka.sh instance "main", controller ${BOX_KAFKA_CONTROLLER_PORT:-9093})
#   Prometheus only installed (/usr/bin/prometheus); tests start their own.
#
#   scripts/services.sh [start]   install what is missing (apt), start what is not running; idempotent
#   scripts/services.sh stop      stop the services this script started (data is kept)
#   scripts/services.sh status    show what is running (exit 0 only if all three are up)
#   scripts/services.sh env       print the export lines the Go code reads, e.g.
#                                 eval "$(scripts/services.sh env)"
#   start and stop take the services to act on (redis, mariadb, kafka; default all three),
#   e.g. "scripts/services.sh start redis".
#
# State (configs, data, logs, pid files) lives in ${BOX_SERVICES_DIR:-<repo>/.services}.
# A Redis / MariaDB that already listens on the port and answers (MariaDB: with
# the boxoffice credentials) is reused as is, and left alone by "stop".
# Progress goes to stderr; only "env" writes to stdout.
#
# Redis keeps an append-only file (appendonly yes, in <state>/redis/appendonlydir): the
# live stock and every admission decision are in Redis, and a restart must not forget
# them. BOX_REDIS_APPENDFSYNC says how often that file is flushed to disk; it is read when
# this script starts a Redis (a Redis it reuses keeps its own settings; start warns when
# they differ):
#   everysec (default)  fsync once a second: a crash of the machine (power, kernel) can
#                       lose up to about the last second of acknowledged writes; a crash
#                       of Redis alone loses none (each write reached the kernel), unless
#                       a stalled disk held the writes back (Redis waits up to 2 s)
#   always              fsync before replying: no acknowledged write is lost, at the cost
#                       measured in the README (Operations, Durability)
#   no                  the kernel flushes when it likes (about every 30 s on Linux)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_SH="$REPO_DIR/scripts/kafka.sh"
SERVICES_DIR=${BOX_SERVICES_DIR:-$REPO_DIR/.services}

REDIS_PORT=${BOX_REDIS_PORT:-6379}
MYSQL_PORT=${BOX_MYSQL_PORT:-3306}
KAFKA_PORT=${BOX_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${BOX_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_INSTANCE=main
REDIS_APPENDFSYNC=${BOX_REDIS_APPENDFSYNC:-everysec}
PROMETHEUS_BIN=/usr/bin/prometheus

DB_NAME=boxoffice
DB_USER=boxoffice
DB_PASS=boxoffice

log() { printf 'services.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

abs_services_dir() {
  mkdir -p "$SERVICES_DIR"
  SERVICES_DIR=$(cd "$SERVICES_DIR" && pwd)
  REDIS_DIR="$SERVICES_DIR/redis"
  MYSQL_DIR="$SERVICES_DIR/mariadb"
  MYSQL_CNF="$MYSQL_DIR/my.cnf"
  MYSQL_PID="$MYSQL_DIR/mariadbd.pid"
  MYSQL_ERR="$MYSQL_DIR/mariadbd.err"
  REDIS_CONF="$REDIS_DIR/redis.conf"
  REDIS_PID="$REDIS_DIR/redis.pid"
  REDIS_LOG="$REDIS_DIR/redis.log"
  # Unix sockets are limited to ~108 bytes; fall back to /tmp for deep checkouts.
  MYSQL_SOCK="$MYSQL_DIR/mariadbd.sock"
  if [ ${#MYSQL_SOCK} -gt 100 ]; then
    MYSQL_SOCK="/tmp/boxoffice-mariadb-$(printf '%s' "$MYSQL_DIR" | sha256sum | cut -c1-12).sock"
  fi
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

read_pid() { [ -f "$1" ] && cat "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- installation

# Install the Debian packages whose binaries are missing: one apt-get update,
# one apt-get install, nothing at all when everything is there.
ensure_packages() {
  local pkgs=()
  # Only what the selected services need ("start redis" installs no JVM);
  # Prometheus, which no service here runs, with the full set.
  if selected redis; then
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || pkgs+=(redis-server redis-tools)
  fi
  if selected mariadb; then
    { command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null || pkgs+=(mariadb-server)
    command -v mariadb >/dev/null && command -v mariadb-admin >/dev/null || pkgs+=(mariadb-client)
  fi
  if [ ${#SELECTED[@]} -eq 3 ]; then
    [ -x "$PROMETHEUS_BIN" ] || pkgs+=(prometheus)
  fi
  if selected kafka; then
    command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || [ -n "$(ls "$REPO_DIR"/deploy/kafka/lib/kafka_2.13-*.jar 2>/dev/null)" ] || pkgs+=(maven)
    command -v ss >/dev/null || pkgs+=(iproute2)
  fi
  if [ ${#pkgs[@]} -eq 0 ]; then
    log "packages: all present"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "missing packages (${pkgs[*]}) and not root"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' maintainer scripts from starting their own daemons
  # (there is no init system; we run our own instances).
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    added_policy=1
  fi
  log "installing: ${pkgs[*]}"
  local rc=0
  { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2; } || rc=$?
  [ "$added_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install ${pkgs[*]} failed (rc $rc)"
  log "installed: ${pkgs[*]}"
}

# ---------------------------------------------------------------- redis

redis_ping() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# redis_config_get NAME prints the running server's value of a setting.
redis_config_get() { timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get "$1" 2>/dev/null | sed -n 2p; }

# A reused Redis keeps its own settings: say so when its durability is not the
# one this script would give it, rather than restart a server others may use.
redis_check_durability() {
  local aof fsync
  aof=$(redis_config_get appendonly)
  fsync=$(redis_config_get appendfsync)
  if [ "$aof" != yes ] || [ "$fsync" != "$REDIS_APPENDFSYNC" ]; then
    log "redis: WARNING: it runs with appendonly ${aof:-?}, appendfsync ${fsync:-?}; one this script starts gets appendonly yes, appendfsync $REDIS_APPENDFSYNC (stop it and start again for those)"
  fi
}

redis_write_conf() {
  case "$REDIS_APPENDFSYNC" in
    always | everysec | no) ;;
    *) die "BOX_REDIS_APPENDFSYNC=$REDIS_APPENDFSYNC: use always, everysec or no" ;;
  esac
  mkdir -p "$REDIS_DIR"
  cat >"$REDIS_CONF.tmp" <<EOF
# Generated by scripts/services.sh -- edits are overwritten.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
loglevel notice
dir $REDIS_DIR
# No RDB snapshots: the append-only file is the durable copy (its rewrites
# start with an RDB preamble, so loading it at start-up stays fast).
save ""
appendonly yes
appenddirname "appendonlydir"
appendfsync $REDIS_APPENDFSYNC
databases 16
maxclients 10000
tcp-backlog 511
timeout 0
tcp-keepalive 60
EOF
  mv "$REDIS_CONF.tmp" "$REDIS_CONF"
}

redis_start() {
  local pid
  pid=$(read_pid "$REDIS_PID")
  if redis_ping; then
    if pid_alive "$pid"; then
      log "redis: already running (pid $pid, 127.0.0.1:$REDIS_PORT)"
    else
      log "redis: reusing the server already answering on 127.0.0.1:$REDIS_PORT"
    fi
    redis_check_durability
    return 0
  fi
  port_open "$REDIS_PORT" && die "redis: port $REDIS_PORT is taken by something that does not answer PING"
  redis_write_conf
  : >"$REDIS_LOG"
  log "redis: starting on 127.0.0.1:$REDIS_PORT (appendonly yes, appendfsync $REDIS_APPENDFSYNC)"
  redis-server "$REDIS_CONF" >&2 || die "redis-server failed to start (see $REDIS_LOG)"
  local i
  for ((i = 0; i < 100; i++)); do
    redis_ping && { log "redis: ready (pid $(read_pid "$REDIS_PID"))"; return 0; }
    sleep 0.1
  done
  tail -n 30 "$REDIS_LOG" >&2 || true
  die "redis did not answer PING within 10s"
}

redis_stop() {
  local pid i
  pid=$(read_pid "$REDIS_PID")
  if ! pid_alive "$pid"; then
    rm -f "$REDIS_PID"
    log "redis: not running (ours)"
    return 0
  fi
  log "redis: stopping (pid $pid)"
  timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do pid_alive "$pid" || break; sleep 0.1; done
  pid_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; }
  rm -f "$REDIS_PID"
  log "redis: stopped"
}

redis_status() {
  if redis_ping; then
    local pid; pid=$(read_pid "$REDIS_PID")
    if pid_alive "$pid"; then log "redis: running (pid $pid, 127.0.0.1:$REDIS_PORT)"; else log "redis: running (not ours, 127.0.0.1:$REDIS_PORT)"; fi
    return 0
  fi
  log "redis: stopped"; return 1
}

# ---------------------------------------------------------------- mariadb

mysql_tcp() { # as the app user over TCP
  timeout 10 mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$MYSQL_PORT" -u"$DB_USER" -p"$DB_PASS" "$@"
}
mysql_root() { # as root over our private socket (unix_socket auth: we are root)
  timeout 30 mariadb --no-defaults --socket="$MYSQL_SOCK" -uroot "$@"
}

mysql_write_cnf() {
  mkdir -p "$MYSQL_DIR/data" "$MYSQL_DIR/tmp"
  cat >"$MYSQL_CNF.tmp" <<EOF
# Generated by scripts/services.sh -- edits are overwritten.
[mariadbd]
user = root
datadir = $MYSQL_DIR/data
tmpdir = $MYSQL_DIR/tmp
socket = $MYSQL_SOCK
pid-file = $MYSQL_PID
log-error = $MYSQL_ERR
port = $MYSQL_PORT
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
max_connections = 500
max_connect_errors = 1000000
max_allowed_packet = 64M
thread_cache_size = 64
table_open_cache = 2000
innodb_buffer_pool_size = 512M
innodb_log_file_size = 256M
innodb_flush_log_at_trx_commit = 2
# MariaDB's default, said here: the writer loads its batches with LOAD DATA LOCAL.
local_infile = ON
innodb_file_per_table = 1
performance_schema = OFF
skip-log-bin
EOF
  mv "$MYSQL_CNF.tmp" "$MYSQL_CNF"
}

mysql_provision() {
  mysql_root <<EOF
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
}

mysql_start() {
  local pid
  pid=$(read_pid "$MYSQL_PID")
  if pid_alive "$pid" && [ -S "$MYSQL_SOCK" ] && mysql_root -e 'select 1' >/dev/null 2>&1; then
    if mysql_tcp -e "select 1" "$DB_NAME" >/dev/null 2>&1; then
      log "mariadb: already running (pid $pid, 127.0.0.1:$MYSQL_PORT)"
      return 0
    fi
    log "mariadb: running (pid $pid); (re)creating database/user"
    mysql_provision || die "mariadb: provisioning failed"
    return 0
  fi
  if mysql_tcp -e "select 1" >/dev/null 2>&1; then
    mysql_tcp -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" \
      || die "mariadb: reusing 127.0.0.1:$MYSQL_PORT but cannot create database $DB_NAME"
    log "mariadb: reusing the server already answering on 127.0.0.1:$MYSQL_PORT with $DB_USER credentials"
    return 0
  fi
  port_open "$MYSQL_PORT" && die "mariadb: port $MYSQL_PORT is taken by a server that does not accept $DB_USER/$DB_PASS"

  mysql_write_cnf
  if [ ! -d "$MYSQL_DIR/data/mysql" ]; then
    log "mariadb: initialising datadir $MYSQL_DIR/data"
    rm -rf "$MYSQL_DIR/data"; mkdir -p "$MYSQL_DIR/data"
    mariadb-install-db --defaults-file="$MYSQL_CNF" --user=root --skip-test-db \
      --auth-root-authentication-method=socket >"$MYSQL_DIR/install-db.log" 2>&1 \
      || { tail -n 30 "$MYSQL_DIR/install-db.log" >&2; rm -rf "$MYSQL_DIR/data"; die "mariadb-install-db failed"; }
  fi
  local mariadbd
  mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  rm -f "$MYSQL_SOCK" "$MYSQL_PID"
  log "mariadb: starting on 127.0.0.1:$MYSQL_PORT"
  (
    cd "$MYSQL_DIR"
    exec setsid nohup "$mariadbd" --defaults-file="$MYSQL_CNF" </dev/null >>"$MYSQL_DIR/mariadbd.out" 2>&1
  ) &
  local launcher=$! i
  for ((i = 0; i < 600; i++)); do
    if [ -S "$MYSQL_SOCK" ] && timeout 5 mariadb-admin --no-defaults --socket="$MYSQL_SOCK" -uroot ping >/dev/null 2>&1; then
      break
    fi
    if ! pid_alive "$launcher" && ! pid_alive "$(read_pid "$MYSQL_PID")"; then
      tail -n 40 "$MYSQL_ERR" >&2 2>/dev/null || true
      die "mariadbd exited during start-up (see $MYSQL_ERR)"
    fi
    sleep 0.1
  done
  [ "$i" -lt 600 ] || { tail -n 40 "$MYSQL_ERR" >&2 || true; die "mariadbd did not answer within 60s"; }
  mysql_provision || die "mariadb: provisioning failed"
  mysql_tcp -e "select 1" "$DB_NAME" >/dev/null || die "mariadb: $DB_USER cannot log in over TCP"
  log "mariadb: ready (pid $(read_pid "$MYSQL_PID"))"
}

mysql_stop() {
  local pid i
  pid=$(read_pid "$MYSQL_PID")
  if ! pid_alive "$pid"; then
    rm -f "$MYSQL_PID"
    log "mariadb: not running (ours)"
    return 0
  fi
  log "mariadb: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do pid_alive "$pid" || break; sleep 0.1; done
  if pid_alive "$pid"; then
    log "mariadb: still alive after 60s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$MYSQL_PID"
  log "mariadb: stopped"
}

mysql_status() {
  if mysql_tcp -e "select 1" >/dev/null 2>&1; then
    local pid; pid=$(read_pid "$MYSQL_PID")
    if pid_alive "$pid"; then log "mariadb: running (pid $pid, 127.0.0.1:$MYSQL_PORT)"; else log "mariadb: running (not ours, 127.0.0.1:$MYSQL_PORT)"; fi
    return 0
  fi
  log "mariadb: stopped (or not accepting $DB_USER)"; return 1
}

# ---------------------------------------------------------------- commands

print_env() {
  abs_services_dir
  cat <<EOF
export BOX_REDIS_ADDR='127.0.0.1:$REDIS_PORT'
export BOX_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
export BOX_MYSQL_DSN='$DB_USER:$DB_PASS@tcp(127.0.0.1:$MYSQL_PORT)/$DB_NAME?parseTime=true&multiStatements=true'
export BOX_PROMETHEUS_BIN='$PROMETHEUS_BIN'
export BOX_KAFKA_SCRIPT='$KAFKA_SH'
export BOX_SERVICES_DIR='$SERVICES_DIR'
EOF
}

# The services start and stop act on: the names given after the command, or
# all three.
SELECTED=()
select_services() {
  local name
  for name in "$@"; do
    case "$name" in
      redis | mariadb | kafka) SELECTED+=("$name") ;;
      *) die "unknown service $name (use redis, mariadb, kafka)" ;;
    esac
  done
  [ ${#SELECTED[@]} -gt 0 ] || SELECTED=(redis mariadb kafka)
}
selected() { [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

cmd_start() {
  local t0=$SECONDS
  abs_services_dir
  export BOX_SERVICES_DIR="$SERVICES_DIR"
  ensure_packages
  # Kafka (a JVM, the slowest) starts in the background while Redis and
  # MariaDB come up.
  local kafka_log="$SERVICES_DIR/kafka-start.log" kafka_pid="" kafka_rc=0
  if selected kafka; then
    bash "$KAFKA_SH" start "$KAFKA_INSTANCE" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" >"$kafka_log" 2>&1 &
    kafka_pid=$!
  fi
  local rc=0
  if selected redis; then redis_start || rc=$?; fi
  if [ "$rc" = 0 ] && selected mariadb; then mysql_start || rc=$?; fi
  if [ -n "$kafka_pid" ]; then
    wait "$kafka_pid" || kafka_rc=$?
    sed 's/^/  /' "$kafka_log" >&2
  fi
  [ "$rc" = 0 ] || exit "$rc"
  [ "$kafka_rc" = 0 ] || die "kafka failed to start (rc $kafka_rc)"
  if [ ${#SELECTED[@]} -eq 3 ]; then log "prometheus: $PROMETHEUS_BIN present (not started)"; fi
  log "${SELECTED[*]} up in $((SECONDS - t0))s; use: eval \"\$(bash scripts/services.sh env)\""
}

cmd_stop() {
  abs_services_dir
  export BOX_SERVICES_DIR="$SERVICES_DIR"
  local rc=0 kafka_pid=""
  if selected kafka; then
    bash "$KAFKA_SH" stop "$KAFKA_INSTANCE" &
    kafka_pid=$!
  fi
  if selected mariadb; then mysql_stop || rc=$?; fi
  if selected redis; then redis_stop || rc=$?; fi
  if [ -n "$kafka_pid" ]; then wait "$kafka_pid" || rc=$?; fi
  return "$rc"
}

cmd_status() {
  abs_services_dir
  export BOX_SERVICES_DIR="$SERVICES_DIR"
  local rc=0
  redis_status || rc=1
  mysql_status || rc=1
  bash "$KAFKA_SH" status "$KAFKA_INSTANCE" >&2 || rc=1
  if [ -x "$PROMETHEUS_BIN" ]; then log "prometheus: installed ($PROMETHEUS_BIN)"; else log "prometheus: NOT installed"; rc=1; fi
  return "$rc"
}

case "${1:-start}" in
  start) shift $(($# > 0)); select_services "$@"; cmd_start ;;
  stop) shift; select_services "$@"; cmd_stop ;;
  status) cmd_status ;;
  env) print_env ;;
  # The usage is the header: the comment lines after the shebang.
  *) sed -n '2,/^[^#]/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
