package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Lag is how far a consumer group is behind a topic: per partition, the
// high-water mark less the group's committed offset (the log's start when it
// has committed nothing, where a new writer group begins).
type Lag struct {
	Partitions map[int32]int64
	Total      int64
}

// GroupLag reads a group's lag on a topic. The high-water marks are read
// before the committed offsets, so a lag of 0 means the group had consumed
// (and, for the writer, committed to MySQL) everything produced before the
// call began.
func GroupLag(ctx context.Context, brokers []string, group, topic string) (Lag, error) {
	type result struct {
		lag Lag
		err error
	}
	done := make(chan result, 1)
	go func() {
		lag, err := groupLag(brokers, group, topic)
		done <- result{lag, err}
	}()
	select {
	case r := <-done:
		return r.lag, r.err
	case <-ctx.Done():
		return Lag{}, fmt.Errorf("lag of group %s on %s: %w", group, topic, ctx.Err())
	}
}

func groupLag(brokers []string, group, topic string) (Lag, error) {
	client, err := sarama.NewClient(brokers, baseConfig("boxoffice-lag"))
	if err != nil {
		return Lag{}, fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return Lag{}, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	high := map[int32]int64{}
	low := map[int32]int64{}
	for _, p := range parts {
		if high[p], err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			return Lag{}, fmt.Errorf("high-water mark of %s/%d: %w", topic, p, err)
		}
		if low[p], err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			return Lag{}, fmt.Errorf("log start of %s/%d: %w", topic, p, err)
		}
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return Lag{}, fmt.Errorf("kafka admin: %w", err)
	}
	committed, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		// A group that never joined (some brokers say so instead of
		// answering -1 offsets): it starts at the log's start.
		committed, err = &sarama.OffsetFetchResponse{}, nil
	}
	if err != nil {
		return Lag{}, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	lag := Lag{Partitions: map[int32]int64{}}
	for _, p := range parts {
		at := low[p]
		if b := committed.GetBlock(topic, p); b != nil && b.Offset >= 0 {
			at = b.Offset
		}
		n := max(high[p]-at, 0)
		lag.Partitions[p] = n
		lag.Total += n
	}
	return lag, nil
}
