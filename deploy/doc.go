// Package deploy holds no code, only the tests that keep the deployment files
// honest: docker-compose.yml, the Dockerfile, deploy/prometheus/prometheus.yml
// and the Grafana provisioning and dashboards under grafana/.
//
// deploy_test.go checks them against the code without any service: every
// BOX_* variable is a flag of its subcommand, ports and scrape targets line
// up, health checks back every depends_on condition, and every dashboard
// expression names metrics and labels that the gateway and writer export.
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
