package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/servicetest"
)

// TestNotifierProcess runs the notifier as boxoffice notifier does: from its
// configuration alone, on a topic it creates itself.
func TestNotifierProcess(t *testing.T) {
	cfg := servicetest.Config(t)
	name := servicetest.RandomHex(5)
	cfg.NotificationsTopic = "notifications-t" + name
	cfg.NotifierGroup = "notifier-t" + name
	got := make(chan event.Notification, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n event.Notification
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &n); err != nil || r.Header.Get("Idempotency-Key") != n.ReservationID+":"+string(n.Type) {
			t.Errorf("webhook got %s (%v), Idempotency-Key %q", body, err, r.Header.Get("Idempotency-Key"))
		}
		got <- n
	}))
	defer srv.Close()
	cfg.WebhookURL = srv.URL + "/hook"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := app.OpenNotifier(ctx, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	p, err := kafka.NewProducer(cfg.KafkaBrokers, "notifier-test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sent := event.Notification{V: event.Version, Type: event.Confirmed, ReservationID: "r-1", ConcertID: 1, MemberID: 2, At: time.Now().UTC().Truncate(time.Second)}
	if err := p.Publish(ctx, kafka.Message{Topic: cfg.NotificationsTopic, Key: []byte(sent.ReservationID), Value: sent.Encode()}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	select {
	case n := <-got:
		if n != sent {
			t.Errorf("delivered %+v, want %+v", n, sent)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing delivered within 20s")
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of shutdown")
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestNotifierServesMetrics scrapes the notifier's own /metrics (its
// --metrics-addr) and finds every notifier metric, the delivered count
// moving once a notification is logged (no webhook).
func TestNotifierServesMetrics(t *testing.T) {
	cfg := servicetest.Config(t)
	name := servicetest.RandomHex(5)
	cfg.NotificationsTopic = "notifications-t" + name
	cfg.NotifierGroup = "notifier-t" + name

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := app.OpenNotifier(ctx, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()

	p, err := kafka.NewProducer(cfg.KafkaBrokers, "notifier-test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sent := event.Notification{V: event.Version, Type: event.Confirmed, ReservationID: "r-1", ConcertID: 1, MemberID: 2, At: time.Now().UTC()}
	if err := p.Publish(ctx, kafka.Message{Topic: cfg.NotificationsTopic, Key: []byte(sent.ReservationID), Value: sent.Encode()}); err != nil {
		t.Fatal(err)
	}

	const delivered = `boxoffice_notifier_delivered_total{type="confirmed"} 1`
	var page string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(page, delivered); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s on http://%s/metrics:\n%s", delivered, n.Addr, page)
		}
		page = get(t, "http://"+n.Addr+"/metrics")
	}
	for _, m := range []string{
		"boxoffice_notifier_retries_total", "boxoffice_notifier_rejected_total", "boxoffice_notifier_undecodable_total",
		"boxoffice_notifier_delivery_duration_seconds_bucket", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(page, "\n"+m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
	if body := get(t, "http://"+n.Addr+"/healthz"); !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz answered %q", body)
	}
}

// get returns the body of a 200 answer to GET url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// TestNotifierProcessBadWebhook fails at start-up, before touching Kafka.
func TestNotifierProcessBadWebhook(t *testing.T) {
	cfg := config.Default()
	cfg.KafkaBrokers = []string{"127.0.0.1:1"}
	cfg.WebhookURL = "hooks.example.com/x"
	if _, err := app.OpenNotifier(context.Background(), cfg, testLog()); err == nil {
		t.Fatal("OpenNotifier accepted a webhook URL without a scheme")
	}
}
