package ranking_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/ranking"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/stock/stocktest"
	"github.com/boxoffice/boxoffice/store"
)

// capacities stands in for MySQL's concerts.
type capacities map[int64]int64

func (c capacities) Concert(_ context.Context, id int64) (store.Concert, error) {
	n, ok := c[id]
	if !ok {
		return store.Concert{}, fmt.Errorf("concert %d: %w", id, boxoffice.ErrConcertNotFound)
	}
	return store.Concert{ID: id, Capacity: n}, nil
}

func testLog() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("BOX_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// messages turns a sales history into what the topics carry: a requested
// event per take, a notification per outcome and, as the writer's input
// would have it, the decision event before it (which the ranker must skip),
// and an undecodable message on each topic.
func messages(cfg config.Config, history []stock.Sale, now time.Time) []kafka.Message {
	var out []kafka.Message
	for _, s := range history {
		key := []byte(s.ReservationID)
		if s.Type == event.Requested {
			ev := event.Event{V: event.Version, Type: event.Requested, ID: s.ReservationID, ConcertID: s.ConcertID, MemberID: 1, At: s.TakenAt}
			out = append(out, kafka.Message{Topic: cfg.Topic, Key: key, Value: ev.Encode()})
			continue
		}
		if s.Type != event.Failed {
			ev := event.Event{V: event.Version, Type: s.Type, ID: s.ReservationID, ConcertID: s.ConcertID, MemberID: 1, At: now}
			out = append(out, kafka.Message{Topic: cfg.Topic, Key: key, Value: ev.Encode()})
		}
		n := event.Notification{V: event.Version, Type: s.Type, ReservationID: s.ReservationID, ConcertID: s.ConcertID, MemberID: 1, At: now}
		out = append(out, kafka.Message{Topic: cfg.NotificationsTopic, Key: key, Value: n.Encode()})
	}
	return append(out,
		kafka.Message{Topic: cfg.Topic, Key: []byte("x"), Value: []byte("{not json")},
		kafka.Message{Topic: cfg.NotificationsTopic, Key: []byte("x"), Value: []byte(`{"v":9}`)})
}

func publish(t testing.TB, cfg config.Config, msgs []kafka.Message) {
	t.Helper()
	p, err := kafka.NewProducer(cfg.KafkaBrokers, "ranking-test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.Publish(ctx, m); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// run runs a ranker in group until the returned stop.
func run(t testing.TB, cfg config.Config, group string, r *ranking.Ranker) (stop func()) {
	t.Helper()
	g, err := sarama.NewConsumerGroup(cfg.KafkaBrokers, group, kafka.ConsumerConfig("ranking-test"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, g) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15 s of shutdown")
			}
			g.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestRankerMatchesReplay publishes a history (takes, payments, returns,
// redeliveries, returns before their takes, decision events and garbage)
// on the two topics, lets the ranker consume it, and compares every window
// with the ranking the test computes from the history. A second ranker in a
// new group then replays both topics from the start onto the same keys: a
// whole redelivery, which must change nothing.
func TestRankerMatchesReplay(t *testing.T) {
	cfg := servicetest.Config(t)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers, kafka.TopicSpec{Partitions: 2, ReplicationFactor: 1, MinInsyncReplicas: 1}, cfg.Topic, cfg.NotificationsTopic); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	rk := stock.NewRanking(rdb, cfg.RedisPrefix, time.Second)

	// The ranker's clock stands still, so the model knows which minutes are in.
	now := time.Now().Truncate(time.Minute).Add(25 * time.Second)
	caps := capacities{1: 300, 2: 900, 3: 150}
	history := stocktest.SalesHistory(rand.New(rand.NewPCG(3, 4)), now, 600, caps)
	publish(t, cfg, messages(cfg, history, now))

	newRanker := func() *ranking.Ranker {
		return &ranking.Ranker{Ranking: rk, Concerts: caps, Topic: cfg.Topic, NotificationsTopic: cfg.NotificationsTopic,
			Top: 2, Refresh: 100 * time.Millisecond, Log: testLog(), Metrics: ranking.NewMetrics(), Now: func() time.Time { return now }}
	}
	matches := func(what string, r *ranking.Ranker) {
		t.Helper()
		for _, w := range stock.Windows {
			want := stocktest.RankingModel(history, w, now)
			if len(want) == 0 {
				t.Fatalf("window %s: the model ranks nothing; the history should sell in every window", w.Name)
			}
			servicetest.Eventually(t, 60*time.Second, what+" ranks window "+w.Name+" as the model", func() (bool, error) {
				got, err := rk.Top(ctx, w, 100, now)
				if err != nil {
					return false, err
				}
				return reflect.DeepEqual(got, want), fmt.Errorf("got %+v\nwant %+v", got, want)
			})
			// The gauges show the top two.
			servicetest.Eventually(t, 10*time.Second, "gauges of window "+w.Name, func() (bool, error) {
				got := ranking.SellThrough(r.Metrics, w.Name, want[0].ConcertID)
				return got == want[0].SellThrough, fmt.Errorf("sell-through gauge of concert %d: %v, want %v", want[0].ConcertID, got, want[0].SellThrough)
			})
		}
	}

	first := newRanker()
	stop := run(t, cfg, cfg.RankerGroup, first)
	matches("the ranker", first)
	stop()

	again := newRanker()
	run(t, cfg, cfg.RankerGroup+"-again", again)
	servicetest.Eventually(t, 60*time.Second, "the second ranker replays everything", func() (bool, error) {
		n := ranking.Events(again.Metrics, "duplicate")
		return n >= float64(len(history)), fmt.Errorf("%v duplicates of %d facts", n, len(history))
	})
	matches("after a whole redelivery", again)
	if n := ranking.Events(again.Metrics, "added"); n != 0 {
		t.Errorf("the replay added %v to the buckets, want 0", n)
	}
}

// BenchmarkRankerConsume is the ranker's rate over requested events already
// on a two-partition topic (one op: one event consumed and recorded). The
// clock starts at its first recorded event, after the group's join.
func BenchmarkRankerConsume(b *testing.B) {
	cfg := servicetest.Config(b)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers, kafka.TopicSpec{Partitions: 2, ReplicationFactor: 1, MinInsyncReplicas: 1}, cfg.Topic, cfg.NotificationsTopic); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	msgs := make([]kafka.Message, b.N)
	for i := range msgs {
		ev := event.Event{V: event.Version, Type: event.Requested, ID: fmt.Sprintf("B%08d", i), ConcertID: int64(i%10 + 1), MemberID: int64(i + 1), At: now}
		msgs[i] = kafka.Message{Topic: cfg.Topic, Key: []byte(ev.ID), Value: ev.Encode()}
	}
	publish(b, cfg, msgs)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	b.Cleanup(func() { rdb.Close() })
	r := &ranking.Ranker{Ranking: stock.NewRanking(rdb, cfg.RedisPrefix, time.Second), Concerts: capacities{1: 1e6, 2: 1e6, 3: 1e6, 4: 1e6, 5: 1e6, 6: 1e6, 7: 1e6, 8: 1e6, 9: 1e6, 10: 1e6},
		Topic: cfg.Topic, NotificationsTopic: cfg.NotificationsTopic, Top: 10, Refresh: time.Second, Log: testLog(), Metrics: ranking.NewMetrics()}
	run(b, cfg, cfg.RankerGroup, r)
	for ranking.Events(r.Metrics, "added") == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for ranking.Events(r.Metrics, "added") < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
}

// forward accepts on ln and pipes each connection to addr, until the test ends.
func forward(t *testing.T, ln net.Listener, addr string) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
}

// TestRankerWaitsForItsRedis: a ranker whose Redis refuses connections
// records nothing and marks nothing; stopped then, and its successor started
// in the same group once Redis answers, the ranking is the model's: no sale
// was marked before Redis had it.
func TestRankerWaitsForItsRedis(t *testing.T) {
	cfg := servicetest.Config(t)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers, kafka.TopicSpec{Partitions: 2, ReplicationFactor: 1, MinInsyncReplicas: 1}, cfg.Topic, cfg.NotificationsTopic); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Minute).Add(25 * time.Second)
	caps := capacities{1: 100, 2: 40}
	history := stocktest.SalesHistory(rand.New(rand.NewPCG(5, 6)), now, 150, caps)
	publish(t, cfg, messages(cfg, history, now))

	// Its Redis: a port nobody listens on, until the forwarder takes it.
	addr := fmt.Sprintf("127.0.0.1:%d", servicetest.FreePort(t))
	rk := stock.DialRanking(stock.Options{Addr: addr, Prefix: cfg.RedisPrefix, Timeout: 500 * time.Millisecond})
	t.Cleanup(func() { rk.Close() })
	newRanker := func() *ranking.Ranker {
		return &ranking.Ranker{Ranking: rk, Concerts: caps, Topic: cfg.Topic, NotificationsTopic: cfg.NotificationsTopic,
			Top: 2, Refresh: time.Second, Log: testLog(), Metrics: ranking.NewMetrics(), Now: func() time.Time { return now }}
	}
	down := newRanker()
	stop := run(t, cfg, cfg.RankerGroup, down)
	servicetest.Eventually(t, 30*time.Second, "the ranker to fail on its Redis", func() (bool, error) {
		n := ranking.Errors(down.Metrics)
		return n >= 3, fmt.Errorf("%v errors", n)
	})
	stop()
	if n := ranking.Events(down.Metrics, "added"); n != 0 {
		t.Fatalf("%v sales added with Redis refusing connections", n)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	forward(t, ln, cfg.RedisAddr)
	run(t, cfg, cfg.RankerGroup, newRanker())
	for _, w := range stock.Windows {
		want := stocktest.RankingModel(history, w, now)
		servicetest.Eventually(t, 60*time.Second, "window "+w.Name+" as the model once Redis answers", func() (bool, error) {
			got, err := rk.Top(ctx, w, 100, now)
			if err != nil {
				return false, err
			}
			return reflect.DeepEqual(got, want), fmt.Errorf("got %+v\nwant %+v", got, want)
		})
	}
}
