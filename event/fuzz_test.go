package event_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/boxoffice/boxoffice/event"
)

// Whatever arrives on the topic is decoded without panicking: malformed is
// ErrMalformed (the writer dead-letters it), and what decodes encodes back to
// the same event (issue 13, item 8).
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"type":"requested","id":"01M8SGBCDHWNFB3S023KCBKPA7","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00.123456789Z","idempotencyKey":"k","expiresAt":"2026-12-01T19:05:00Z"}`,
		`{"v":1,"type":"confirmed","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":2,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":1,"type":"requested","id":"x","concertId":9223372036854775808,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":1,"type":"requested","id":"\u0000\ud800","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"0001-01-01T00:00:00Z"}`,
		"not json", "", "null", "[]", `{"v":1}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := event.Decode(b)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		again, err := event.Decode(ev.Encode())
		if err != nil {
			t.Fatalf("%q decoded, but its encoding %q does not: %v", b, ev.Encode(), err)
		}
		if !reflect.DeepEqual(normal(again), normal(ev)) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
		}
	})
}

// normal drops what a round trip through JSON may legitimately change: the
// monotonic clock reading and the location of the times.
func normal(e event.Event) event.Event {
	e.At = e.At.UTC().Round(0)
	if e.ExpiresAt != nil {
		x := e.ExpiresAt.UTC().Round(0)
		e.ExpiresAt = &x
	}
	if len(e.Seats) == 0 {
		e.Seats = nil // "seats":[] is left out when encoded again
	}
	return e
}
