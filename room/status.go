package room

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/stock"
)

// Member statuses.
const (
	// Waiting: joined before the opening; the draw will place them.
	Waiting = "waiting"
	Queued  = "queued"
	// Admitted: a pass valid now.
	Admitted = "admitted"
	// Expired: was admitted; the pass's time is over.
	Expired = "expired"
	// SoldOut: the room sold out before the member was admitted.
	SoldOut = "sold_out"
)

// Status is a member's place, as join, /me and the stream answer it.
type Status struct {
	ConcertID int64  `json:"concertId"`
	MemberID  int64  `json:"memberId"`
	Ticket    string `json:"ticket"`
	Status    string `json:"status"`
	State     string `json:"state"`
	// Position, Ahead and EstimatedWaitSeconds are null while waiting for
	// the draw; the estimate also while paused or sold out.
	Position             *int64     `json:"position"`
	Ahead                *int64     `json:"ahead"`
	EstimatedWaitSeconds *float64   `json:"estimatedWaitSeconds"`
	OpensAt              time.Time  `json:"opensAt"`
	JoinedAt             time.Time  `json:"joinedAt"`
	Pass                 string     `json:"pass,omitempty"`
	PassExpiresAt        *time.Time `json:"passExpiresAt,omitempty"`
}

// Final reports whether nothing more will change for the member.
func (s Status) Final() bool { return s.Status == Admitted || s.Status == Expired }

// same reports whether a stream would show the two alike.
func (s Status) same(o Status) bool {
	eq := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return s.Status == o.Status && s.State == o.State && eq(s.Position, o.Position) && eq(s.Ahead, o.Ahead) && s.OpensAt.Equal(o.OpensAt)
}

// Info is a room's public view.
type Info struct {
	ConcertID      int64     `json:"concertId"`
	OpensAt        time.Time `json:"opensAt"`
	RatePerSecond  int       `json:"ratePerSecond"`
	MaxActive      int       `json:"maxActive"`
	PassTTLSeconds float64   `json:"passTtlSeconds"`
	State          string    `json:"state"`
	Joined         int64     `json:"joined"`
	Admitted       int64     `json:"admitted"`
	Waiting        int64     `json:"waiting"`
}

// unavailable makes a failure of Redis (a timeout, a refused connection)
// what it is to the client: 503 unavailable, worth a retry — not a 500.
// bench room's joins met it under load.
func unavailable(err error) error {
	if err == nil || errors.Is(err, boxoffice.ErrNoRoom) || errors.Is(err, boxoffice.ErrNotQueued) || errors.Is(err, boxoffice.ErrInvalid) {
		return err
	}
	return fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
}

func (s *Service) room(concert int64) (boxoffice.Room, error) {
	r, ok := s.settings(concert)
	if !ok {
		return r, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
	}
	return r, nil
}

// Info answers GET /api/queue/{id} from Redis.
func (s *Service) Info(ctx context.Context, concert int64) (Info, error) {
	r, err := s.room(concert)
	if err != nil {
		return Info{}, err
	}
	st, ok, err := s.Stock.Room(ctx, concert)
	if err != nil {
		return Info{}, unavailable(err)
	}
	if !ok {
		st = stock.RoomState{State: stock.RoomScheduled}
	}
	return Info{ConcertID: concert, OpensAt: r.OpensAt, RatePerSecond: r.Rate, MaxActive: r.MaxActive, PassTTLSeconds: r.PassTTL.Seconds(),
		State: st.State, Joined: st.Joined, Admitted: min(st.Admitted, st.Joined), Waiting: max(st.Joined-st.Admitted, 0)}, nil
}

// Join queues a member once; created is false when they had a ticket.
func (s *Service) Join(ctx context.Context, concert, member int64) (Status, bool, error) {
	if _, err := s.room(concert); err != nil {
		return Status{}, false, err
	}
	_, created, err := s.Stock.JoinRoom(ctx, concert, member)
	if err != nil {
		return Status{}, false, unavailable(err)
	}
	if created {
		s.Metrics.joined.WithLabelValues(label(concert)).Inc()
	}
	st, err := s.Me(ctx, concert, member)
	return st, created, err
}

// Me is a member's status now, with a pass when admitted.
func (s *Service) Me(ctx context.Context, concert, member int64) (Status, error) {
	r, err := s.room(concert)
	if err != nil {
		return Status{}, err
	}
	p, err := s.Stock.RoomPlace(ctx, concert, member, true)
	if err != nil {
		return Status{}, unavailable(err)
	}
	ticket, err := s.Passes.Sign(auth.KindTicket, concert, member, time.Now().Add(auth.TicketTTL), time.Now())
	if err != nil {
		return Status{}, err
	}
	return s.status(r, p, ticket)
}

// status turns a place into what the member is shown, signing the pass
// once admitted; a first pass is counted and its wait observed.
func (s *Service) status(r boxoffice.Room, p stock.Place, ticket string) (Status, error) {
	st := Status{ConcertID: r.Concert, MemberID: p.Member, Ticket: ticket, State: p.State, OpensAt: r.OpensAt, JoinedAt: p.JoinedAt}
	if p.State == "" {
		st.State = stock.RoomScheduled
	}
	if p.Position == 0 {
		st.Status = Waiting
		return st, nil
	}
	pos := p.Position
	st.Position = &pos
	switch {
	case p.State == stock.RoomSoldOut && (pos > p.Admitted || p.Cohort == nil || p.Cohort.ExpiresAt.After(p.Now)):
		// Nothing can come back: no pass is given any more, to the
		// admitted either (they could buy nothing with it).
		st.Status = SoldOut
		ahead := max(pos-p.Admitted-1, 0)
		st.Ahead = &ahead
	case p.Cohort != nil && pos <= p.Admitted && p.Cohort.ExpiresAt.After(p.Now):
		pass, err := s.Passes.Sign(auth.KindPass, r.Concert, p.Member, p.Cohort.ExpiresAt, p.Now)
		if err != nil {
			return st, err
		}
		st.Status, st.Pass = Admitted, pass
		exp := p.Cohort.ExpiresAt.UTC()
		st.PassExpiresAt = &exp
		zero := int64(0)
		st.Ahead = &zero
		if p.FirstPass {
			l := label(r.Concert)
			s.Metrics.issued.WithLabelValues(l).Inc()
			from := p.JoinedAt
			if r.OpensAt.After(from) {
				from = r.OpensAt
			}
			s.Metrics.wait.WithLabelValues(l).Observe(max(p.Cohort.At.Sub(from), 0).Seconds())
		}
	case pos <= p.Admitted:
		st.Status = Expired
	default:
		st.Status = Queued
		ahead := pos - p.Admitted - 1
		st.Ahead = &ahead
		if p.State == stock.RoomOpen {
			wait := float64(pos-p.Admitted) / float64(r.Rate)
			st.EstimatedWaitSeconds = &wait
		}
	}
	return st, nil
}

// Keepalive is how often a quiet stream sends a comment, so that proxies
// and the client see it alive and a gone client is found.
const Keepalive = 15 * time.Second

// drawSpread spreads the streams' reads of their place after the draw over
// this long: 10,000 of them at the same instant timed Redis out (bench
// room), and a stream whose read failed ended.
const drawSpread = time.Second

// Stream is one member's status stream: Watch reads where they stand (the
// one failure a client still gets as a status code), Run follows them.
type Stream struct {
	s               *Service
	concert, member int64
	ticket          string
	p               stock.Place
}

// Watch starts a member's stream: no room or a member who never joined is
// an error here, before anything is sent.
func (s *Service) Watch(ctx context.Context, concert, member int64) (*Stream, error) {
	if _, err := s.room(concert); err != nil {
		return nil, err
	}
	ticket, err := s.Passes.Sign(auth.KindTicket, concert, member, time.Now().Add(auth.TicketTTL), time.Now())
	if err != nil {
		return nil, err
	}
	p, err := s.Stock.RoomPlace(ctx, concert, member, true)
	if err != nil {
		return nil, unavailable(err)
	}
	return &Stream{s: s, concert: concert, member: member, ticket: ticket, p: p}, nil
}

// Run sends the member's status now and at every change the room's hub
// sees, until the status is final, the room is removed, send fails or ctx
// ends. ping is called on a quiet stream every Keepalive. A failed read of
// the member's place is tried again later, not the end of the stream.
func (w *Stream) Run(ctx context.Context, send func(Status) error, ping func() error) error {
	s, concert, member, ticket, p := w.s, w.concert, w.member, w.ticket, w.p
	r, err := s.room(concert)
	if err != nil {
		return err
	}
	s.Metrics.streams.Inc()
	defer s.Metrics.streams.Dec()
	h := s.hub(concert)
	var last Status
	first := true
	keep := time.NewTimer(Keepalive)
	defer keep.Stop()
	// again wakes the loop to read the member's place: after the spread
	// once drawn, after a failed read.
	again := time.NewTimer(time.Hour)
	again.Stop()
	defer again.Stop()
	var notBefore time.Time
	for {
		cur, changed := h.watch()
		if cur.State == "closed" {
			return nil
		}
		// The settings again: an opening moved while the member waits
		// must reach their countdown.
		if now, ok := s.settings(concert); ok {
			r = now
		}
		if !first && cur.Version > 0 {
			// The member's own record is read again only when it can
			// have changed: the draw placed them, or the counter reached
			// them. Otherwise the hub's counter says it all.
			drawn := p.Position == 0 && cur.Opened
			if drawn && notBefore.IsZero() {
				notBefore = time.Now().Add(rand.N(drawSpread))
			}
			switch {
			case drawn && time.Now().Before(notBefore):
				again.Reset(time.Until(notBefore))
			case drawn || (p.Position > 0 && p.Position <= cur.Admitted && p.Cohort == nil):
				np, err := s.Stock.RoomPlace(ctx, concert, member, true)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					again.Reset(200*time.Millisecond + rand.N(500*time.Millisecond))
					break
				}
				p = np
			default:
				p.Admitted, p.State, p.Now = max(p.Admitted, cur.Admitted), cur.State, cur.Now
			}
		}
		st, err := s.status(r, p, ticket)
		if err != nil {
			return err
		}
		if first || !st.same(last) {
			if err := send(st); err != nil {
				return err
			}
			last, first = st, false
			if st.Final() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-again.C:
		case <-keep.C:
			if err := ping(); err != nil {
				return err
			}
			keep.Reset(Keepalive)
		}
	}
}
