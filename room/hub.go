package room

import (
	"sync"
	"time"

	"github.com/boxoffice/boxoffice/stock"
)

// hub is one room's last state on this gateway and the streams waiting for
// its next change: publish closes the channel they wait on.
type hub struct {
	mu      sync.Mutex
	st      stock.RoomState
	changed chan struct{}
	// sent is when the streams were last woken; moved only by the counter
	// they are woken at most every countGap, for a state change at once.
	sent    time.Time
	pending bool
}

// countGap bounds how often a moving counter wakes a room's streams: every
// tick (100 ms) would be 100,000 wake-ups a second for 10,000 streams, for
// positions nobody reads that fast.
const countGap = 500 * time.Millisecond

func (s *Service) hub(concert int64) *hub {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hubs[concert]
	if !ok {
		h = &hub{changed: make(chan struct{})}
		s.hubs[concert] = h
	}
	return h
}

func (h *hub) state() stock.RoomState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// watch returns the state and the channel closed at the next change after it.
func (h *hub) watch() (stock.RoomState, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st, h.changed
}

// publish records st and wakes the streams, at once when the state or the
// opening changed, else once countGap has passed since the last wake-up.
func (h *hub) publish(st stock.RoomState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	urgent := st.State != h.st.State || st.Opened != h.st.Opened
	h.st = st
	if !urgent && time.Since(h.sent) < countGap {
		h.pending = true
		return
	}
	h.wake()
}

// flush wakes the streams for a counter move publish held back.
func (h *hub) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending && time.Since(h.sent) >= countGap {
		h.wake()
	}
}

func (h *hub) wake() {
	close(h.changed)
	h.changed = make(chan struct{})
	h.sent = time.Now()
	h.pending = false
}
