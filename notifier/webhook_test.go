package notifier

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/event"
)

func sample() event.Notification {
	return event.Notification{V: event.Version, Type: event.Confirmed, ReservationID: "r-1", ConcertID: 3, MemberID: 7,
		At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func TestNotifierWebhookRequest(t *testing.T) {
	type seen struct {
		method, path string
		header       http.Header
		body         []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header, b}
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	w, err := NewWebhook(srv.URL+"/hooks/secret-token?x=1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Post(context.Background(), sample()); err != nil {
		t.Fatalf("Post: %v", err)
	}
	s := <-got
	if s.method != http.MethodPost || s.path != "/hooks/secret-token?x=1" {
		t.Errorf("request %s %s", s.method, s.path)
	}
	if ct, key := s.header.Get("Content-Type"), s.header.Get("Idempotency-Key"); ct != "application/json" || key != "r-1:confirmed" {
		t.Errorf("Content-Type %q, Idempotency-Key %q", ct, key)
	}
	var n event.Notification
	if err := json.Unmarshal(s.body, &n); err != nil || n != sample() {
		t.Errorf("body %s decodes to %+v (%v), want %+v", s.body, n, err, sample())
	}
	if w.Where() != srv.URL {
		t.Errorf("Where() = %q, want %q (no path: it may hold a secret)", w.Where(), srv.URL)
	}
}

func TestNotifierWebhookOutcome(t *testing.T) {
	for _, c := range []struct {
		status    int
		ok, final bool // final: refused for good, not retried
	}{
		{200, true, false},
		{202, true, false},
		{204, true, false},
		{302, false, false}, // not followed: a POST must not turn into a GET
		{400, false, true},
		{401, false, true},
		{404, false, true},
		{408, false, false},
		{409, false, true},
		{422, false, true},
		{429, false, false},
		{500, false, false},
		{502, false, false},
		{503, false, false},
	} {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if c.status == 302 {
					rw.Header().Set("Location", "/elsewhere")
				}
				rw.WriteHeader(c.status)
				io.WriteString(rw, "  why: "+strings.Repeat("x", 2000))
			}))
			defer srv.Close()
			w, err := NewWebhook(srv.URL, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Post(context.Background(), sample())
			if (err == nil) != c.ok || Permanent(err) != c.final {
				t.Fatalf("status %d: err %v, permanent %v; want ok %v, permanent %v", c.status, err, Permanent(err), c.ok, c.final)
			}
			if se, isStatus := err.(*StatusError); err != nil && (!isStatus || se.Status != c.status || len(se.Body) != bodySnippet-2 || !strings.HasPrefix(se.Body, "why: ")) {
				t.Fatalf("error %#v: want a *StatusError with the status and a trimmed %d-byte snippet", err, bodySnippet)
			}
		})
	}
}

func TestNotifierWebhookTransportErrors(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handler
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for name, url := range map[string]string{"timeout": slow.URL + "/secret", "refused": down.URL + "/secret"} {
		t.Run(name, func(t *testing.T) {
			w, err := NewWebhook(url, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = w.Post(context.Background(), sample())
			if err == nil || Permanent(err) {
				t.Fatalf("err %v: want a transient error", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the URL's path", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Post took %s with a 200ms timeout", d)
			}
		})
	}
}

func TestNotifierWebhookURL(t *testing.T) {
	for _, u := range []string{"", "example.com/hook", "ftp://example.com/", "http://", "http://[::1"} {
		if _, err := NewWebhook(u, time.Second); err == nil {
			t.Errorf("NewWebhook(%q) accepted", u)
		}
	}
	if _, err := NewWebhook("https://example.com/hook", 0); err == nil {
		t.Error("zero timeout accepted")
	}
}

func TestNotifierBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	for attempt, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		7: 6400 * time.Millisecond, 8: 10 * time.Second, 50: 10 * time.Second, 1000: 10 * time.Second,
	} {
		for range 100 {
			if d := b.Wait(attempt); d < want/2 || d > want {
				t.Fatalf("attempt %d waits %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
	if d := (Backoff{}).Wait(1); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("zero Backoff waits %s, want DefaultBackoff's first step", d)
	}
}

// A room's notifications carry no reservation id: their key names the
// member, so two members' "admitted" are two deliveries, not one.
func TestIdempotencyKeyOfRoomNotifications(t *testing.T) {
	a := event.Notification{V: event.Version, Type: event.Admitted, ConcertID: 1, MemberID: 7}
	b := event.Notification{V: event.Version, Type: event.Admitted, ConcertID: 1, MemberID: 8}
	s := event.Notification{V: event.Version, Type: event.SoldOut, ConcertID: 1, MemberID: 7}
	if IdempotencyKey(a) == IdempotencyKey(b) || IdempotencyKey(a) == IdempotencyKey(s) || IdempotencyKey(a) != "room:1:7:admitted" {
		t.Fatalf("keys %q %q %q", IdempotencyKey(a), IdempotencyKey(b), IdempotencyKey(s))
	}
}
