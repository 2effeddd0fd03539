package kafka_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/servicetest"
)

// admin opens a cluster admin on the real broker of BOX_KAFKA_BROKERS and
// returns a topic name of the test's own, deleted at the end.
func admin(t *testing.T) (sarama.ClusterAdmin, []string, string) {
	t.Helper()
	cfg := servicetest.Config(t)
	a, err := sarama.NewClusterAdmin(cfg.KafkaBrokers, sarama.NewConfig())
	if err != nil {
		servicetest.Unavailable(t, "kafka at "+strings.Join(cfg.KafkaBrokers, ","), err)
	}
	t.Cleanup(func() {
		a.DeleteTopic(cfg.Topic)
		a.Close()
	})
	return a, cfg.KafkaBrokers, cfg.Topic
}

// TestEnsureTopicsCreatesWithTheSpec: a new topic gets the partitions,
// replication factor and min.insync.replicas asked for, read back from the
// broker; a second call leaves the topic as it is.
func TestEnsureTopicsCreatesWithTheSpec(t *testing.T) {
	a, brokers, topic := admin(t)
	spec := kafka.TopicSpec{Partitions: 3, ReplicationFactor: 1, MinInsyncReplicas: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, brokers, spec, topic); err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(ctx, brokers, kafka.TopicSpec{Partitions: 1, ReplicationFactor: 1}, topic); err != nil {
		t.Fatalf("topic exists: %v", err)
	}

	md, err := a.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 {
		t.Fatalf("describe topic: %v (%d)", err, len(md))
	}
	if len(md[0].Partitions) != 3 {
		t.Errorf("%d partitions, want 3", len(md[0].Partitions))
	}
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != 1 {
			t.Errorf("partition %d: %d replicas, want 1", p.ID, len(p.Replicas))
		}
	}

	entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Value != "1" {
		t.Fatalf("min.insync.replicas: %+v, want 1", entries)
	}
	// Set on the topic, not inherited: the topic says what it was created
	// with whatever the brokers' default is.
	if entries[0].Source != sarama.SourceTopic {
		t.Errorf("min.insync.replicas comes from %v, want the topic's own setting", entries[0].Source)
	}
}

// TestEnsureTopicsMoreReplicasThanBrokers: asking for more replicas than the
// cluster has brokers fails, says so and creates nothing.
func TestEnsureTopicsMoreReplicasThanBrokers(t *testing.T) {
	a, brokers, topic := admin(t)
	cluster, _, err := a.DescribeCluster()
	if err != nil {
		t.Fatal(err)
	}
	rf := int16(len(cluster) + 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = kafka.EnsureTopics(ctx, brokers, kafka.TopicSpec{Partitions: 1, ReplicationFactor: rf, MinInsyncReplicas: 1}, topic)
	if err == nil {
		t.Fatalf("replication factor %d on %d brokers: no error", rf, len(cluster))
	}
	t.Log(err)
	want := "replication factor " + strconv.Itoa(int(rf)) + " needs at least that many brokers, and the cluster has " + strconv.Itoa(len(cluster))
	if !strings.Contains(err.Error(), topic) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to name the topic and say %q", err, want)
	}
	md, err := a.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatal(err)
	}
	if len(md) == 1 && len(md[0].Partitions) > 0 {
		t.Errorf("topic %s was created anyway (%d partitions)", topic, len(md[0].Partitions))
	}
}
