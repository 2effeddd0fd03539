#!/usr/bin/env bash
# The stand-in half of the contract matrix: the integration packages' tests
# against the dev stand-ins (miniredis, kfake, go-mysql-server; see
# dev/README.md), as `make test` runs them against the real services. The
# tests a stand-in cannot run are listed, with the reason, in dev/standins.skip;
# they are printed first and skipped.
#
#   scripts/standins-test.sh [go test flags]     e.g. -run TestApplyBatch -v
#   STANDINS_PKGS='./store/' scripts/standins-test.sh
#
# A -skip among the flags replaces the file's. The stand-ins run in one
# process of their own on free 127.0.0.1 ports, stopped on every exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The packages run against the stand-ins.
DEFAULT_PKGS='./store/ ./stock/ ./gateway/ ./bench/ ./app/ ./ranking/'
PKGS=${STANDINS_PKGS:-$DEFAULT_PKGS}
SKIP_FILE=dev/standins.skip
GO=${GO:-go}
# -race and -timeout as in make test's real-service run.
GOTEST_FLAGS=(-race -count=1 -timeout 20m)

log() { printf 'standins-test: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- skip list

names=() reasons=()
while IFS= read -r line || [ -n "$line" ]; do
  case $line in '' | '#'*) continue ;; esac
  read -r name reason <<<"$line"
  [ -n "$reason" ] || die "$SKIP_FILE: '$name' has no reason"
  case $name in */*) die "$SKIP_FILE: '$name': top-level tests only (go test splits -skip at '/')" ;; esac
  names+=("$name")
  reasons+=("$reason")
done <"$SKIP_FILE"

# Every entry must name a test of the packages: a renamed or moved test
# would otherwise leave a line that skips nothing and still claims a reason.
# (With STANDINS_PKGS narrowing the run, an entry may belong elsewhere.)
listing=$("$GO" test "${GOTEST_FLAGS[@]}" -list '.*' $PKGS) || die "go test -list failed"
tests=$(awk '$1 == "ok" { pkg = $2; sub(".*/", "", pkg); for (i in seen) print seen[i] " " pkg; delete seen; n = 0; next }
             /^(Test|Benchmark|Example|Fuzz)/ { seen[n++] = $1 }' <<<"$listing")

skip=""
shown=0
printf '\nskipped on stand-ins (%s):\n' "$SKIP_FILE"
for i in "${!names[@]}"; do
  pkgs=$(awk -v re="^(${names[$i]})\$" '$1 ~ re { print $2 }' <<<"$tests" | sort -u | paste -sd, -)
  if [ -z "$pkgs" ]; then
    [ "$PKGS" = "$DEFAULT_PKGS" ] || continue
    die "$SKIP_FILE: '${names[$i]}' names no test in $PKGS; update or remove the line"
  fi
  printf '  %-34s %-8s %s\n' "${names[$i]}" "$pkgs" "${reasons[$i]}"
  skip+="${skip:+|}${names[$i]}"
  shown=$((shown + 1))
done
[ "$shown" -gt 0 ] || printf '  (none in %s)\n' "$PKGS"
echo

# ---------------------------------------------------------------- stand-ins

tmp="" pid="" test_pid=""
stop_standins() {
  # An interrupted run: the tests first, they are the stand-ins' clients.
  if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
    kill -TERM "$test_pid" 2>/dev/null || true
    wait "$test_pid" 2>/dev/null || true
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do # 10 s for an orderly stop, then SIGKILL
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [ -z "$tmp" ] || rm -rf "$tmp"
}
trap stop_standins EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp=$(mktemp -d)

"$GO" build -o "$tmp/standins" ./dev/standins
"$tmp/standins" >"$tmp/env" 2>"$tmp/standins.log" &
pid=$!
# The last line it prints is dev.StandInsUp.
for _ in $(seq 300); do # 30 s
  grep -q '^# stand-ins up' "$tmp/env" && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/standins.log" >&2; die "the stand-ins exited"; }
  sleep 0.1
done
grep -q '^# stand-ins up' "$tmp/env" || { cat "$tmp/standins.log" >&2; die "the stand-ins did not come up in 30 s"; }

# Nothing but the stand-ins: drop every BOX_* a shell or make test exported.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^BOX_' || true)
eval "$(cat "$tmp/env")"
export BOX_REQUIRE_SERVICES=1 # a stand-in that does not answer fails, as in CI
export BOX_STANDINS=1         # what a stand-in lacks by design is skipped by name (store's LOAD DATA half)
log "stand-ins: redis $BOX_REDIS_ADDR, kafka $BOX_KAFKA_BROKERS, mysql $BOX_MYSQL_DSN"

# ---------------------------------------------------------------- tests

t0=$SECONDS
rc=0
# In the background, so that a SIGINT or SIGTERM of this script is handled
# at once (bash runs traps only between foreground commands).
"$GO" test "${GOTEST_FLAGS[@]}" ${skip:+-skip "^($skip)\$"} "$@" $PKGS &
test_pid=$!
wait "$test_pid" || rc=$?
test_pid=""
log "stand-in run: $((SECONDS - t0)) s, exit $rc"
if [ "$rc" != 0 ]; then
  log "stand-ins' log, last 40 lines:"
  tail -n 40 "$tmp/standins.log" >&2
fi
exit "$rc"
