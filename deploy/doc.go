// Package deploy holds no code, only the tests that keep the deployment files
// honest: docker-compose.yml and docker-compose.scale.yml, the Dockerfile,
// deploy/prometheus/, deploy/redis/cluster.conf, deploy/haproxy/haproxy.cfg
// and the Grafana provisioning and dashboards under grafana/.
//
// compose_test.go loads the compose files with compose-go, the loader Docker
// Compose itself uses (interpolation, profiles, extends, the spec's schema).
// deploy_test.go checks both stacks against the code without any service:
// every BOX_* variable is a flag of its subcommand, ports and scrape targets
// line up, health checks back every depends_on condition, and every
// dashboard expression names metrics and labels that the gateway and writer
// export. scale_test.go checks the scale stack's own parts against
// scripts/cluster.sh and the binary: services --scale can multiply, the
// Redis Cluster's settings and addresses (and, on loopback, six local
// redis-server nodes with a node's configuration made into a cluster that
// announces host names to go-redis's cluster client), the KRaft quorum and
// replication, HAProxy (haproxy -c) and Prometheus's DNS discovery of every
// replica.
//
// services_test.go starts a Redis of its own through scripts/services.sh
// (a temporary state folder, a free port) and checks that it keeps an
// append-only file, fsynced as BOX_REDIS_APPENDFSYNC says.
//
// prometheus_test.go runs a real Prometheus against an in-process gateway and
// writer under a short load and evaluates every dashboard expression through
// Prometheus's HTTP API. It needs Redis, MySQL, Kafka (the same BOX_*
// variables as the binary) and a prometheus binary (BOX_PROMETHEUS_BIN,
// default /usr/bin/prometheus); it skips without them, or fails when
// BOX_REQUIRE_SERVICES=1.
package deploy
