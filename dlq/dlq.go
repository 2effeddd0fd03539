// Package dlq is the operator's side of the dead-letter topic: reading what
// the writer parked there (a bounded read up to the high-water marks, never a
// consumer group, so looking commits nothing) and putting a message, or an
// operator's fix of it, back on the reservations topic without creating a
// reservation twice or letting Redis and MySQL drift apart.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/kafka"
)

// Header names the writer sets on a dead-lettered message: kafka's, the
// one list the producer and the reader share.
const (
	HeaderReason          = kafka.HeaderReason
	HeaderSourceTopic     = kafka.HeaderSourceTopic
	HeaderSourcePartition = kafka.HeaderSourcePartition
	HeaderSourceOffset    = kafka.HeaderSourceOffset
)

// ErrNoTopic means the topic does not exist: nothing was ever dead-lettered
// there, or --topic names another deployment's topic.
var ErrNoTopic = errors.New("topic does not exist")

// Header is one record header, kept in the order the producer wrote them.
type Header struct {
	Key, Value string
}

// Message is one record of the dead-letter topic.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header returns the value of the first header named key, or "".
func (m Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Source is where the message was read before it was dead-lettered
// (topic/partition/offset), or "-" when the writer gave none (a reservation
// that could not be written at all carries only its reason).
func (m Message) Source() string {
	t, p, o := m.Header(HeaderSourceTopic), m.Header(HeaderSourcePartition), m.Header(HeaderSourceOffset)
	if t == "" && p == "" && o == "" {
		return "-"
	}
	return t + "/" + p + "/" + o
}

func fromSarama(m *sarama.ConsumerMessage) Message {
	out := Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		if h != nil {
			out.Headers = append(out.Headers, Header{Key: string(h.Key), Value: string(h.Value)})
		}
	}
	return out
}

// ClientConfig is the configuration of the reader's Kafka client.
func ClientConfig(clientID string) *sarama.Config {
	c := kafka.ConsumerConfig(clientID)
	// Looking at a topic must not create it: a broker with
	// auto.create.topics.enable would otherwise answer "empty" for a typo.
	c.Metadata.AllowAutoTopicCreation = false
	// The high-water mark (what GetOffset answers) is the end of a
	// read_uncommitted read; read_committed would stop short of it at an
	// open transaction and the bounded read would wait for its timeout.
	c.Consumer.IsolationLevel = sarama.ReadUncommitted
	return c
}

// Reader reads one topic from its oldest retained offsets to the high-water
// marks seen when the read starts. It joins no consumer group.
type Reader struct {
	Client sarama.Client
	Topic  string
}

// Listing is the result of List.
type Listing struct {
	Messages []Message // ordered by partition, then offset
	// Total is how many offsets the partitions hold; more than
	// len(Messages) when the limit cut the listing short.
	Total int64
}

type span struct {
	partition    int32
	oldest, next int64 // next is the high-water mark: one past the last offset
}

// spans returns each partition's readable offsets.
func (r *Reader) spans(ctx context.Context) ([]span, error) {
	var parts []int32
	err := call(ctx, func() error {
		var err error
		parts, err = r.Client.Partitions(r.Topic)
		return err
	})
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil, fmt.Errorf("%s: %w", r.Topic, ErrNoTopic)
	}
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", r.Topic, err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	out := make([]span, 0, len(parts))
	for _, p := range parts {
		s, err := r.span(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (r *Reader) span(ctx context.Context, p int32) (span, error) {
	s := span{partition: p}
	err := call(ctx, func() error {
		// A topic created a moment ago (or whose leader just moved) answers
		// "not the leader" until the client's metadata catches up: refresh
		// and ask again, a few times.
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if attempt > 0 {
				time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
				_ = r.Client.RefreshMetadata(r.Topic)
			}
			if s.oldest, err = r.Client.GetOffset(r.Topic, p, sarama.OffsetOldest); err == nil {
				if s.next, err = r.Client.GetOffset(r.Topic, p, sarama.OffsetNewest); err == nil {
					return nil
				}
			}
			if !errors.Is(err, sarama.ErrNotLeaderForPartition) && !errors.Is(err, sarama.ErrLeaderNotAvailable) {
				return err
			}
		}
		return err
	})
	if err != nil {
		return s, fmt.Errorf("offsets of %s/%d: %w", r.Topic, p, err)
	}
	return s, nil
}

// List returns up to limit messages (0: all), the oldest of each partition
// first, partition by partition.
func (r *Reader) List(ctx context.Context, limit int) (Listing, error) {
	spans, err := r.spans(ctx)
	if err != nil {
		return Listing{}, err
	}
	var l Listing
	for _, s := range spans {
		l.Total += s.next - s.oldest
	}
	for _, s := range spans {
		if s.oldest >= s.next {
			continue
		}
		want := -1
		if limit > 0 {
			if want = limit - len(l.Messages); want <= 0 {
				break
			}
		}
		msgs, err := r.read(ctx, s, s.oldest, want)
		if err != nil {
			return l, err
		}
		l.Messages = append(l.Messages, msgs...)
	}
	return l, nil
}

// Get returns the message at partition/offset.
func (r *Reader) Get(ctx context.Context, partition int32, offset int64) (Message, error) {
	spans, err := r.spans(ctx)
	if err != nil {
		return Message{}, err
	}
	var s *span
	for i := range spans {
		if spans[i].partition == partition {
			s = &spans[i]
		}
	}
	switch {
	case s == nil:
		return Message{}, fmt.Errorf("partition %d of %s (it has partitions 0..%d): %w", partition, r.Topic, len(spans)-1, boxoffice.ErrNotFound)
	case s.oldest >= s.next:
		return Message{}, fmt.Errorf("offset %d of %s/%d (the partition is empty): %w", offset, r.Topic, partition, boxoffice.ErrNotFound)
	case offset < s.oldest || offset >= s.next:
		return Message{}, fmt.Errorf("offset %d of %s/%d (it holds offsets %d..%d): %w", offset, r.Topic, partition, s.oldest, s.next-1, boxoffice.ErrNotFound)
	}
	msgs, err := r.read(ctx, *s, offset, 1)
	if err != nil {
		return Message{}, err
	}
	if len(msgs) == 0 || msgs[0].Offset != offset {
		// Compaction or a transaction marker left a hole at this offset.
		return Message{}, fmt.Errorf("offset %d of %s/%d (no record there): %w", offset, r.Topic, partition, boxoffice.ErrNotFound)
	}
	return msgs[0], nil
}

// read returns up to max messages (negative: no limit) of one partition from
// offset from until the end of the span.
func (r *Reader) read(ctx context.Context, s span, from int64, max int) ([]Message, error) {
	var consumer sarama.Consumer
	err := call(ctx, func() error {
		var err error
		consumer, err = sarama.NewConsumerFromClient(r.Client)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	defer consumer.Close()
	var pc sarama.PartitionConsumer
	err = call(ctx, func() error {
		var err error
		pc, err = consumer.ConsumePartition(r.Topic, s.partition, from)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s/%d from offset %d: %w", r.Topic, s.partition, from, err)
	}
	defer pc.Close()
	var out []Message
	last := from - 1
	for max < 0 || len(out) < max {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return out, fmt.Errorf("read %s/%d: consumer closed at offset %d", r.Topic, s.partition, last+1)
			}
			last = m.Offset
			out = append(out, fromSarama(m))
			if m.Offset >= s.next-1 {
				return out, nil
			}
		case err := <-pc.Errors():
			return out, fmt.Errorf("read %s/%d: %w", r.Topic, s.partition, err)
		case <-ctx.Done():
			return out, fmt.Errorf("read %s/%d: stopped after offset %d of %d..%d: %w", r.Topic, s.partition, last, from, s.next-1, ctx.Err())
		}
	}
	return out, nil
}

// call runs f, a sarama call that takes no context, and gives up when ctx
// ends first (f then finishes on its own, bounded by the client's timeouts).
func call(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PartitionOffset formats a message's place as partition/offset.
func PartitionOffset(partition int32, offset int64) string {
	return strconv.Itoa(int(partition)) + "/" + strconv.FormatInt(offset, 10)
}
