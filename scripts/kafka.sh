#!/usr/bin/env bash
# Manage a local single-node Apache Kafka (KRaft, broker+controller) instance
# without Docker, using the real broker jars fetched from Maven Central by
# deploy/kafka/pom.xml.
#
#   scripts/kafka.sh start  NAME PORT CONTROLLER_PORT   start (idempotent), wait until it serves API requests
#   scripts/kafka.sh stop   NAME                        stop (SIGTERM, then SIGKILL); data is kept
#   scripts/kafka.sh status NAME                        exit 0 if running, 3 if not
#   scripts/kafka.sh restart NAME PORT CONTROLLER_PORT  stop + start
#   scripts/kafka.sh jars                               only make sure deploy/kafka/lib is populated
#   scripts/kafka.sh tool CLASS [ARGS...]               run a Kafka CLI class from the jars, e.g.
#       scripts/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# State lives in ${BOX_SERVICES_DIR:-<repo>/.services}/kafka-NAME/
#   server.properties, client.properties, data/ (log.dirs), logs/ (server.log,
#   stdout.log), kafka.pid, ready.
# Progress goes to stderr.
#
# Tunables (environment):
#   BOX_KAFKA_HEAP_OPTS     default "-Xmx512m -Xms256m"
#   BOX_KAFKA_JVM_OPTS      extra broker JVM flags (default: see BROKER_JVM_OPTS below)
#   BOX_KAFKA_START_TIMEOUT seconds to wait for the broker to answer (default 120; a loaded 2-core box needs 20-30 s)
#   BOX_KAFKA_STOP_TIMEOUT  seconds to wait after SIGTERM before SIGKILL (default 30)
#   BOX_KAFKA_CDS           1 (default) = use an AppCDS class archive for the broker and
#                           the readiness probe (built on the first clean stop; start-up
#                           ~5.5 s -> ~3.5 s); 0 = off
# One node of a multi-broker cluster (scripts/cluster.sh starts three at once: with
# a quorum of several voters no node is ready before a majority runs):
#   BOX_KAFKA_NODE_ID       node.id (default 1)
#   BOX_KAFKA_VOTERS        controller.quorum.voters (default 1@127.0.0.1:CONTROLLER_PORT)
#   BOX_KAFKA_CLUSTER_ID    the cluster id every node is formatted with (default: one per instance)
#   BOX_KAFKA_REPLICATION   replication factor of the internal topics and the default (1)
#   BOX_KAFKA_MIN_ISR       min.insync.replicas default and of the internal topics (1)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_DEPLOY_DIR="$REPO_DIR/deploy/kafka"
LIB_DIR="$KAFKA_DEPLOY_DIR/lib"
POM="$KAFKA_DEPLOY_DIR/pom.xml"
LOG4J_CONF="$KAFKA_DEPLOY_DIR/log4j2.properties"
SERVICES_DIR=${BOX_SERVICES_DIR:-$REPO_DIR/.services}
mkdir -p "$SERVICES_DIR"
SERVICES_DIR=$(cd "$SERVICES_DIR" && pwd)

read -r -a HEAP_OPTS <<<"${BOX_KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
# SerialGC: 2-core box, small heap; measured start-up is the same as G1.
read -r -a BROKER_JVM_OPTS <<<"${BOX_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
# Short-lived CLI JVMs: C1 only, serial GC -> ~1 s per call.
TOOL_JVM_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.level=error)
START_TIMEOUT=${BOX_KAFKA_START_TIMEOUT:-120}
NODE_ID=${BOX_KAFKA_NODE_ID:-1}
REPLICATION=${BOX_KAFKA_REPLICATION:-1}
MIN_ISR=${BOX_KAFKA_MIN_ISR:-1}
STOP_TIMEOUT=${BOX_KAFKA_STOP_TIMEOUT:-30}
CDS_ENABLED=${BOX_KAFKA_CDS:-1}
CDS_DIR="$LIB_DIR/.cds"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- prerequisites

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "need to install $* but not running as root"
  command -v apt-get >/dev/null || die "need to install $* but apt-get is missing"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_java() {
  command -v java >/dev/null && return 0
  apt_install openjdk-17-jre-headless
}

ensure_jars() {
  local want stamp
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  stamp="$LIB_DIR/.stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  # Serialise concurrent downloads (e.g. two instances started at once).
  mkdir -p "$SERVICES_DIR"
  exec 8>"$SERVICES_DIR/.kafka-lib.lock"
  flock -w 900 8 || die "timed out waiting for the jar download lock"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; then
    exec 8>&-
    return 0
  fi
  ensure_java
  command -v mvn >/dev/null || apt_install maven
  local tmp="$LIB_DIR.tmp.$$" attempt
  rm -rf "$tmp"
  for attempt in 1 2 3; do
    log "fetching Kafka jars with Maven (attempt $attempt) ..."
    # (Maven 3.8 -q prints stray ANSI resets even in batch mode: strip them.)
    if mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 |
      sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
      break
    fi
    [ "$attempt" = 3 ] && { rm -rf "$tmp"; die "mvn dependency:copy-dependencies failed"; }
    sleep $((attempt * 5))
  done
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "mvn ran but no kafka_2.13 jar in $tmp"
  echo "$want" >"$tmp/.stamp"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  log "jars ready in $LIB_DIR ($(ls "$LIB_DIR"/*.jar | wc -l) jars, $(basename "$(ls "$LIB_DIR"/kafka_2.13-*.jar)"))"
  exec 8>&-
}

# ---------------------------------------------------------------- helpers

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# ---- AppCDS (class data sharing) archives, kept next to the jars in lib/.cds.
# A dynamic archive is written by a JVM started with -XX:ArchiveClassesAtExit
# when it exits cleanly; later JVMs map it with -XX:SharedArchiveFile. The
# archive is keyed on the java binary; a stale or broken archive is simply
# ignored by the JVM (-Xshare:auto), so this can only make things faster.
cds_archive() { # KIND -> path of the archive for this java
  local j
  j=$(readlink -f "$(command -v java)")
  echo "$CDS_DIR/$1-$(printf '%s %s' "$j" "$(stat -c %Y "$j")" | sha256sum | cut -c1-12).jsa"
}

# Sets CDS_OPTS (array) for a JVM of KIND; if no archive exists yet, asks the
# JVM to dump one to CDS_DUMP (a temp path the caller promotes with cds_promote).
cds_setup() { # KIND
  CDS_OPTS=() CDS_DUMP=""
  [ "$CDS_ENABLED" = 1 ] || return 0
  local jsa
  jsa=$(cds_archive "$1")
  if [ -s "$jsa" ]; then
    CDS_OPTS=("-XX:SharedArchiveFile=$jsa" "-Xlog:cds*=off")
  else
    mkdir -p "$CDS_DIR"
    CDS_DUMP="$jsa.tmp.$$.$RANDOM"
    CDS_OPTS=("-XX:ArchiveClassesAtExit=$CDS_DUMP" "-Xlog:cds*=off")
  fi
}

cds_promote() { # TMP_PATH -> move a finished dump into place
  local tmp=$1
  [ -n "$tmp" ] || return 0
  if [ -s "$tmp" ]; then mv -f "$tmp" "${tmp%.tmp.*}"; else rm -f "$tmp"; fi
}

run_tool() { # CLASS ARGS...
  local class=$1; shift
  java "${TOOL_JVM_OPTS[@]}" -cp "$LIB_DIR/*" "$class" "$@"
}

set_instance() { # NAME
  NAME=$1
  [[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad instance name '$NAME'"
  INST_DIR="$SERVICES_DIR/kafka-$NAME"
  CONF="$INST_DIR/server.properties"
  CLIENT_CONF="$INST_DIR/client.properties"
  DATA_DIR="$INST_DIR/data"
  LOGS_DIR="$INST_DIR/logs"
  PID_FILE="$INST_DIR/kafka.pid"
  READY_FILE="$INST_DIR/ready"
  PORT_FILE="$INST_DIR/port"
}

lock_instance() {
  mkdir -p "$INST_DIR"
  exec 9>"$INST_DIR/.lock"
  flock -w 300 9 || die "timed out waiting for the lock on $INST_DIR"
}

# Is PID a live broker JVM of *this* instance (guards against pid reuse)?
is_ours() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}

# Pid of this instance's broker, or empty. Falls back to whoever listens on the
# instance's port if that process was started with our config (lost pid file).
instance_pid() {
  local pid=""
  [ -f "$PID_FILE" ] && pid=$(cat "$PID_FILE" 2>/dev/null || true)
  if is_ours "$pid"; then echo "$pid"; return 0; fi
  local port=""
  [ -f "$PORT_FILE" ] && port=$(cat "$PORT_FILE")
  if [ -n "$port" ] && command -v ss >/dev/null; then
    for pid in $(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
      if is_ours "$pid"; then echo "$pid" >"$PID_FILE"; echo "$pid"; return 0; fi
    done
  fi
  return 0
}

api_ready() { # PORT
  local rc=0
  cds_setup topics
  timeout 30 java "${TOOL_JVM_OPTS[@]}" "${CDS_OPTS[@]}" -cp "$LIB_DIR/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$1" --command-config "$CLIENT_CONF" --list >/dev/null 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then cds_promote "$CDS_DUMP"; else rm -f "$CDS_DUMP"; fi
  return "$rc"
}

show_logs() {
  local f
  for f in "$LOGS_DIR/stdout.log" "$LOGS_DIR/server.log"; do
    [ -s "$f" ] || continue
    log "---- tail $f"
    tail -n 40 "$f" >&2
  done
}

new_cluster_id() {
  # 16 random bytes, URL-safe base64 without padding (Kafka's Uuid format);
  # Kafka avoids ids starting with '-' because they confuse CLI parsing.
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

write_config() { # PORT CONTROLLER_PORT
  local port=$1 cport=$2
  local voters=${BOX_KAFKA_VOTERS:-$NODE_ID@127.0.0.1:$cport}
  mkdir -p "$DATA_DIR" "$LOGS_DIR"
  cat >"$CONF.tmp" <<EOF
# Generated by scripts/kafka.sh for instance '$NAME' -- edits are overwritten.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=4
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=$REPLICATION
# Fewer internal partitions than the default 50: the first consumer group /
# transactional producer on a fresh broker becomes ready much faster.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=4
log.retention.hours=168
EOF
  mv "$CONF.tmp" "$CONF"
  cat >"$CLIENT_CONF" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
  echo "$port" >"$PORT_FILE"
}

format_storage() {
  [ -f "$DATA_DIR/meta.properties" ] && return 0
  local cid_file="$INST_DIR/cluster.id" cid
  if [ -n "${BOX_KAFKA_CLUSTER_ID:-}" ]; then
    echo "$BOX_KAFKA_CLUSTER_ID" >"$cid_file"
  fi
  [ -s "$cid_file" ] || new_cluster_id >"$cid_file"
  cid=$(cat "$cid_file")
  log "formatting $DATA_DIR (cluster id $cid)"
  run_tool kafka.tools.StorageTool format --ignore-formatted -t "$cid" -c "$CONF" \
    >"$LOGS_DIR/format.log" 2>&1 || { cat "$LOGS_DIR/format.log" >&2; die "StorageTool format failed"; }
}

# ---------------------------------------------------------------- commands

# True once the broker logged "Kafka Server started" after byte offset $1 of
# server.log (log4j2.properties keeps that INFO line).
logged_started() {
  local off=$1 f="$LOGS_DIR/server.log" size
  [ -f "$f" ] || return 1
  size=$(stat -c %s "$f")
  [ "$size" -lt "$off" ] && off=0 # rolled over
  tail -c +$((off + 1)) "$f" | grep -q 'Kafka Server started'
}

wait_ready() { # PID PORT DEADLINE_EPOCH [LOG_OFFSET]
  local pid=$1 port=$2 deadline=$3 off=${4:-} t_start=$SECONDS
  while :; do
    if ! is_ours "$pid"; then
      show_logs
      die "broker '$NAME' (pid $pid) exited during start-up"
    fi
    # Each API probe is a short JVM; don't compete with the starting broker
    # for the CPU until it says it has started (or 20 s passed, in case the
    # log line is missing).
    if port_open "$port" &&
      { [ -z "$off" ] || logged_started "$off" || [ $((SECONDS - t_start)) -ge 20 ]; } &&
      api_ready "$port"; then
      echo "$pid" >"$READY_FILE"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      show_logs
      die "broker '$NAME' did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
}

cmd_start() {
  [ $# -eq 3 ] || usage
  set_instance "$1"
  local port=$2 cport=$3
  [[ "$port" =~ ^[0-9]+$ && "$cport" =~ ^[0-9]+$ ]] || die "ports must be numbers"
  lock_instance
  local pid started t0
  t0=$(date +%s%N)
  pid=$(instance_pid)
  if [ -n "$pid" ]; then
    local old_port=""
    [ -f "$PORT_FILE" ] && old_port=$(cat "$PORT_FILE")
    if [ "$old_port" != "$port" ]; then
      die "instance '$NAME' is running (pid $pid) on port $old_port, not $port; stop it first"
    fi
    if [ "$(cat "$READY_FILE" 2>/dev/null)" = "$pid" ] && port_open "$port"; then
      log "kafka '$NAME' already running (pid $pid, 127.0.0.1:$port)"
      return 0
    fi
    ensure_jars
    log "kafka '$NAME' is running (pid $pid) but not yet ready; waiting"
    wait_ready "$pid" "$port" $(($(date +%s) + START_TIMEOUT))
    log "kafka '$NAME' ready on 127.0.0.1:$port"
    return 0
  fi
  rm -f "$PID_FILE" "$READY_FILE"
  local p
  for p in "$port" "$cport"; do
    if port_open "$p"; then
      die "port $p is already in use by another process (not kafka '$NAME')"
    fi
  done

  ensure_java
  ensure_jars
  write_config "$port" "$cport"
  format_storage

  # A dump left by a broker that did not stop cleanly may be incomplete.
  [ -f "$INST_DIR/cds.pending" ] && { rm -f "$(cat "$INST_DIR/cds.pending")" "$INST_DIR/cds.pending"; }
  cds_setup broker
  [ -n "$CDS_DUMP" ] && echo "$CDS_DUMP" >"$INST_DIR/cds.pending"

  log "starting kafka '$NAME' on 127.0.0.1:$port (controller $cport), data in $DATA_DIR"
  : >"$LOGS_DIR/stdout.log"
  local log_off=0
  [ -f "$LOGS_DIR/server.log" ] && log_off=$(stat -c %s "$LOGS_DIR/server.log")
  # setsid: own session, survives the caller; fds 8/9 (locks) closed for the JVM.
  (
    cd "$INST_DIR"
    exec 8>&- 9>&-
    exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
      java "${HEAP_OPTS[@]}" "${BROKER_JVM_OPTS[@]}" "${CDS_OPTS[@]}" \
      -Dkafka.logs.dir="$LOGS_DIR" \
      -Dlog4j2.configurationFile="$LOG4J_CONF" \
      -cp "$LIB_DIR/*" kafka.Kafka "$CONF" \
      </dev/null >>"$LOGS_DIR/stdout.log" 2>&1
  ) &
  # Wait for the pid file written by the child.
  local i
  for i in $(seq 1 100); do
    [ -s "$PID_FILE" ] && is_ours "$(cat "$PID_FILE")" && break
    sleep 0.05
  done
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  [ -n "$pid" ] || { show_logs; die "broker '$NAME' did not start"; }
  wait_ready "$pid" "$port" $(($(date +%s) + START_TIMEOUT)) "$log_off"
  started=$(( ($(date +%s%N) - t0) / 1000000 ))
  log "kafka '$NAME' ready on 127.0.0.1:$port (pid $pid, ${started} ms)"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  set_instance "$1"
  [ -d "$INST_DIR" ] || { log "kafka '$NAME' not running (no $INST_DIR)"; return 0; }
  lock_instance
  local pid port="" i
  [ -f "$PORT_FILE" ] && port=$(cat "$PORT_FILE")
  pid=$(instance_pid)
  rm -f "$READY_FILE"
  if [ -z "$pid" ]; then
    rm -f "$PID_FILE"
    log "kafka '$NAME' not running"
    return 0
  fi
  log "stopping kafka '$NAME' (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$pid" 2>/dev/null && [ -f "$INST_DIR/cds.pending" ]; then
    # Clean exit: the class archive it dumped is complete.
    cds_promote "$(cat "$INST_DIR/cds.pending")"
    rm -f "$INST_DIR/cds.pending"
  fi
  if kill -0 "$pid" 2>/dev/null; then
    log "kafka '$NAME' still alive after ${STOP_TIMEOUT}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "could not kill pid $pid"
  fi
  rm -f "$PID_FILE"
  if [ -n "$port" ]; then
    for ((i = 0; i < 100; i++)); do
      port_open "$port" || break
      sleep 0.1
    done
    port_open "$port" && die "port $port still open after stopping kafka '$NAME'"
  fi
  log "kafka '$NAME' stopped (data kept in $DATA_DIR)"
}

cmd_status() {
  [ $# -eq 1 ] || usage
  set_instance "$1"
  local pid port=""
  [ -f "$PORT_FILE" ] && port=$(cat "$PORT_FILE")
  pid=$(instance_pid)
  if [ -n "$pid" ] && [ -n "$port" ] && port_open "$port"; then
    echo "kafka '$NAME': running (pid $pid, 127.0.0.1:$port)"
    return 0
  fi
  if [ -n "$pid" ]; then
    echo "kafka '$NAME': starting (pid $pid, port ${port:-?} not open yet)"
    return 3
  fi
  echo "kafka '$NAME': stopped"
  return 3
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  restart)
    [ $# -eq 3 ] || usage
    bash "${BASH_SOURCE[0]}" stop "$1"
    bash "${BASH_SOURCE[0]}" start "$@"
    ;;
  jars) ensure_java; ensure_jars; log "jars ok: $LIB_DIR" ;;
  tool)
    [ $# -ge 1 ] || usage
    ensure_java; ensure_jars
    run_tool "$@"
    ;;
  *) usage ;;
esac
