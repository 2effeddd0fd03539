// Package room is the waiting room in front of a sale: which concerts have
// one (from MySQL), the tick every gateway runs to open a room (the draw of
// its pre-open arrivals) and admit from it at its rate (room_admit.lua: one
// serving counter in Redis, no leader), each member's status and pass, the
// live fan-out of a room's changes to the streams of one gateway, and the
// admitted / sold out notifications.
package room

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// DefaultTick is how often a gateway runs each room's tick: the bucket's
// depth too, so at 1,000/s no more than 100 passes are given at once.
const DefaultTick = 100 * time.Millisecond

// Publisher sends a message and waits for the broker (kafka.Producer).
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
}

// Service is one gateway's part of every room.
type Service struct {
	Stock  *stock.Store
	DB     *store.Store
	Passes *auth.Passes
	// Producer and Topic carry the notifications; a nil Producer sends none.
	Producer Publisher
	Topic    string
	Tick     time.Duration
	Metrics  *Metrics
	Log      *slog.Logger

	// rooms is the concerts with a room (concert → settings), from MySQL;
	// an empty map is the sale as it was before rooms.
	rooms atomic.Pointer[map[int64]boxoffice.Room]
	// hubs hold each room's last state seen here and wake its streams.
	mu   sync.Mutex
	hubs map[int64]*hub
	// owner names this process in the notification leases.
	owner string
	rng   *rand.Rand
	rngMu sync.Mutex
}

// Open loads the rooms once, so that a gateway never serves a moment with a
// room's sale open to everyone.
func (s *Service) Open(ctx context.Context) error {
	if s.Tick <= 0 {
		s.Tick = DefaultTick
	}
	if s.Metrics == nil {
		s.Metrics = NewMetrics(nil)
	}
	s.hubs = map[int64]*hub{}
	s.rng = newRNG()
	var id [8]byte
	crand.Read(id[:])
	s.owner = strconv.FormatUint(binary.LittleEndian.Uint64(id[:]), 36)
	empty := map[int64]boxoffice.Room{}
	s.rooms.Store(&empty)
	return s.refresh(ctx)
}

// refresh reads the rooms from MySQL. On an error the last list stays: a
// database that does not answer for a moment opens no room's sale.
func (s *Service) refresh(ctx context.Context) error {
	list, err := s.DB.Rooms(ctx)
	if err != nil {
		return err
	}
	m := make(map[int64]boxoffice.Room, len(list))
	for _, r := range list {
		m[r.Concert] = r
	}
	s.rooms.Store(&m)
	return nil
}

// Required reports whether concert's sale needs a pass: an atomic load and
// a lookup in a map that is empty without rooms.
func (s *Service) Required(concert int64) bool {
	if s == nil {
		return false
	}
	_, ok := s.settings(concert)
	return ok
}

func (s *Service) settings(concert int64) (boxoffice.Room, bool) {
	r, ok := (*s.rooms.Load())[concert]
	return r, ok
}

// CheckPass verifies a reservation's pass for its concert and member.
func (s *Service) CheckPass(concert, member int64, pass string) error {
	if pass == "" {
		s.Metrics.refused.WithLabelValues(label(concert)).Inc()
		return fmt.Errorf("%w: concert %d sells through its waiting room: join it (POST /api/queue/%d) and send the pass you are given in X-Queue-Pass", boxoffice.ErrNotAdmitted, concert, concert)
	}
	m, err := s.Passes.Verify(auth.KindPass, pass, concert)
	if err == nil && m != member {
		err = fmt.Errorf("%w: the pass is member %d's", boxoffice.ErrNotAdmitted, m)
	}
	if err != nil {
		s.Metrics.refused.WithLabelValues(label(concert)).Inc()
	}
	return err
}

// Used counts a reservation accepted with a pass.
func (s *Service) Used(concert int64) { s.Metrics.used.WithLabelValues(label(concert)).Inc() }

// TicketMember verifies a ticket of concert and returns its member.
func (s *Service) TicketMember(concert int64, ticket string) (int64, error) {
	return s.Passes.Verify(auth.KindTicket, ticket, concert)
}

func label(concert int64) string { return strconv.FormatInt(concert, 10) }

// newRNG is ChaCha8 seeded from crypto/rand: an order nobody can predict
// from the arrivals or the process.
func newRNG() *rand.Rand {
	var seed [32]byte
	crand.Read(seed[:])
	return rand.New(rand.NewChaCha8(seed))
}

// shuffle is a uniform permutation of 1..n (Fisher–Yates, ChaCha8 seeded
// from crypto/rand): the draw of the pre-open arrivals.
func (s *Service) shuffle(n int) []int {
	s.rngMu.Lock()
	perm := s.rng.Perm(n)
	s.rngMu.Unlock()
	for i := range perm {
		perm[i]++
	}
	return perm
}

// Run ticks every room until ctx ends, and reads the list of rooms again
// every second; the notifications go out from a loop of their own, so that
// waiting for the broker's acks never delays an admission step.
func (s *Service) Run(ctx context.Context) {
	if s.Producer != nil {
		go s.notifyLoop(ctx)
	}
	t := time.NewTicker(s.Tick)
	defer t.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastRefresh) >= time.Second {
			lastRefresh = time.Now()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := s.refresh(rctx); err != nil {
				s.Log.Warn("rooms: read from MySQL failed; keeping the last list", "err", err)
			}
			cancel()
			s.forget()
		}
		for concert, r := range *s.rooms.Load() {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := s.tick(rctx, r); err != nil && ctx.Err() == nil {
				s.Log.Warn("room tick failed", "concert", concert, "err", err)
			}
			cancel()
		}
	}
}

// forget drops the hubs of rooms that were removed, ending their streams'
// wait with a last change.
func (s *Service) forget() {
	rooms := *s.rooms.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, h := range s.hubs {
		if _, ok := rooms[c]; !ok {
			h.publish(stock.RoomState{Room: boxoffice.Room{Concert: c}, State: "closed"})
			delete(s.hubs, c)
		}
	}
}

// tick opens the room when its time has come, admits, and wakes the room's
// streams when something changed.
func (s *Service) tick(ctx context.Context, r boxoffice.Room) error {
	h := s.hub(r.Concert)
	last := h.state()
	opened := last.Opened
	if !opened && !time.Now().Before(r.OpensAt) {
		var err error
		if opened, err = s.Stock.OpenRoom(ctx, r.Concert, s.shuffle); errors.Is(err, boxoffice.ErrNoRoom) {
			return s.restore(ctx, r)
		} else if err != nil {
			return err
		}
	}
	// The stock only for a room that admits: a scheduled one's step reads
	// its state alone, and up to four reads a tick a gateway are saved for
	// a room opening in an hour.
	st := stock.SeatsLeft
	if opened {
		var err error
		if st, err = s.Stock.StockForRoom(ctx, r.Concert); err != nil {
			return err
		}
	}
	a, err := s.Stock.AdmitRoom(ctx, r.Concert, st, s.Tick)
	if errors.Is(err, boxoffice.ErrNoRoom) {
		return s.restore(ctx, r)
	}
	if err != nil {
		return err
	}
	a.Room = r
	l := label(r.Concert)
	if n := a.Admitted - a.From; n > 0 {
		s.Metrics.admitted.WithLabelValues(l).Add(float64(n))
	}
	s.Metrics.waiting.WithLabelValues(l).Set(float64(a.Joined - a.Admitted))
	s.Metrics.active.WithLabelValues(l).Set(float64(a.Active))
	// room_admit.lua moves the version with the counter and the state.
	if a.Version != last.Version {
		h.publish(a.RoomState)
	} else {
		h.flush()
	}
	return nil
}

// notifyLoop sends each room's notifications every tick: the admitted,
// and once it is sold out the waiters, a leased range at a time.
func (s *Service) notifyLoop(ctx context.Context) {
	t := time.NewTicker(s.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for concert := range *s.rooms.Load() {
			st := s.hub(concert).state()
			if !st.Opened {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s.notify(rctx, st, stock.NotifyAdmitted, event.Admitted)
			if st.State == stock.RoomSoldOut {
				s.notify(rctx, st, stock.NotifySoldOut, event.SoldOut)
			}
			cancel()
		}
	}
}

// restore writes a room's settings back to a Redis that lost them (the
// queue itself is gone: members join again), so the room keeps working.
func (s *Service) restore(ctx context.Context, r boxoffice.Room) error {
	// Not a room just taken off (boxoffice room off deletes the row, then
	// the keys): only one MySQL still has.
	rooms, err := s.DB.Rooms(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rooms, func(x boxoffice.Room) bool { return x.Concert == r.Concert }) {
		return nil
	}
	s.Log.Warn("room missing in Redis; writing its settings back from MySQL (members must join again)", "concert", r.Concert)
	_, err = s.Stock.SetRoom(ctx, r)
	return err
}

// notifyBatch bounds one lease's positions: at 1,000 a tick the notifier
// topic takes a sold-out room of 100,000 in 100 ticks.
const notifyBatch = 1000

// notify publishes the next range of kind's notifications under a lease,
// then moves the cursor. A failed publish leaves the cursor: the range is
// sent again (at least once).
func (s *Service) notify(ctx context.Context, st stock.RoomState, kind string, typ event.Type) {
	from, to, ok, err := s.Stock.ClaimNotifications(ctx, st.Concert, kind, s.owner, 5*time.Second, notifyBatch)
	if err != nil || !ok {
		return
	}
	members, err := s.Stock.RoomMembers(ctx, st.Concert, from, to)
	if err != nil {
		s.Log.Warn("room notifications: members", "concert", st.Concert, "err", err)
		return
	}
	now := time.Now()
	errs := make(chan error, len(members))
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := event.Notification{V: event.Version, Type: typ, ConcertID: st.Concert, MemberID: m, At: now}
			errs <- s.Producer.Publish(ctx, kafka.Message{Topic: s.Topic, Key: []byte(strconv.FormatInt(m, 10)), Value: n.Encode()})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			s.Log.Warn("room notifications: publish failed; the range is sent again", "concert", st.Concert, "kind", kind, "err", err)
			return
		}
	}
	if err := s.Stock.NotificationsDone(ctx, st.Concert, kind, s.owner, to); err != nil {
		s.Log.Warn("room notifications: cursor", "concert", st.Concert, "err", err)
		return
	}
	s.Metrics.notified.WithLabelValues(label(st.Concert), kind).Add(float64(len(members)))
}
