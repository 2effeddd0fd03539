// Package kafka wraps IBM/sarama: a producer whose Publish waits for the
// broker's ack under a context, the consumer group configuration of the
// writer, and topic creation.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Version is the protocol version we speak: every 3.6+ and 4.x broker takes it.
var Version = sarama.V3_6_0_0

func baseConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = Version
	c.ClientID = clientID
	// Fail fast on a dead broker: callers bound every wait with a context and
	// would rather answer 503 than queue behind a 30 s dial.
	c.Net.DialTimeout = 2 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 2
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

// ProducerConfig is the durable producer: a 202 promises the event is on the
// broker, so acks=all, and idempotence so sarama's retries never duplicate a
// message within a partition.
func ProducerConfig(clientID string, opts ...ProducerOption) *sarama.Config {
	c := baseConfig(clientID)
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 50 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// A 2 ms linger: without one, each produce request carried whatever
	// arrived during the previous round trip, and at 500–2,000 requests
	// outstanding the broker spent 0.2–0.5 of a core on small requests. With
	// it, a 15,000/s rush took Kafka's share from ~35 to ~5 µs of CPU per
	// reservation and raised admissions 15–20%, for ≤ 2 ms more per 202.
	c.Producer.Flush.Frequency = DefaultLinger
	c.Producer.Partitioner = sarama.NewHashPartitioner
	for _, o := range opts {
		o(c)
	}
	return c
}

// DefaultLinger is the producer's linger (see ProducerConfig).
const DefaultLinger = 2 * time.Millisecond

// ProducerOption changes a producer's settings.
type ProducerOption func(*sarama.Config)

// Linger is how long the producer waits to fill a produce request. 0 sends
// at once, and what arrives while a request is in flight (one per broker,
// idempotence) goes in the next: lower latency when idle, more and smaller
// requests under a rush.
func Linger(d time.Duration) ProducerOption {
	return func(c *sarama.Config) { c.Producer.Flush.Frequency = d }
}

// ConsumerConfig is the writer's consumer group: start from the oldest offset
// of a new group, mark offsets by hand after each commit.
func ConsumerConfig(clientID string) *sarama.Config {
	c := baseConfig(clientID)
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	// Read only committed data; harmless without transactions, right with them.
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	c.Consumer.Fetch.Default = 4 << 20
	c.ChannelBufferSize = 1024
	return c
}

// Producer publishes messages and waits for their acks.
type Producer struct {
	client sarama.Client
	ap     sarama.AsyncProducer
	wg     sync.WaitGroup
	once   sync.Once
}

// NewProducer connects to the brokers.
func NewProducer(brokers []string, clientID string, opts ...ProducerOption) (*Producer, error) {
	client, err := sarama.NewClient(brokers, ProducerConfig(clientID, opts...))
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	ap, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	p := &Producer{client: client, ap: ap}
	p.wg.Add(2)
	// Successes and Errors must be drained or the producer stalls.
	go func() {
		defer p.wg.Done()
		for m := range ap.Successes() {
			m.Metadata.(chan error) <- nil
		}
	}()
	go func() {
		defer p.wg.Done()
		for e := range ap.Errors() {
			e.Msg.Metadata.(chan error) <- e.Err
		}
	}()
	return p, nil
}

// Message is one record to publish.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// ErrTimeout means the broker did not acknowledge before the context ended.
// The message may still be delivered later.
var ErrTimeout = errors.New("kafka: no ack in time")

// Publish sends m and waits for the broker's ack or the end of ctx.
func (p *Producer) Publish(ctx context.Context, m Message) error {
	done := make(chan error, 1) // buffered: the drain goroutine never blocks on a caller that left
	msg := &sarama.ProducerMessage{Topic: m.Topic, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Metadata: done}
	for k, v := range m.Headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	select {
	case p.ap.Input() <- msg:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafka publish: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// Close flushes what is buffered and stops the producer.
func (p *Producer) Close() error {
	var err error
	p.once.Do(func() {
		p.ap.AsyncClose()
		p.wg.Wait()
		err = p.client.Close()
	})
	return err
}

// Ready reports whether the producer's client can reach a broker now.
func (p *Producer) Ready(ctx context.Context, topic string) error {
	errc := make(chan error, 1)
	go func() { errc <- p.client.RefreshMetadata(topic) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: %w", ctx.Err())
	}
}

// TopicSpec is how EnsureTopics creates a topic that does not exist yet.
//
// With the producer's acks=all, the broker acknowledges a message once every
// replica in sync with the leader has it, and refuses it (NOT_ENOUGH_REPLICAS,
// the gateway then answers 503) while fewer than MinInsyncReplicas are in
// sync. So ReplicationFactor 3 with MinInsyncReplicas 2 keeps every
// acknowledged event through the loss of one broker and keeps admitting while
// one is down; 1 and 1 (one broker) means a lost broker disk loses events.
type TopicSpec struct {
	Partitions        int32
	ReplicationFactor int16
	// MinInsyncReplicas is set on the topic (min.insync.replicas), so that it
	// says what it was created with instead of following whatever the
	// brokers' default is; 0 leaves the brokers' default.
	MinInsyncReplicas int
}

// EnsureTopics creates the topics that do not exist yet, as spec says. A
// topic that exists is left as it is, whatever its settings.
func EnsureTopics(ctx context.Context, brokers []string, spec TopicSpec, topics ...string) error {
	admin, err := sarama.NewClusterAdmin(brokers, baseConfig("boxoffice-admin"))
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor}
	if spec.MinInsyncReplicas > 0 {
		v := strconv.Itoa(spec.MinInsyncReplicas)
		detail.ConfigEntries = map[string]*string{"min.insync.replicas": &v}
	}
	errc := make(chan error, 1)
	go func() {
		for _, t := range topics {
			err := admin.CreateTopic(t, detail, false)
			switch {
			case err == nil, errors.Is(err, sarama.ErrTopicAlreadyExists):
			case errors.Is(err, sarama.ErrInvalidReplicationFactor):
				errc <- fmt.Errorf("create topic %s: replication factor %d needs at least that many brokers, and the cluster has %s: %w",
					t, spec.ReplicationFactor, brokerCount(admin), err)
				return
			default:
				errc <- fmt.Errorf("create topic %s: %w", t, err)
				return
			}
		}
		errc <- nil
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("create topics: %w", ctx.Err())
	}
}

// DeleteTopics deletes the topics that exist (a benchmark's own topic when
// it is done); one that does not exist is no error.
func DeleteTopics(ctx context.Context, brokers []string, topics ...string) error {
	admin, err := sarama.NewClusterAdmin(brokers, baseConfig("boxoffice-admin"))
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	errc := make(chan error, 1)
	go func() {
		var errs []error
		for _, t := range topics {
			if err := admin.DeleteTopic(t); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
			}
		}
		errc <- errors.Join(errs...)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("delete topics: %w", ctx.Err())
	}
}

// brokerCount says how many brokers the cluster has, for an error message.
func brokerCount(admin sarama.ClusterAdmin) string {
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return "an unknown number (" + err.Error() + ")"
	}
	return strconv.Itoa(len(brokers))
}

// Reachable reports whether some broker answers a metadata request.
func Reachable(ctx context.Context, brokers []string) error {
	errc := make(chan error, 1)
	go func() {
		c, err := sarama.NewClient(brokers, baseConfig("boxoffice-probe"))
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		_, err = c.Controller()
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: %w", ctx.Err())
	}
}

// Consume runs a consumer group on topic until ctx ends, then returns nil.
// sarama's Consume returns at every rebalance, so it is called again; its
// errors are logged, and a failed Consume is retried after a second.
func Consume(ctx context.Context, group sarama.ConsumerGroup, topic string, h sarama.ConsumerGroupHandler, log *slog.Logger) error {
	return ConsumeTopics(ctx, group, []string{topic}, h, log)
}

// ConsumeTopics is Consume over several topics in one group (the ranker
// reads the reservations and the notifications).
func ConsumeTopics(ctx context.Context, group sarama.ConsumerGroup, topics []string, h sarama.ConsumerGroupHandler, log *slog.Logger) error {
	go func() {
		for err := range group.Errors() {
			log.Warn("consumer group", "err", err)
		}
	}()
	for {
		if err := group.Consume(ctx, topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				return nil
			}
			log.Warn("consume", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// InOrder is a consumer-group handler that takes each partition's messages
// one at a time, in order, and marks each once the function says it is done
// with. The function returns false when the session ended before it could
// finish (shutdown or rebalance): the message stays unmarked, so the
// partition's next owner gets it again. The notifier and the ranker are two.
type InOrder func(ctx context.Context, msg *sarama.ConsumerMessage) bool

// Setup implements sarama.ConsumerGroupHandler.
func (InOrder) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (InOrder) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim implements sarama.ConsumerGroupHandler.
func (h InOrder) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if !h(ctx, msg) {
				return nil
			}
			sess.MarkMessage(msg, "")
		case <-ctx.Done():
			return nil
		}
	}
}
