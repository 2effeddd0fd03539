package event

import (
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	in := Event{V: Version, Type: Requested, ID: "01JD", ConcertID: 1, MemberID: 2, At: time.UnixMilli(1700000000123).UTC(), IdempotencyKey: "k"}
	out, err := Decode(in.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("got %+v, want %+v", out, in)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":     `{`,
		"version":      `{"v":2,"type":"requested","id":"a","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z"}`,
		"type":         `{"v":1,"type":"nope","id":"a","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z"}`,
		"no id":        `{"v":1,"type":"requested","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z"}`,
		"zero concert": `{"v":1,"type":"requested","id":"a","concertId":0,"memberId":1,"at":"2026-01-01T00:00:00Z"}`,
		"no at":        `{"v":1,"type":"requested","id":"a","concertId":1,"memberId":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(raw)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}
