package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/store"
)

// Concerts tells whether a concert exists in MySQL, for the rare request
// whose concert Redis does not know: a concert that exists but whose stock is
// gone from Redis is 503 stock_not_loaded, not 404. Answers are remembered
// (concerts are not deleted while a sale runs; "no such concert" for a
// second), so made-up concert ids cost MySQL at most one read per id per
// second, and at most maxRemembered ids are remembered.
type Concerts struct {
	DB *store.Store

	mu    sync.Mutex
	known map[int64]concertAnswer
}

// concertAnswer is what MySQL said of a concert, believed until until (zero: for
// good).
type concertAnswer struct {
	found bool
	until time.Time
}

// maxRemembered bounds the memory a flood of made-up ids can take.
const maxRemembered = 4096

// notFoundFor is how long "no such concert" is believed.
const notFoundFor = time.Second

// Exists reports whether the concert is in MySQL.
func (c *Concerts) Exists(ctx context.Context, id int64) (bool, error) {
	c.mu.Lock()
	a, ok := c.known[id]
	c.mu.Unlock()
	if ok && (a.until.IsZero() || time.Now().Before(a.until)) {
		return a.found, nil
	}
	_, err := c.DB.Concert(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, boxoffice.ErrConcertNotFound) {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil || len(c.known) >= maxRemembered {
		c.known = map[int64]concertAnswer{}
	}
	a = concertAnswer{found: found}
	if !found {
		a.until = time.Now().Add(notFoundFor)
	}
	c.known[id] = a
	return found, nil
}
