// Package scaleout holds the scale-out tests: the system on a Redis Cluster
// (3 masters, each with a replica) and three Kafka brokers, the services of
// `make services-cluster` (scripts/cluster.sh), with several gateways over
// many concerts whose slots land on every master, judged by the same audit
// as the single-node tests: per concert no oversell, no leak, no lost or
// duplicated row. It has no code of its own beyond its tests.
package scaleout
