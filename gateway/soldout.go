package gateway

import (
	"sync"
	"time"
)

// SoldOut remembers for TTL that Redis answered "sold out" for a concert, so
// that the rush after the last seat — most of a flash sale's requests — is
// answered without a Redis round trip. A seat that comes back (a cancel, an
// expired hold, a failed write: in any process) is offered again at most TTL
// later, the bound the README states; nothing needs to tell this gateway.
type SoldOut struct {
	// TTL is how long an answer is trusted; 0 turns the memory off.
	TTL time.Duration

	mu    sync.RWMutex
	until map[int64]time.Time
}

// Known reports whether concert was sold out less than TTL ago.
func (s *SoldOut) Known(concert int64, now time.Time) bool {
	if s == nil || s.TTL <= 0 {
		return false
	}
	s.mu.RLock()
	until, ok := s.until[concert]
	s.mu.RUnlock()
	return ok && now.Before(until)
}

// Learn records that Redis just answered sold out for concert.
func (s *SoldOut) Learn(concert int64, now time.Time) {
	if s == nil || s.TTL <= 0 {
		return
	}
	s.mu.Lock()
	if s.until == nil {
		s.until = map[int64]time.Time{}
	}
	// Concerts come and go over a gateway's life; a stale entry is
	// harmless (its time has passed) but the map should not grow forever.
	if len(s.until) > 10_000 {
		for c, u := range s.until {
			if !now.Before(u) {
				delete(s.until, c)
			}
		}
	}
	s.until[concert] = now.Add(s.TTL)
	s.mu.Unlock()
}
