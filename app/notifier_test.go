package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

// TestNotifierProcessBadWebhook fails at start-up, before touching Kafka.
func TestNotifierProcessBadWebhook(t *testing.T) {
	cfg := config.Default()
	cfg.KafkaBrokers = []string{"127.0.0.1:1"}
	cfg.WebhookURL = "hooks.example.com/x"
	if _, err := app.OpenNotifier(context.Background(), cfg, testLog()); err == nil {
		t.Fatal("OpenNotifier accepted a webhook URL without a scheme")
	}
}
