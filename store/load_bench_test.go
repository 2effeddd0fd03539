package store

import (
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
)

// BenchmarkAppendLoadRows builds the LOAD DATA text of a 1,000-row batch
// into a reused buffer, as loadRows does: ns/op is per batch.
func BenchmarkAppendLoadRows(b *testing.B) {
	now := time.Now().UTC()
	expires := now.Add(5 * time.Minute)
	rows := make([]row, 1000)
	for i := range rows {
		rows[i] = row{NewReservation{ID: "01KBF0000000000000000000AB", ConcertID: int64(i%10 + 1), MemberID: int64(i + 1), CreatedAt: now},
			boxoffice.StatusHeld, &expires, ""}
	}
	buf := appendLoadRows(nil, rows, now)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendLoadRows(buf[:0], rows, now)
	}
}

// appendStamp writes what AppendFormat writes, in any zone, on the edges of
// its fields.
func TestAppendStamp(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	times := []time.Time{
		time.Date(2026, 12, 2, 4, 5, 6, 7_891_234, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, cest), // the previous day in UTC
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1, 2, 3, 4, 5, 6, 1000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	}
	for i := range 1000 {
		times = append(times, time.Unix(int64(i)*7_919_999_773, int64(i)*1_000_003%1_000_000_000).In(cest))
	}
	for _, tm := range times {
		if got, want := string(appendStamp(nil, tm)), tm.UTC().Format(stampLayout); got != want {
			t.Fatalf("%v: %q, want %q", tm, got, want)
		}
	}
}
