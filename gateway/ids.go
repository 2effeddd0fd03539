package gateway

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// newID names a new reservation: a ULID (time-ordered, made by any gateway
// without coordination) whose 80 random bits come from crypto/rand.
//
// ulid.Make would draw them from a math/rand source seeded with the start
// time and made monotonic within a millisecond: the ids of one millisecond
// then follow each other, so one id tells its neighbours. An id is not a
// capability (ownership is checked), but nothing is gained by handing out
// guessable ones. crypto/rand.Reader is safe for concurrent use and never
// fails (Go 1.24+), so MustNew cannot panic; the ids of one millisecond are
// not ordered among themselves, which nothing relies on.
func newID(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
}
