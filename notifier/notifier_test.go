package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/servicetest"
)

// Tests on the real Kafka, each bounded by waits of a few seconds (joining a
// group takes ~3 s: the broker's initial rebalance delay).
const wait = 20 * time.Second

// fast keeps retries quick in tests.
var fast = Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}

func TestNotifierDelivers(t *testing.T) {
	k := newKafka(t)
	rcv := newReceiver(t, nil)
	sent := []event.Notification{
		note("r-1", event.Confirmed),
		note("r-2", event.Expired),
		note("r-1", event.Cancelled),
	}
	sent[1].Reason = "hold ran out"
	k.publish(t, sent...)

	stop := k.start(t, &Notifier{Topic: k.cfg.NotificationsTopic, Webhook: rcv.webhook(t), Backoff: fast, Log: testLog(t), Metrics: NewMetrics()})
	rcv.waitDelivered(t, len(sent))
	k.waitMarked(t)
	stop()

	got := rcv.delivered()
	if len(got) != len(sent) {
		t.Fatalf("%d deliveries, want %d: %v", len(got), len(sent), keys(got))
	}
	for _, n := range sent {
		i := slices.IndexFunc(got, func(c call) bool { return c.note == n })
		if i < 0 {
			t.Fatalf("%+v not delivered as sent; got %v", n, keys(got))
		}
		c := got[i]
		if c.method != http.MethodPost || c.header.Get("Content-Type") != "application/json" || c.header.Get("Idempotency-Key") != IdempotencyKey(n) {
			t.Errorf("%s: %s, Content-Type %q, Idempotency-Key %q", IdempotencyKey(n), c.method, c.header.Get("Content-Type"), c.header.Get("Idempotency-Key"))
		}
	}
	if order := keysOf(got, "r-1"); !slices.Equal(order, []string{"r-1:confirmed", "r-1:cancelled"}) {
		t.Errorf("r-1 delivered in order %v, want the published order", order)
	}
}

func TestNotifierRetriesUntilDeliveredAcrossRestart(t *testing.T) {
	k := newKafka(t)
	var calls, failFirst atomic.Int64
	var down atomic.Bool
	failFirst.Store(4)
	rcv := newReceiver(t, func(event.Notification) int {
		if calls.Add(1) <= failFirst.Load() || down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	newNotifier := func(m *Metrics) *Notifier {
		return &Notifier{Topic: k.cfg.NotificationsTopic, Webhook: rcv.webhook(t), Backoff: fast, Log: testLog(t), Metrics: m}
	}

	// The webhook fails its first 4 calls: every notification still arrives.
	first := []event.Notification{note("r-1", event.Confirmed), note("r-2", event.Confirmed), note("r-3", event.Failed)}
	k.publish(t, first...)
	m := NewMetrics()
	stop := k.start(t, newNotifier(m))
	rcv.waitDelivered(t, len(first))
	if r := value(t, m.retries); r != 4 {
		t.Errorf("retries = %v, want 4 (one per 503)", r)
	}

	// The webhook goes down with one notification in flight; shutdown stops
	// retrying promptly and leaves it unmarked.
	down.Store(true)
	inflight := note("r-4", event.Expired)
	k.publish(t, inflight)
	servicetest.Eventually(t, wait, "r-4 attempted twice", func() (bool, error) {
		return rcv.attempts(IdempotencyKey(inflight)) >= 2, nil
	})
	began := time.Now()
	stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("shutdown took %s while retrying", d)
	}
	if n := len(rcv.delivered()); n != len(first) {
		t.Fatalf("%d deliveries while the webhook was down, want %d", n, len(first))
	}

	// A new notifier in the same group delivers the in-flight one and
	// nothing that was delivered and marked before.
	down.Store(false)
	stop = k.start(t, newNotifier(NewMetrics()))
	rcv.waitDelivered(t, len(first)+1)
	k.waitMarked(t) // so any redelivery would have happened by now
	stop()
	count := map[string]int{}
	for _, c := range rcv.delivered() {
		count[IdempotencyKey(c.note)]++
	}
	for _, n := range append(first, inflight) {
		if count[IdempotencyKey(n)] != 1 {
			t.Errorf("%s delivered %d times, want once: %v", IdempotencyKey(n), count[IdempotencyKey(n)], count)
		}
	}
}

func TestNotifierSkipsRejected(t *testing.T) {
	k := newKafka(t)
	rcv := newReceiver(t, func(n event.Notification) int {
		if n.Type == event.Confirmed {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	// One key, so both are on one partition and the second waits for the first.
	rejected, next := note("r-1", event.Confirmed), note("r-1", event.Cancelled)
	k.publish(t, rejected, next)
	logs := &logBuffer{}
	m := NewMetrics()
	stop := k.start(t, &Notifier{Topic: k.cfg.NotificationsTopic, Webhook: rcv.webhook(t), Backoff: fast, Log: jsonLog(logs), Metrics: m})
	rcv.waitDelivered(t, 1)
	k.waitMarked(t)
	stop()

	if got := keys(rcv.delivered()); !slices.Equal(got, []string{IdempotencyKey(next)}) {
		t.Errorf("delivered %v, want only %s", got, IdempotencyKey(next))
	}
	if n := rcv.attempts(IdempotencyKey(rejected)); n != 1 {
		t.Errorf("the refused notification was sent %d times, want once", n)
	}
	if r, re := value(t, m.rejected), value(t, m.retries); r != 1 || re != 0 {
		t.Errorf("rejected %v, retries %v; want 1 and 0", r, re)
	}
	line := logs.find(t, "webhook refused notification; skipped")
	if line["level"] != "ERROR" || line["status"] != 400.0 || line["body"] != "Bad Request for r-1" || line["reservationId"] != "r-1" {
		t.Errorf("log line %v", line)
	}
}

func TestNotifierLogsWithoutWebhook(t *testing.T) {
	k := newKafka(t)
	sent := []event.Notification{note("r-1", event.Confirmed), note("r-2", event.Expired)}
	sent[1].Reason = "hold ran out"
	k.publish(t, sent...)
	k.publishRaw(t, "junk", []byte("not json"))
	logs := &logBuffer{}
	m := NewMetrics()
	stop := k.start(t, &Notifier{Topic: k.cfg.NotificationsTopic, Log: jsonLog(logs), Metrics: m})
	k.waitMarked(t)
	stop()

	for _, n := range sent {
		line := logs.findWith(t, "notification", "reservationId", n.ReservationID)
		if line["level"] != "INFO" || line["type"] != string(n.Type) || line["concertId"] != float64(n.ConcertID) ||
			line["memberId"] != float64(n.MemberID) || line["at"] != n.At.Format(time.RFC3339) || line["reason"] != n.Reason {
			t.Errorf("log line %v for %+v", line, n)
		}
		if v := value(t, m.delivered.WithLabelValues(string(n.Type))); v != 1 {
			t.Errorf("delivered{type=%s} = %v, want 1", n.Type, v)
		}
	}
	line := logs.find(t, "undecodable notification skipped")
	if _, ok := line["offset"]; line["level"] != "WARN" || line["key"] != "junk" || !ok || line["partition"] == nil {
		t.Errorf("log line %v", line)
	}
	if v := value(t, m.undecodable); v != 1 {
		t.Errorf("undecodable = %v, want 1", v)
	}
}

// kafkaEnv is a topic and consumer group of the test's own.
type kafkaEnv struct {
	cfg      config.Config
	producer *kafka.Producer
}

func newKafka(t *testing.T) *kafkaEnv {
	t.Helper()
	cfg := servicetest.Config(t)
	name := servicetest.RandomHex(5)
	cfg.NotificationsTopic = "notifications-t" + name
	cfg.NotifierGroup = "notifier-t" + name
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers, kafka.TopicSpec{Partitions: int32(cfg.Partitions), ReplicationFactor: 1, MinInsyncReplicas: 1}, cfg.NotificationsTopic); err != nil {
		t.Fatal(err)
	}
	p, err := kafka.NewProducer(cfg.KafkaBrokers, "notifier-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &kafkaEnv{cfg: cfg, producer: p}
}

func (k *kafkaEnv) publish(t *testing.T, ns ...event.Notification) {
	t.Helper()
	for _, n := range ns {
		k.publishRaw(t, n.ReservationID, n.Encode())
	}
}

func (k *kafkaEnv) publishRaw(t *testing.T, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.producer.Publish(ctx, kafka.Message{Topic: k.cfg.NotificationsTopic, Key: []byte(key), Value: value}); err != nil {
		t.Fatal(err)
	}
}

// start runs n in the test's group until stop, which returns once the group
// is left (and its offsets committed).
func (k *kafkaEnv) start(t *testing.T, n *Notifier) (stop func()) {
	t.Helper()
	group, err := sarama.NewConsumerGroup(k.cfg.KafkaBrokers, k.cfg.NotifierGroup, kafka.ConsumerConfig("notifier-test"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, group) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10s of shutdown")
			}
			if err := group.Close(); err != nil {
				t.Errorf("close group: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitMarked waits until the group's committed offsets reach the end of
// every partition: everything published has been handled and marked.
func (k *kafkaEnv) waitMarked(t *testing.T) {
	t.Helper()
	conf := sarama.NewConfig()
	conf.Version = kafka.Version
	client, err := sarama.NewClient(k.cfg.KafkaBrokers, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	topic := k.cfg.NotificationsTopic
	servicetest.Eventually(t, wait, "offsets committed to the end", func() (bool, error) {
		parts, err := client.Partitions(topic)
		if err != nil {
			return false, err
		}
		res, err := admin.ListConsumerGroupOffsets(k.cfg.NotifierGroup, map[string][]int32{topic: parts})
		if err != nil {
			return false, err
		}
		for _, p := range parts {
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return false, err
			}
			b := res.GetBlock(topic, p)
			if end > 0 && (b == nil || b.Offset != end) {
				return false, fmt.Errorf("partition %d: committed %v, end %d", p, b, end)
			}
		}
		return true, nil
	})
}

func note(id string, typ event.Type) event.Notification {
	return event.Notification{V: event.Version, Type: typ, ReservationID: id, ConcertID: 1, MemberID: 42,
		At: time.Now().UTC().Truncate(time.Second)}
}

// receiver is a webhook on 127.0.0.1 that records every call.
type receiver struct {
	srv     *httptest.Server
	respond func(event.Notification) int
	mu      sync.Mutex
	calls   []call
}

type call struct {
	method string
	header http.Header
	note   event.Notification
	status int
}

// newReceiver answers each call with respond's status (200 when nil).
func newReceiver(t *testing.T, respond func(event.Notification) int) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	r.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var n event.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		status := http.StatusOK
		if r.respond != nil {
			status = r.respond(n)
		}
		r.mu.Lock()
		r.calls = append(r.calls, call{method: req.Method, header: req.Header.Clone(), note: n, status: status})
		r.mu.Unlock()
		rw.WriteHeader(status)
		fmt.Fprintf(rw, "%s for %s\n", http.StatusText(status), n.ReservationID)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) webhook(t *testing.T) *Webhook {
	t.Helper()
	w, err := NewWebhook(r.srv.URL+"/hook", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// delivered lists the calls answered 2xx, in arrival order.
func (r *receiver) delivered() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.status/100 == 2 {
			out = append(out, c)
		}
	}
	return out
}

// attempts counts the calls for one idempotency key, whatever their answer.
func (r *receiver) attempts(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if IdempotencyKey(c.note) == key {
			n++
		}
	}
	return n
}

func (r *receiver) waitDelivered(t *testing.T, n int) {
	t.Helper()
	servicetest.Eventually(t, wait, fmt.Sprintf("%d deliveries", n), func() (bool, error) {
		got := r.delivered()
		return len(got) >= n, fmt.Errorf("delivered %v", keys(got))
	})
}

func keys(cs []call) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = IdempotencyKey(c.note)
	}
	return out
}

func keysOf(cs []call, id string) []string {
	var out []string
	for _, c := range cs {
		if c.note.ReservationID == id {
			out = append(out, IdempotencyKey(c.note))
		}
	}
	return out
}

func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// testLog writes to stderr when -v is given, so failures can be read.
func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func jsonLog(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// logBuffer collects the JSON log lines written from the consumer's goroutines.
type logBuffer struct{ servicetest.SyncBuffer }

func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(b.String()))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("log: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func (b *logBuffer) find(t *testing.T, msg string) map[string]any {
	t.Helper()
	return b.findWith(t, msg, "", nil)
}

// findWith returns the one log line with message msg and, when key is set,
// attribute key equal to val.
func (b *logBuffer) findWith(t *testing.T, msg, key string, val any) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range b.lines(t) {
		if l["msg"] == msg && (key == "" || l[key] == val) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d log lines %q %s=%v, want 1; log:\n%s", len(found), msg, key, val, b.String())
	}
	return found[0]
}
