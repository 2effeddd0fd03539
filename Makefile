# boxoffice -- thin wrappers around scripts/ and the Go binary.
#
#   make services        start Redis, MariaDB, Kafka locally (installs what is missing; idempotent)
#   make services-stop   stop them (data kept in .services/)
#   make services-cluster       a Redis Cluster (3 masters + 3 replicas) and three Kafka brokers on
#                               loopback (scripts/cluster.sh; idempotent); services-cluster-stop stops them;
#                               eval "$(bash scripts/cluster.sh env)" points the binary at them
#   make test            go vet + go test -race against the local services, then
#                        make test-standins (what CI runs)
#   make test-standins   the integration packages against the dev stand-ins (miniredis,
#                        kfake, go-mysql-server); dev/standins.skip says what they skip and why
#   make run             boxoffice dev: everything in one process, embedded services, nothing to install
#   make run-real        migrate, seed, writer (background) + gateway (foreground, --trust-body-member) on the real services
#   make bench           bin/boxoffice bench compare, report in bench/report/
#                        (start the gateway with --strategies async,pessimistic,distlock
#                        --enable-unsafe --trust-body-member, or compare skips what it does not serve)
#   make bench-perf      issue 14's measurements in one sitting (own gateway, writer, database,
#                        Redis prefix, topic, group; stopped at the end): table, bench/out/perf.json,
#                        report in bench/out/perf/ (PERFFLAGS resizes it)
#   make bench-room      issue 17's waiting room at full size (100,000 arrivals, 10,000 before opening,
#                        1,000/s, 1,000 seats, 10,000 SSE streams; own gateway, writer, database, Redis prefix,
#                        topic, group): table and audits, bench/out/room.json, logs in bench/out/room/logs
#                        (ROOMFLAGS resizes it)
#   make bench-buckets   one hot concert with its stock in 1, 3 and 6 buckets (seed --stock-buckets), on the
#                        single Redis and the Redis Cluster: admissions/s, each master's CPU share, the
#                        ceiling the busiest master sets (BENCHTIME=40000x; needs make services-cluster)
#   make faults          the fault suite at full size: table, bench/out/faults.json, logs in bench/out/faults/
#   make faults-cluster  the cluster set at full size (a writer, a Redis master, a broker killed on a Redis
#                        Cluster and three brokers of its own, 3 gateways, 2 writers, 24 concerts): table,
#                        bench/out/faults-cluster.json, logs in bench/out/faults-cluster/
#   make hostile         the hostile-client suite at full size: table, bench/out/hostile.json, logs in bench/out/hostile/
#   make room-screenshots  the waiting room's page driven in headless Chromium through its whole flow
#                        (app TestRoomPage, on the services), its PNGs written to docs/room/ for the README
#   make up / down       the docker compose stack (needs a Docker engine)
#   make up-scale / down-scale  docker-compose.scale.yml: Redis Cluster, three brokers, 3 gateways behind
#                        HAProxy, 2 writers (needs a Docker engine; SCALE='--scale gateway=5 ...' resizes)
#
# make test PKG=./store TESTFLAGS='-run TestX -v'   narrows the run (TESTFLAGS the stand-in run too);
# make test SERVICES=                              skips starting the services;
# make test CLUSTER=                               skips starting the cluster services (the
#                                                  cluster tests then skip);
# make test STANDINS=                              skips the stand-in run;
# make test-standins STANDINS_PKGS=./store/        narrows the stand-in run's packages.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
BIN       := bin/boxoffice
PKG       ?= ./...
TESTFLAGS ?=
SERVICES  ?= services
STANDINS  ?= standins
# make up-scale's replicas of the scaled services.
SCALE     ?= --scale gateway=3 --scale writer=2
# make test fuzzes each parser of hostile input for this many inputs (make fuzz FUZZTIME=5000000x
# for longer; FUZZTIME= leaves it out). A count, not a duration: Go 1.26's coordinator can fail
# a target with "context deadline exceeded" when a -fuzztime duration ends while a worker is
# busy (go.dev/issue/75804, fixed in Go 1.27), which failed CI once. Corpora: testdata/fuzz.
FUZZTIME  ?= 100000x
FUZZ      := ./event/:FuzzDecode ./event/:FuzzCanonicalAgreesWithJSON ./auth/:FuzzMember ./auth/:FuzzPaymentSignature ./gateway/:FuzzCanonicalBodyAgreesWithDecoder
# Exports BOX_REDIS_ADDR, BOX_KAFKA_BROKERS, BOX_MYSQL_DSN, BOX_PROMETHEUS_BIN,
# BOX_KAFKA_SCRIPT, BOX_SERVICES_DIR into the recipe's shell.
SERVICES_ENV := eval "$$(bash scripts/services.sh env)"
# make test also starts the Redis Cluster and three brokers of scripts/cluster.sh
# for the cluster tests (scaleout/), which read BOX_CLUSTER_REDIS_ADDR and
# BOX_CLUSTER_KAFKA_BROKERS; the other tests keep the single-node services.
CLUSTER   ?= services-cluster
CLUSTER_ENV := $(if $(CLUSTER),eval "$$(bash scripts/cluster.sh test-env)",export BOX_CLUSTER_TESTS=off)

.PHONY: all build services services-stop services-status services-env services-cluster services-cluster-stop services-cluster-status services-cluster-env test test-standins fuzz vet fmt run run-real bench bench-perf bench-room bench-buckets faults faults-cluster hostile room-screenshots up down up-scale down-scale clean

all: build

build:
	$(GO) build -o $(dir $(BIN)) ./cmd/boxoffice ./cmd/boxoffice-dev

services:
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

services-status:
	bash scripts/services.sh status

services-env:
	@bash scripts/services.sh env

services-cluster:
	bash scripts/cluster.sh start

services-cluster-stop:
	bash scripts/cluster.sh stop

services-cluster-status:
	bash scripts/cluster.sh status

services-cluster-env:
	@bash scripts/cluster.sh env

vet:
	$(GO) vet ./...

# The contract matrix: every package against the real services, then the
# integration packages once more against the stand-ins of `make run`.
test: $(SERVICES) $(CLUSTER)
	$(GO) vet ./...
	$(SERVICES_ENV); $(CLUSTER_ENV); export BOX_REQUIRE_SERVICES=1; \
	$(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) $(PKG)
ifneq ($(STANDINS),)
	GO=$(GO) bash scripts/standins-test.sh $(TESTFLAGS)
endif
ifneq ($(FUZZTIME),)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)
endif

# Each fuzz target of the parsers that read what anyone may send: the event
# decoder (the topic), the member token, the payment signature, the body.
fuzz:
	@for t in $(FUZZ); do \
	  echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; \
	done

# Starts its own stand-ins (on free 127.0.0.1 ports) and stops them on exit;
# needs no services. The packages are STANDINS_PKGS in the script.
test-standins:
	GO=$(GO) bash scripts/standins-test.sh $(TESTFLAGS)

fmt:
	$(GO) fmt ./...

# The whole system in one process, nothing installed (embedded Redis, Kafka,
# MySQL); a BOX_* address that is set selects the real service instead.
run: build
	$(BIN) dev

# The separate processes against the real services of `make services`.
run-real: build $(SERVICES)
	$(SERVICES_ENV); \
	$(BIN) migrate && \
	$(BIN) seed --concerts 1 --capacity 100 --members 1000 && { \
	  $(BIN) writer & writer_pid=$$!; \
	  trap 'kill $$writer_pid 2>/dev/null || true; wait $$writer_pid 2>/dev/null || true' EXIT; \
	  trap 'exit 130' INT TERM; \
	  $(BIN) gateway --trust-body-member --address-rate 0 --max-conns-per-address 0; }

bench: build $(SERVICES)
	mkdir -p bench/report
	$(SERVICES_ENV); \
	$(BIN) bench compare --rate 15000 --duration 10s --capacity 200000 --members 250000 --max-inflight 2000 --rounds 5 --warmup 3s \
	  --report bench/report --json bench/report/results.json

# Issue 14's measurements in one sitting (README: Performance to the machine's
# limit), about ten minutes at full size. It starts what it needs: the services,
# then (boxoffice bench perf itself) migrate, seed, a writer and gateways on free
# loopback ports, all on a database, Redis prefix, topic and group of its own so
# that nothing else's data is touched; it stops them at the end. PERFFLAGS
# resizes or narrows it, e.g. a trial:
#   PERFFLAGS='--duration 5s --step 2s --warmup 1s --conns 2000 --ramp-vus 200 --ramp 2s --hold 4s --ramp-members 50000'
PERFFLAGS ?=
PERF_DB   ?= boxoffice_perf
bench-perf: build $(SERVICES)
	mkdir -p bench/out/perf
	$(SERVICES_ENV); \
	dsn=$$BOX_MYSQL_DSN; auth=$${dsn%%@*}; addr=$${dsn#*tcp(}; addr=$${addr%%)*}; q=; \
	case $$dsn in *\?*) q="?$${dsn#*\?}";; esac; \
	mariadb --protocol=tcp -h"$${addr%:*}" -P"$${addr##*:}" -u"$${auth%%:*}" -p"$${auth#*:}" \
	  -e 'CREATE DATABASE IF NOT EXISTS `$(PERF_DB)`'; \
	export BOX_MYSQL_DSN="$${dsn%%)/*})/$(PERF_DB)$$q" BOX_REDIS_PREFIX=bo-perf BOX_TOPIC=perf-reservations \
	  BOX_GROUP=perf-writer BOX_NOTIFICATIONS_TOPIC=perf-notifications; \
	$(BIN) bench perf --json bench/out/perf.json --report bench/out/perf $(PERFFLAGS)

# Issue 17's waiting room at full size (README: bench room; docs/bench-room.md),
# a minute or two. Like bench-perf it starts its own writer and gateway from
# bin/boxoffice on a database, Redis prefix, topic and group of its own, and
# stops them at the end; it raises its open-file limit (and so the gateway's)
# for the 10,000 streams. ROOMFLAGS resizes it, e.g. a trial:
#   ROOMFLAGS='--arrivals 20000 --pre-open 2000 --streams 2000 --capacity 200 --rate 200'
ROOMFLAGS ?=
ROOM_DB   ?= boxoffice_room
bench-room: build $(SERVICES)
	mkdir -p bench/out/room
	$(SERVICES_ENV); \
	dsn=$$BOX_MYSQL_DSN; auth=$${dsn%%@*}; addr=$${dsn#*tcp(}; addr=$${addr%%)*}; q=; \
	case $$dsn in *\?*) q="?$${dsn#*\?}";; esac; \
	mariadb --protocol=tcp -h"$${addr%:*}" -P"$${addr##*:}" -u"$${auth%%:*}" -p"$${auth#*:}" \
	  -e 'CREATE DATABASE IF NOT EXISTS `$(ROOM_DB)`'; \
	export BOX_MYSQL_DSN="$${dsn%%)/*})/$(ROOM_DB)$$q" BOX_REDIS_PREFIX=bo-room BOX_TOPIC=room-reservations \
	  BOX_GROUP=room-writer BOX_NOTIFICATIONS_TOPIC=room-notifications; \
	$(BIN) bench room --json bench/out/room.json $(ROOMFLAGS)

# Every fault scenario at full size (20,000 requests at 2,000/s, the fault
# half-way), each on services of its own: free loopback ports, a temporary
# directory, stopped at the end (the shared services are not touched, so
# SERVICES is not needed). FAULTSFLAGS narrows or resizes the run, e.g.
# FAULTSFLAGS='--scenarios kafka-stop --requests 5000'.
FAULTSFLAGS ?=
# One hot concert: a Go benchmark of stock/ (buckets_bench_test.go) on both Redis.
BENCHTIME ?= 40000x
bench-buckets: $(SERVICES) $(CLUSTER)
	$(SERVICES_ENV); $(CLUSTER_ENV); \
	$(GO) test -run '^$$' -bench HotConcert -benchtime $(BENCHTIME) ./stock

faults: build
	mkdir -p bench/out
	$(BIN) faults --json bench/out/faults.json --logs bench/out/faults $(FAULTSFLAGS)

# The cluster set at full size (20,000 requests at 2,000/s over 24 concerts of
# 600 seats, the fault half-way): one Redis Cluster (3 masters, 3 replicas)
# and three brokers of scripts/cluster.sh on free ports with a state directory
# of its own, started once for its four scenarios (never the shared cluster of
# services-cluster, whose nodes others use), a MariaDB of its own, 3 gateways
# and 2 writers as processes; each concert audited, then reconcile. About four
# minutes. FAULTSFLAGS narrows or resizes it, e.g.
# FAULTSFLAGS='--scenarios cluster-broker-kill --requests 5000'.
faults-cluster: build
	mkdir -p bench/out
	$(BIN) faults --cluster --json bench/out/faults-cluster.json --logs bench/out/faults-cluster $(FAULTSFLAGS)

# Every attack of the hostile-client suite at full size (10,000 slow and
# 10,000 idle connections, a burst of 5,000 reservations, a well-behaved
# client at 200/s throughout) against one gateway with tokens on and its
# default edge limits, on services of its own like the fault suite's.
# HOSTILEFLAGS narrows or resizes the run, e.g. HOSTILEFLAGS='--phases
# tokens,payment' or HOSTILEFLAGS=--small.
HOSTILEFLAGS ?=
hostile: build
	mkdir -p bench/out
	$(BIN) hostile --json bench/out/hostile.json --logs bench/out $(HOSTILEFLAGS)

# Needs chromium (Debian's package; .ci/run installs it).
room-screenshots: $(SERVICES)
	$(SERVICES_ENV); BOX_SCREENSHOTS=$(CURDIR)/docs/room $(GO) test -count=1 -run '^TestRoomPage$$' -v ./app/

up:
	docker compose up -d --build

down:
	docker compose down -v

up-scale:
	docker compose -f docker-compose.scale.yml up -d --build $(SCALE)

down-scale:
	docker compose -f docker-compose.scale.yml down -v

clean:
	rm -rf bin bench/report/tmp
	$(GO) clean -testcache
