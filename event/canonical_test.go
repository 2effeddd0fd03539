package event

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Whatever the fast path reads, encoding/json reads as the same event; and
// it reads every event Encode writes with plain fields.
func FuzzCanonicalAgreesWithJSON(f *testing.F) {
	at := time.Date(2026, 12, 1, 19, 0, 0, 123456789, time.UTC)
	exp := at.Add(5 * time.Minute)
	for _, e := range []Event{
		{V: Version, Type: Requested, ID: "01M8SGBCDHWNFB3S023KCBKPA7", ConcertID: 1, MemberID: 2, At: at},
		{V: Version, Type: Requested, ID: "x", ConcertID: 9, MemberID: 99, At: at, IdempotencyKey: "k-1", ExpiresAt: &exp},
		{V: Version, Type: Confirmed, ID: "x", ConcertID: 1, MemberID: 2, At: at.In(time.FixedZone("", 9*3600))},
		{V: Version, Type: Requested, ID: "x", ConcertID: 9, MemberID: 99, At: at, ExpiresAt: &exp, Seats: []string{"A-12-7", "A-12-8"}},
		{V: Version, Type: Requested, ID: "x", ConcertID: 9, MemberID: 99, At: at, Seats: []string{"B-1-1"}},
	} {
		f.Add(e.Encode())
	}
	for _, s := range []string{
		`{"v":01,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z","idempotencyKey":""}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z"} `,
		`{"v":1,"type":"requested","id":"x","concertId":99999999999999999999,"memberId":2,"at":"2026-12-01T19:00:00Z"}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00+24:00"}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z","seats":[]}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z","seats":[""]}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z","seats":["A-1-1",]}`,
		`{"v":1,"type":"requested","id":"x","concertId":1,"memberId":2,"at":"2026-12-01T19:00:00Z","seats":["A\u002d1"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeCanonical(b)
		if !ok {
			return
		}
		var slow Event
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("%q: the fast path read %+v, encoding/json refuses it: %v", b, fast, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\njson %+v", b, fast, slow)
		}
	})
}

func TestCanonicalReadsWhatEncodeWrites(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 0, 0, 5, time.UTC)
	exp := at.Add(time.Minute)
	for _, e := range []Event{
		{V: Version, Type: Requested, ID: "a", ConcertID: 1, MemberID: 2, At: at},
		{V: Version, Type: Expired, ID: "a", ConcertID: 3, MemberID: 4, At: at, IdempotencyKey: "key", ExpiresAt: &exp},
		{V: Version, Type: Requested, ID: "a", ConcertID: 3, MemberID: 4, At: at, ExpiresAt: &exp, Seats: []string{"A-1-1", "ZZ9-9999-9999"}},
	} {
		got, ok := decodeCanonical(e.Encode())
		if !ok || !reflect.DeepEqual(got, e) {
			t.Errorf("%s: ok %v, %+v, want %+v", e.Encode(), ok, got, e)
		}
	}
	if _, ok := decodeCanonical([]byte(`{"v":1,"type":"requested","id":"a\"b"}`)); ok {
		t.Error("an escaped quote took the fast path")
	}
}

func BenchmarkDecode(b *testing.B) {
	exp := time.Now().Add(time.Minute)
	msg := Event{V: Version, Type: Requested, ID: "01M8SGBCDHWNFB3S023KCBKPA7", ConcertID: 7, MemberID: 123456, At: time.Now(), ExpiresAt: &exp}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// utcTime reads what UnmarshalJSON reads, or leaves the string to it.
func TestUTCTimeAgreesWithJSON(t *testing.T) {
	for _, s := range []string{
		"2026-12-01T19:00:00Z", "2026-12-01T19:00:00.1Z", "2026-12-01T19:00:00.123456789Z",
		"2026-12-01T19:00:00.1234567891Z", "2026-12-01T19:00:00.Z", "2026-12-01T19:00:00,5Z",
		"2024-02-29T00:00:00Z", "2026-02-29T00:00:00Z", "2000-02-29T23:59:59Z", "1900-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-12-00T00:00:00Z",
		"2026-12-01T24:00:00Z", "2026-12-01T23:60:00Z", "2026-12-01T23:59:60Z", "0000-01-01T00:00:00Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-12-01T19:00:00+02:00",
		"2026-12-01t19:00:00z", "2026-12-01T19:00:0aZ", "+026-12-01T19:00:00Z", "2026-12-01T19:00:00.-1Z",
	} {
		fast, ok := utcTime([]byte(s))
		var slow time.Time
		err := slow.UnmarshalJSON([]byte(`"` + s + `"`))
		if ok && (err != nil || !reflect.DeepEqual(fast, slow)) {
			t.Errorf("%s: fast %v, json %v (%v)", s, fast, slow, err)
		}
		if !ok && err == nil && s[len(s)-1] == 'Z' && len(s) <= 30 && s[19] != ',' && s[0] != '0' {
			t.Logf("%s: left to UnmarshalJSON, which reads %v", s, slow)
		}
	}
}
