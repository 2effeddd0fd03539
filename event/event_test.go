package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	in := Event{V: Version, Type: Requested, ID: "01JD", ConcertID: 1, MemberID: 2, At: time.UnixMilli(1700000000123).UTC(), IdempotencyKey: "k"}
	out, err := Decode(in.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
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
		"long seat id": `{"v":1,"type":"requested","id":"a","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z","seats":["ABCDEFGHI-9999-9999"]}`,
		"empty seat":   `{"v":1,"type":"requested","id":"a","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z","seats":[""]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(raw)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// Encode is hand-written for speed; it must write what json.Marshal writes.
func TestEncodeIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)
	exp := at.Add(5 * time.Minute)
	zone := time.Date(2026, 11, 23, 21, 0, 0, 0, time.FixedZone("KST", 9*3600))
	cases := []struct {
		name string
		e    Event
	}{
		{"requested with a hold", Event{V: 1, Type: Requested, ID: "01KAR9Z8X6Y5W4V3T2S1R0Q9P8", ConcertID: 1, MemberID: 42, At: at, ExpiresAt: &exp}},
		{"confirmed on write", Event{V: 1, Type: Requested, ID: "01KAR9Z8X6Y5W4V3T2S1R0Q9P8", ConcertID: 7, MemberID: 1 << 40, At: at}},
		{"idempotency key", Event{V: 1, Type: Requested, ID: "A", ConcertID: 1, MemberID: 1, At: at, IdempotencyKey: "order-17_retry~2"}},
		{"key json escapes", Event{V: 1, Type: Requested, ID: "A", ConcertID: 1, MemberID: 1, At: at, IdempotencyKey: `a"b\c<d>&e`}},
		{"non-ascii and control bytes", Event{V: 1, Type: Cancelled, ID: "é\n", ConcertID: 1, MemberID: 1, At: at}},
		{"whole seconds, other zone", Event{V: 1, Type: Expired, ID: "B", ConcertID: 2, MemberID: 3, At: zone, ExpiresAt: &zone}},
		{"zero values", Event{}},
		{"seats", Event{V: 1, Type: Requested, ID: "A", ConcertID: 1, MemberID: 1, At: at, ExpiresAt: &exp, Seats: []string{"A-12-7", "A-12-8"}}},
		{"seat json escapes", Event{V: 1, Type: Requested, ID: "A", ConcertID: 1, MemberID: 1, At: at, Seats: []string{"A<1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := json.Marshal(c.e)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.e.Encode(); string(got) != string(want) {
				t.Fatalf("Encode\n got %s\nwant %s", got, want)
			}
		})
	}
}

// A waiting room's notifications are about a member, not a reservation:
// they decode without a reservation id, and not without their member.
func TestRoomNotifications(t *testing.T) {
	at := time.UnixMilli(1700000000123).UTC()
	for _, typ := range []Type{Admitted, SoldOut} {
		in := Notification{V: Version, Type: typ, ConcertID: 1, MemberID: 7, At: at}
		out, err := DecodeNotification(in.Encode())
		if err != nil || !reflect.DeepEqual(out, in) || !out.Type.Room() {
			t.Fatalf("%s: got %+v, %v", typ, out, err)
		}
		var wire map[string]any
		json.Unmarshal(in.Encode(), &wire)
		if _, ok := wire["reservationId"]; ok {
			t.Fatalf("%s on the wire: %s, want no reservationId", typ, in.Encode())
		}
	}
	for name, raw := range map[string]string{
		"no member":         `{"v":1,"type":"admitted","concertId":1,"at":"2026-01-01T00:00:00Z"}`,
		"no concert":        `{"v":1,"type":"sold_out","memberId":1,"at":"2026-01-01T00:00:00Z"}`,
		"a transition bare": `{"v":1,"type":"confirmed","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z"}`,
	} {
		if _, err := DecodeNotification([]byte(raw)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if Confirmed.Room() || Failed.Room() {
		t.Fatal("a reservation's notification counted as a room's")
	}
}
