package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/servicetest"
)

func TestRush(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Concerts, cfg.Capacity, cfg.Members = 1, 100, 2000
	s := newSystem(t, cfg, true)
	replies := concurrently(2000, func(i int) reply { return s.reserve(1, int64(i+1), "") })
	got := tally(replies)
	if got["202 "] != 100 || got["409 sold_out"] != 1900 {
		t.Fatalf("replies %v, want 100 × 202 and 1900 × 409 sold_out", got)
	}
	ids := map[string]bool{}
	for _, r := range replies {
		if r.Status == 202 {
			if r.id() == "" || r.Header.Get("Location") != "/api/reservations/"+r.id() || r.Body["status"] != "PENDING" {
				t.Fatalf("bad 202: %+v", r)
			}
			ids[r.id()] = true
		}
	}
	if len(ids) != 100 {
		t.Fatalf("%d distinct reservation ids, want 100", len(ids))
	}
	a := s.drained(1, 100)
	if a.RedisStock != 0 || a.DBRemaining != 0 {
		t.Fatalf("after the rush: %+v", a)
	}
	for id := range ids {
		if r := s.do("GET", "/api/reservations/"+id, "", nil, nil); r.Status != 200 || r.Body["status"] != "HELD" || r.Body["expiresAt"] == nil {
			t.Fatalf("GET %s: %+v", id, r)
		}
		break
	}
	if c := s.do("GET", "/api/concerts/1", "", nil, nil); c.Body["remaining"] != 0.0 || c.Body["capacity"] != 100.0 {
		t.Fatalf("concert: %+v", c.Body)
	}
}

func TestSameMemberConcurrently(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity = 10
	s := newSystem(t, cfg, true)
	got := tally(concurrently(50, func(int) reply { return s.reserve(1, 7, "") }))
	if got["202 "] != 1 || got["409 already_reserved"] != 49 {
		t.Fatalf("replies %v, want 1 × 202 and 49 × 409 already_reserved", got)
	}
	s.drained(1, 1)
}

func TestIdempotencyKeyRetries(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity = 10
	s := newSystem(t, cfg, true)
	replies := concurrently(20, func(int) reply { return s.reserve(1, 7, "retry-me") })
	ids := map[string]bool{}
	for _, r := range replies {
		if r.Status != 202 {
			t.Fatalf("retry answered %d %s", r.Status, r.code())
		}
		ids[r.id()] = true
	}
	if len(ids) != 1 {
		t.Fatalf("%d reservations for one Idempotency-Key: %v", len(ids), ids)
	}
	a := s.drained(1, 1)
	if a.RedisStock != 9 {
		t.Fatalf("stock %d, want 9: one unit taken", a.RedisStock)
	}
	// After it is written, a retry still answers with the same reservation.
	if r := s.reserve(1, 7, "retry-me"); r.Status != 202 || !ids[r.id()] || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("late retry: %+v", r)
	}
	// The same key from another member is refused.
	if r := s.reserve(1, 8, "retry-me"); r.Status != 422 || r.code() != "idempotency_key_reused" {
		t.Fatalf("key reused by another member: %+v", r)
	}
}

func TestBadInput(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity = 5
	cfg.MaxBody = 256
	s := newSystem(t, cfg, false)
	const ok = `{"concertId":1,"memberId":1}`
	cases := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		status                          int
		code                            string
	}{
		{"bad json", "POST", "/api/reservations/async", "application/json", `{"concertId":1,`, nil, 400, "invalid_request"},
		{"trailing bytes", "POST", "/api/reservations/async", "application/json", ok + `{}`, nil, 400, "invalid_request"},
		{"trailing garbage", "POST", "/api/reservations/async", "application/json", ok + ` x`, nil, 400, "invalid_request"},
		{"empty body", "POST", "/api/reservations/async", "application/json", ``, nil, 400, "invalid_request"},
		{"not an object", "POST", "/api/reservations/async", "application/json", `[1,2]`, nil, 400, "invalid_request"},
		{"missing concertId", "POST", "/api/reservations/async", "application/json", `{"memberId":1}`, nil, 400, "invalid_request"},
		{"missing memberId", "POST", "/api/reservations/async", "application/json", `{"concertId":1}`, nil, 400, "invalid_request"},
		{"zero id", "POST", "/api/reservations/async", "application/json", `{"concertId":0,"memberId":1}`, nil, 400, "invalid_request"},
		{"negative id", "POST", "/api/reservations/async", "application/json", `{"concertId":1,"memberId":-5}`, nil, 400, "invalid_request"},
		{"fractional id", "POST", "/api/reservations/async", "application/json", `{"concertId":1.5,"memberId":1}`, nil, 400, "invalid_request"},
		{"string id", "POST", "/api/reservations/async", "application/json", `{"concertId":"1","memberId":1}`, nil, 400, "invalid_request"},
		{"null id", "POST", "/api/reservations/async", "application/json", `{"concertId":null,"memberId":1}`, nil, 400, "invalid_request"},
		{"huge id", "POST", "/api/reservations/async", "application/json", `{"concertId":99999999999999999999,"memberId":1}`, nil, 400, "invalid_request"},
		{"unknown field", "POST", "/api/reservations/async", "application/json", `{"concertId":1,"memberId":1,"seats":2}`, nil, 400, "invalid_request"},
		{"bad idempotency key", "POST", "/api/reservations/async", "application/json", ok, map[string]string{"Idempotency-Key": "has space"}, 400, "invalid_request"},
		{"long idempotency key", "POST", "/api/reservations/async", "application/json", ok, map[string]string{"Idempotency-Key": strings.Repeat("k", 129)}, 400, "invalid_request"},
		{"body over the limit", "POST", "/api/reservations/async", "application/json", `{"concertId":1,"memberId":1,"x":"` + strings.Repeat("a", 300) + `"}`, nil, 413, "body_too_large"},
		{"text/plain", "POST", "/api/reservations/async", "text/plain", ok, nil, 415, "unsupported_media_type"},
		{"no content type", "POST", "/api/reservations/async", "", ok, nil, 415, "unsupported_media_type"},
		{"wrong method", "GET", "/api/reservations/async", "", "", nil, 405, "method_not_allowed"},
		{"put", "PUT", "/api/reservations/async", "application/json", ok, nil, 405, "method_not_allowed"},
		{"unknown concert", "POST", "/api/reservations/async", "application/json", `{"concertId":77,"memberId":1}`, nil, 404, "concert_not_found"},
		{"unknown path", "GET", "/api/nothing", "", "", nil, 404, "not_found"},
		{"unknown reservation", "GET", "/api/reservations/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "", nil, 404, "not_found"},
		{"malformed reservation id", "GET", "/api/reservations/xyz", "", "", nil, 400, "invalid_request"},
		{"bad concert id", "GET", "/api/concerts/abc", "", "", nil, 400, "invalid_request"},
		{"unknown concert read", "GET", "/api/concerts/77", "", "", nil, 404, "concert_not_found"},
		{"strategy not enabled", "POST", "/api/reservations/unsafe", "application/json", ok, nil, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(c.method, c.path, c.ctype, []byte(c.body), c.header)
			if r.Status != c.status || r.code() != c.code {
				t.Fatalf("got %d %q (%v), want %d %q", r.Status, r.code(), r.Body, c.status, c.code)
			}
			if msg, _ := r.Body["message"].(string); msg == "" {
				t.Fatalf("no message in %v", r.Body)
			}
		})
	}
	a := s.audit(1)
	if a.RedisStock != 5 || a.InFlight != 0 {
		t.Fatalf("bad input changed the stock: %+v", a)
	}
	// The public /readyz answers from a round run every second.
	servicetest.Eventually(t, 10*time.Second, "readyz 200", func() (bool, error) {
		r := s.do("GET", "/readyz", "", nil, nil)
		return r.Status == 200, fmt.Errorf("%+v", r)
	})
}

// A gateway that dies between the Lua step and Kafka's ack leaves an
// in-flight record; the writer's sweeper republishes it after the grace
// period, so the seat is neither leaked nor lost.
func TestSweeperFinishesOrphans(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity = 10
	cfg.InflightGrace = 500 * time.Millisecond
	s := newSystem(t, cfg, false)
	orphanID := orphan(t, s, 1, 3)
	if r := s.do("GET", "/api/reservations/"+orphanID, "", nil, nil); r.Status != 200 || r.Body["status"] != "PENDING" {
		t.Fatalf("in flight: %+v", r)
	}
	s.startWriter(cfg)
	s.drained(1, 1)
	r := s.do("GET", "/api/reservations/"+orphanID, "", nil, nil)
	if r.Body["status"] != "CONFIRMED" { // built without a hold
		t.Fatalf("orphan: %+v", r.Body)
	}
}

func TestUndecodableMessageGoesToDLQ(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity = 10
	s := newSystem(t, cfg, true)
	publishRaw(t, s, "garbage-key", []byte("not an event"))
	// The writer goes on with the next messages.
	if r := s.reserve(1, 1, ""); r.Status != 202 {
		t.Fatalf("reserve after garbage: %+v", r)
	}
	s.drained(1, 1)
	headers := readDLQ(t, s.cfg, "garbage-key")
	for _, h := range []string{"reason", "source-topic", "source-partition", "source-offset"} {
		if headers[h] == "" {
			t.Fatalf("DLQ header %q missing: %v", h, headers)
		}
	}
	if !strings.Contains(headers["reason"], "malformed") || headers["source-topic"] != cfg.Topic {
		t.Fatalf("DLQ headers %v", headers)
	}

}

// Shutdown writes the open batch before the writer leaves the group.
func TestWriterShutdownFlushesOpenBatch(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity = 50
	cfg.BatchSize = 10000
	cfg.BatchWait = time.Minute // only shutdown can close the batch
	s := newSystem(t, cfg, true)
	for m := int64(1); m <= 20; m++ {
		if r := s.reserve(1, m, ""); r.Status != 202 {
			t.Fatalf("reserve: %+v", r)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the writer fetch them into its batch
	if a := s.audit(1); a.Rows != 0 {
		t.Fatalf("batch closed early: %+v", a)
	}
	start := time.Now()
	s.writer.stop()
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	if a := s.audit(1); a.Rows != 20 || a.InFlight != 0 {
		t.Fatalf("after shutdown: %+v, want the 20 rows written", a)
	}
}
