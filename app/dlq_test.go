package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/dlq"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// dlqCLI runs `boxoffice dlq <args>` against cfg's services the way the
// binary does: the service settings arrive as BOX_* variables.
func dlqCLI(t *testing.T, cfg config.Config, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{
		"BOX_REDIS_ADDR":    cfg.RedisAddr,
		"BOX_REDIS_PREFIX":  cfg.RedisPrefix,
		"BOX_KAFKA_BROKERS": strings.Join(cfg.KafkaBrokers, ","),
		"BOX_TOPIC":         cfg.Topic,
		"BOX_MYSQL_DSN":     cfg.MySQLDSN,
	}
	var out strings.Builder
	cmd, err := dlq.Parse(append(args, "--timeout", "20s"), func(k string) string { return env[k] }, &out)
	if err != nil {
		return out.String(), err
	}
	err = app.DLQ(context.Background(), cmd, &out, testLog())
	return out.String(), err
}

// publishDLQ puts a message on cfg's DLQ topic as the writer would.
func publishDLQ(t *testing.T, cfg config.Config, key string, value []byte, headers map[string]string) {
	t.Helper()
	p, err := kafka.NewProducer(cfg.KafkaBrokers, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Publish(ctx, kafka.Message{Topic: cfg.DLQTopic(), Key: []byte(key), Value: value, Headers: headers}); err != nil {
		t.Fatal(err)
	}
}

// dlqPlace finds the partition/offset of the message with this key in a
// `dlq list` output.
func dlqPlace(t *testing.T, listing, key string) (partition, offset string) {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == key {
			p, o, ok := strings.Cut(f[0], "/")
			if ok {
				return p, o
			}
		}
	}
	t.Fatalf("no message with key %q in:\n%s", key, listing)
	return "", ""
}

// topicMessages reads a whole topic up to its high-water marks.
func topicMessages(t *testing.T, cfg config.Config, topic string) []dlq.Message {
	t.Helper()
	c, err := sarama.NewClient(cfg.KafkaBrokers, dlq.ClientConfig("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := (&dlq.Reader{Client: c, Topic: topic}).List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return l.Messages
}

func ensureTopics(t *testing.T, cfg config.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers, kafka.TopicSpec{Partitions: int32(cfg.Partitions), ReplicationFactor: 1, MinInsyncReplicas: 1}, cfg.Topic, cfg.DLQTopic()); err != nil {
		t.Fatal(err)
	}
}

func TestDLQListAndShow(t *testing.T) {
	cfg := servicetest.Config(t)

	out, err := dlqCLI(t, cfg, "list")
	if err != nil || !strings.Contains(out, cfg.DLQTopic()+" does not exist") {
		t.Fatalf("missing topic: %v\n%s", err, out)
	}
	if _, err := dlqCLI(t, cfg, "show", "--partition", "0", "--offset", "0"); !errors.Is(err, dlq.ErrNoTopic) {
		t.Fatalf("show on a missing topic: %v", err)
	}

	ensureTopics(t, cfg)
	out, err = dlqCLI(t, cfg, "list")
	if err != nil || !strings.Contains(out, cfg.DLQTopic()+" is empty") {
		t.Fatalf("empty DLQ: %v\n%s", err, out)
	}

	publishDLQ(t, cfg, "bad-1", []byte("not json"), map[string]string{
		"reason": "malformed event: invalid character 'o' in literal null", "source-topic": cfg.Topic, "source-partition": "1", "source-offset": "17"})
	publishDLQ(t, cfg, "bad-2", []byte(`{"v":7,"type":"requested"}`), map[string]string{
		"reason": "malformed event: unsupported version 7", "source-topic": cfg.Topic, "source-partition": "0", "source-offset": "3"})

	out, err = dlqCLI(t, cfg, "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 message(s)", "bad-1", "bad-2", cfg.Topic + "/1/17", cfg.Topic + "/0/3",
		"invalid character 'o' in literal null", "unsupported version 7", "not json", `{"v":7,"type":"requested"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if got, _ := dlqCLI(t, cfg, "list", "--limit", "1"); !strings.Contains(got, "showing 1 of 2") {
		t.Errorf("--limit 1:\n%s", got)
	}

	p, o := dlqPlace(t, out, "bad-2")
	show, err := dlqCLI(t, cfg, "show", "--partition", p, "--offset", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{cfg.DLQTopic() + " " + p + "/" + o, "bad-2", "reason", "malformed event: unsupported version 7",
		"source-topic", "source-partition", "source-offset", "value (26 bytes):\n" + `{"v":7,"type":"requested"}`} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}

	if _, err := dlqCLI(t, cfg, "show", "--partition", p, "--offset", "99"); !errors.Is(err, boxoffice.ErrNotFound) || !strings.Contains(err.Error(), "offset 99") {
		t.Errorf("unknown offset: %v", err)
	}
	if _, err := dlqCLI(t, cfg, "show", "--partition", "7", "--offset", "0"); !errors.Is(err, boxoffice.ErrNotFound) || !strings.Contains(err.Error(), "partition 7") {
		t.Errorf("unknown partition: %v", err)
	}
	if _, err := dlqCLI(t, cfg, "show", "--offset", "0"); err == nil || !strings.Contains(err.Error(), "--partition is required") {
		t.Errorf("missing --partition: %v", err)
	}
}

// dlqSeats is the test's view of concert 1 in Redis and MySQL.
type dlqSeats struct {
	t     *testing.T
	stock *stock.Store
	db    *store.Store
}

// openDLQSeats migrates and seeds cfg's database and Redis, and returns the
// stores the replay tests check seats in.
func openDLQSeats(t *testing.T, cfg config.Config) *dlqSeats {
	t.Helper()
	ctx := context.Background()
	if err := app.Migrate(ctx, cfg, testLog()); err != nil {
		t.Fatal(err)
	}
	if err := app.Seed(ctx, cfg, testLog()); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	db, err := store.Open(context.Background(), cfg.MySQLDSN, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &dlqSeats{t: t, stock: stock.New(rdb, cfg.RedisPrefix, 5*time.Second), db: db}
}

func (s *dlqSeats) remaining() int64 {
	s.t.Helper()
	n, ok, err := s.stock.Remaining(context.Background(), 1)
	if err != nil || !ok {
		s.t.Fatalf("stock of concert 1: %d %v %v", n, ok, err)
	}
	return n
}

func (s *dlqSeats) rows() int64 {
	s.t.Helper()
	c, err := s.db.ConcertCounts(context.Background(), 1)
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Active
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "fixed.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDLQReplayFixedMessageCreatesReservationOnce(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 10, 10
	ctx := context.Background()
	seats := openDLQSeats(t, cfg)

	// An undecodable message, dead-lettered as the writer does.
	publishDLQ(t, cfg, "broken", []byte(`{"v":1,"type":"requested","id":`), map[string]string{
		"reason": "malformed event: unexpected end of JSON input", "source-topic": cfg.Topic, "source-partition": "0", "source-offset": "0"})
	list, err := dlqCLI(t, cfg, "list")
	if err != nil {
		t.Fatal(err)
	}
	p, o := dlqPlace(t, list, "broken")

	out, err := dlqCLI(t, cfg, "replay", "--partition", p, "--offset", o)
	if !errors.Is(err, event.ErrMalformed) || !strings.Contains(err.Error(), "refusing to replay") {
		t.Fatalf("replay without a fix: %v\n%s", err, out)
	}
	if got := topicMessages(t, cfg, cfg.Topic); len(got) != 0 {
		t.Fatalf("a refused replay published %d message(s)", len(got))
	}

	ev := event.Event{V: event.Version, Type: event.Requested, ID: ulid.Make().String(), ConcertID: 1, MemberID: 5, At: time.Now().UTC()}
	fix := writeFile(t, ev.Encode())
	replay := func() string {
		t.Helper()
		out, err := dlqCLI(t, cfg, "replay", "--partition", p, "--offset", o, "--value-file", fix)
		if err != nil {
			t.Fatalf("replay with a fix: %v\n%s", err, out)
		}
		return out
	}

	// First replay: the seat is taken and the event is on the topic.
	if out := replay(); !strings.Contains(out, "seat taken") || !strings.Contains(out, ev.ID) {
		t.Fatalf("first replay:\n%s", out)
	}
	if n := seats.remaining(); n != 9 {
		t.Fatalf("stock after the replay: %d, want 9", n)
	}
	keys := func() []string {
		var ks []string
		for _, m := range topicMessages(t, cfg, cfg.Topic) {
			ks = append(ks, string(m.Key))
		}
		return ks
	}
	if ks := keys(); len(ks) != 1 || ks[0] != ev.ID {
		t.Fatalf("reservations topic holds %v, want [%s]", ks, ev.ID)
	}

	// Second replay before any writer ran: in flight, no second seat.
	if out := replay(); !strings.Contains(out, "already in flight") {
		t.Fatalf("second replay:\n%s", out)
	}
	if n := seats.remaining(); n != 9 {
		t.Fatalf("stock after the second replay: %d, want 9", n)
	}

	// The writer stores both copies as one row.
	w, err := app.OpenWriter(ctx, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		w.Close()
	})
	servicetest.Eventually(t, 20*time.Second, "the writer stores the reservation", func() (bool, error) {
		inflight, err := seats.stock.InFlightCount(ctx, 1)
		return err == nil && inflight == 0 && seats.rows() == 1, err
	})

	// Third replay: the row is there, nothing happens.
	if out := replay(); !strings.Contains(out, "already written") {
		t.Fatalf("third replay:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond) // anything published now would be written by now
	if n, rows := seats.remaining(), seats.rows(); n != 9 || rows != 1 {
		t.Fatalf("after three replays: stock %d, rows %d; want 9 and 1", n, rows)
	}
	if r, err := seats.db.Reservation(ctx, ev.ID); err != nil || r.MemberID != 5 || r.ConcertID != 1 {
		t.Fatalf("row %+v %v", r, err)
	}
	c, err := seats.db.ConcertCounts(ctx, 1)
	if err != nil || c.Remaining != 9 || c.Duplicates != 0 {
		t.Fatalf("MySQL out of step with Redis: %+v %v", c, err)
	}
}

func TestDLQReplaySoldOutPublishesNothing(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 1, 10
	ctx := context.Background()
	seats := openDLQSeats(t, cfg)
	// Someone else took the only seat.
	other := event.Event{V: event.Version, Type: event.Requested, ID: ulid.Make().String(), ConcertID: 1, MemberID: 1, At: time.Now().UTC()}
	if r, err := seats.stock.Reserve(ctx, stock.Reservation{ID: other.ID, ConcertID: 1, MemberID: 1, Payload: other.Encode(), Now: time.Now()}); err != nil || r.Replay {
		t.Fatalf("take the last seat: %+v %v", r, err)
	}

	// A valid requested event parked in the DLQ (a write that failed).
	ev := event.Event{V: event.Version, Type: event.Requested, ID: ulid.Make().String(), ConcertID: 1, MemberID: 5, At: time.Now().UTC()}
	publishDLQ(t, cfg, ev.ID, ev.Encode(), map[string]string{"reason": "Error 1452: foreign key constraint fails"})
	list, err := dlqCLI(t, cfg, "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "foreign key constraint fails") {
		t.Errorf("list:\n%s", list)
	}
	p, o := dlqPlace(t, list, ev.ID)

	out, err := dlqCLI(t, cfg, "replay", "--partition", p, "--offset", o)
	if !errors.Is(err, dlq.ErrSeatUnavailable) || !errors.Is(err, boxoffice.ErrSoldOut) {
		t.Fatalf("replay on a sold-out concert: %v\n%s", err, out)
	}
	if got := topicMessages(t, cfg, cfg.Topic); len(got) != 0 {
		t.Fatalf("a refused replay published %d message(s)", len(got))
	}
	if n := seats.remaining(); n != 0 {
		t.Fatalf("stock %d, want 0", n)
	}
	if inflight, err := seats.stock.InFlightCount(ctx, 1); err != nil || inflight != 1 {
		t.Fatalf("in flight %d %v, want only the other reservation", inflight, err)
	}
}

func TestDLQReplayTransition(t *testing.T) {
	cfg := servicetest.Config(t)
	// No Redis stock and no schema: a transition is only published.
	ensureTopics(t, cfg)
	ev := event.Event{V: event.Version, Type: event.Cancelled, ID: ulid.Make().String(), ConcertID: 1, MemberID: 5, At: time.Now().UTC()}
	publishDLQ(t, cfg, ev.ID, ev.Encode(), map[string]string{"reason": "transient"})
	list, err := dlqCLI(t, cfg, "list")
	if err != nil {
		t.Fatal(err)
	}
	p, o := dlqPlace(t, list, ev.ID)
	out, err := dlqCLI(t, cfg, "replay", "--partition", p, "--offset", o)
	if err != nil || !strings.Contains(out, "cancelled event published") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	got := topicMessages(t, cfg, cfg.Topic)
	if len(got) != 1 || string(got[0].Key) != ev.ID {
		t.Fatalf("reservations topic: %v", got)
	}
	back, err := event.Decode(got[0].Value)
	if err != nil || back.Type != event.Cancelled {
		t.Fatalf("published %s: %v", got[0].Value, err)
	}
}

// A reservation that not even a FAILED row can hold goes to the DLQ as the
// event it was — hold deadline and Idempotency-Key included — so that a
// replay holds it again instead of writing it CONFIRMED, a seat with no
// payment (issue 12 f).
func TestUnwritableReservationDeadLettersItsWholeEvent(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 5, 10
	s := newSystem(t, cfg, true)
	ensureTopics(t, cfg)
	// 40 characters: valid as an event, too long for reservations.id, so
	// the insert fails for good (MariaDB's strict mode: error 1406).
	id := strings.Repeat("7", 40)
	expires := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Millisecond)
	ev := event.Event{V: event.Version, Type: event.Requested, ID: id, ConcertID: 1, MemberID: 3,
		At: time.Now().UTC(), IdempotencyKey: "pay-once-42", ExpiresAt: &expires}
	ctx := context.Background()
	if _, err := s.stock.Reserve(ctx, stock.Reservation{ID: id, ConcertID: 1, MemberID: 3, Payload: ev.Encode(),
		IdempotencyKey: ev.IdempotencyKey, Now: time.Now(), ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	publishRaw(t, s, id, ev.Encode())

	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []dlq.Message
		for _, m := range topicMessages(t, cfg, cfg.DLQTopic()) {
			if string(m.Key) == id {
				got = append(got, m)
			}
		}
		if len(got) > 0 {
			back, err := event.Decode(got[0].Value)
			if err != nil {
				t.Fatalf("dead-lettered value does not decode: %v", err)
			}
			if back.ExpiresAt == nil || !back.ExpiresAt.Equal(expires) || back.IdempotencyKey != ev.IdempotencyKey {
				t.Fatalf("dead-lettered event %s, want the one published %s", got[0].Value, ev.Encode())
			}
			if got[0].Header(kafka.HeaderReason) == "" {
				t.Error("no reason header")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing dead-lettered within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Its seat came back.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _, err := s.stock.Remaining(ctx, 1); err == nil && n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unwritable reservation's seat did not come back")
		}
	}
}
