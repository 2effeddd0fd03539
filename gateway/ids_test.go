package gateway

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// Ids of the same millisecond share no more than their time: with
// ulid.Make's monotonic source they differed only in their last bits.
func TestNewIDsAreRandomWithinAMillisecond(t *testing.T) {
	now := time.Now()
	a, b := ulid.MustParseStrict(newID(now)), ulid.MustParseStrict(newID(now))
	if a.Time() != b.Time() {
		t.Fatalf("times differ: %d, %d", a.Time(), b.Time())
	}
	ea, eb := a.Entropy(), b.Entropy()
	same := 0
	for i := range ea {
		if ea[i] == eb[i] {
			same++
		}
	}
	// Two random 10-byte strings agree on ~0.04 bytes; monotonic ids of one
	// millisecond agree on all but the last few.
	if same > 4 {
		t.Fatalf("entropy of two ids of one millisecond agrees on %d of 10 bytes: %x, %x", same, ea, eb)
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		newID(now)
	}
}
