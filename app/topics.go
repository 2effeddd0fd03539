package app

import (
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
)

// topicSpec is how seed and the notifier create the topics that are missing.
func topicSpec(cfg config.Config) kafka.TopicSpec {
	return kafka.TopicSpec{
		Partitions:        int32(cfg.Partitions),
		ReplicationFactor: int16(cfg.ReplicationFactor), // Validate keeps it within int16
		MinInsyncReplicas: cfg.MinInsyncReplicas,
	}
}
