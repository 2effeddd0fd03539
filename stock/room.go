package stock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
)

// The waiting room's keys: a hash tag of their own ({q<id>}), not the
// concert's, so that 100,000 arrivals and every gateway's ticks land on
// another slot than the concert's admissions.
func (s *Store) roomTag(c int64) string {
	return s.prefix + ":{q" + strconv.FormatInt(c, 10) + "}:"
}
func (s *Store) roomKey(c int64) string    { return s.roomTag(c) + "room" }
func (s *Store) ticketsKey(c int64) string { return s.roomTag(c) + "tickets" }
func (s *Store) preKey(c int64) string     { return s.roomTag(c) + "pre" }
func (s *Store) postKey(c int64) string    { return s.roomTag(c) + "post" }
func (s *Store) drawnKey(c int64) string   { return s.roomTag(c) + "drawn" }
func (s *Store) cohortsKey(c int64) string { return s.roomTag(c) + "cohorts" }
func (s *Store) issuedKey(c int64) string  { return s.roomTag(c) + "issued" }
func (s *Store) roomKeys(c int64) []string {
	return []string{s.roomKey(c), s.ticketsKey(c), s.preKey(c), s.postKey(c), s.drawnKey(c), s.cohortsKey(c), s.issuedKey(c)}
}

// RoomState is a waiting room's settings and where its queue stands.
type RoomState struct {
	boxoffice.Room
	// State is "scheduled" (not drawn yet), "open", "paused" (no seat
	// left, but some may come back) or "sold_out".
	State  string
	Opened bool
	// Drawn is how many arrived before the opening (positions 1..Drawn).
	Drawn int64
	// Joined is every ticket; Admitted the serving counter (positions
	// 1..Admitted are admitted); Active the passes still valid.
	Joined, Admitted, Active int64
	SoldOutAt                time.Time
	// Version changes with every change a waiter could see.
	Version int64
	// Now is Redis's clock when it was read.
	Now time.Time
}

// Room states.
const (
	RoomScheduled = "scheduled"
	RoomOpen      = "open"
	RoomPaused    = "paused"
	RoomSoldOut   = "sold_out"
)

// Ticket is a member's place in a room's queue.
type Ticket struct {
	Member int64
	// Position is the place in the serving order; 0 for a pre-open
	// arrival until the draw.
	Position int64
	JoinedAt time.Time
	// PreOpen: joined before the opening (drawn at random), else FIFO.
	PreOpen bool
	// Seq is the arrival order within its tier, as Redis ran the joins.
	Seq int64
}

// Cohort is one admission step: positions up to UpTo were admitted At,
// and their passes expire at ExpiresAt.
type Cohort struct {
	UpTo          int64
	At, ExpiresAt time.Time
}

// Place is a member's ticket with the room's state as one script saw it.
type Place struct {
	Ticket
	Admitted int64
	State    string
	Opened   bool
	// Cohort is the member's admission step once admitted.
	Cohort *Cohort
	// FirstPass: this call recorded the member's first pass.
	FirstPass bool
	Now       time.Time
}

func ms(v int64) time.Time { return time.UnixMilli(v) }

func parseTicket(member int64, t string) (Ticket, error) {
	f := strings.Split(t, ":")
	if len(f) != 4 {
		return Ticket{}, fmt.Errorf("room ticket %q: malformed", t)
	}
	pos, err1 := strconv.ParseInt(f[0], 10, 64)
	at, err2 := strconv.ParseInt(f[1], 10, 64)
	seq, err3 := strconv.ParseInt(f[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Ticket{}, fmt.Errorf("room ticket %q: %w", t, err)
	}
	return Ticket{Member: member, Position: pos, JoinedAt: ms(at), PreOpen: f[2] == "p", Seq: seq}, nil
}

func parseCohort(c string) (Cohort, error) {
	f := strings.Split(c, ":")
	if len(f) != 3 {
		return Cohort{}, fmt.Errorf("room cohort %q: malformed", c)
	}
	upTo, err1 := strconv.ParseInt(f[0], 10, 64)
	at, err2 := strconv.ParseInt(f[1], 10, 64)
	exp, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Cohort{}, fmt.Errorf("room cohort %q: %w", c, err)
	}
	return Cohort{UpTo: upTo, At: ms(at), ExpiresAt: ms(exp)}, nil
}

// SetRoom writes a room's settings to Redis, creating its queue on first
// use, and returns the opening time in force: a room whose opening time has
// passed keeps it, since positions were handed out against it.
func (s *Store) SetRoom(ctx context.Context, r boxoffice.Room) (time.Time, error) {
	if err := r.Check(); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := roomSetScript.Run(ctx, s.rdb, []string{s.roomKey(r.Concert), s.postKey(r.Concert)},
		r.OpensAt.UnixMilli(), r.Rate, r.MaxActive, r.PassTTL.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		return time.Time{}, fmt.Errorf("room %d: set: %w", r.Concert, errors.Join(err, errShort(res, 2)))
	}
	return ms(res[1]), nil
}

func errShort(res []int64, n int) error {
	if res != nil && len(res) < n {
		return fmt.Errorf("reply of %d values, want %d", len(res), n)
	}
	return nil
}

// DeleteRoom drops a room's queue and settings from Redis.
func (s *Store) DeleteRoom(ctx context.Context, concert int64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.rdb.Del(ctx, s.roomKeys(concert)...).Err(); err != nil {
		return fmt.Errorf("room %d: delete: %w", concert, err)
	}
	return nil
}

// Room reads a room's settings and state; ok is false without a room.
func (s *Store) Room(ctx context.Context, concert int64) (st RoomState, ok bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var h *redis.MapStringStringCmd
	var pre, post *redis.IntCmd
	var now *redis.TimeCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, s.roomKey(concert))
		pre = p.LLen(ctx, s.preKey(concert))
		post = p.LLen(ctx, s.postKey(concert))
		now = p.Time(ctx)
		return nil
	})
	if err != nil {
		return st, false, fmt.Errorf("room %d: %w", concert, err)
	}
	f := h.Val()
	if len(f) == 0 {
		return st, false, nil
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(f[k], 10, 64); return n }
	st = RoomState{
		Room: boxoffice.Room{Concert: concert, OpensAt: ms(num("opensAt")), Rate: int(num("rate")), MaxActive: int(num("maxActive")),
			PassTTL: time.Duration(num("passTTL")) * time.Millisecond},
		State: f["state"], Opened: f["opened"] == "1", Drawn: num("drawn"), Joined: pre.Val() + post.Val(),
		Admitted: num("admitted"), Active: num("admitted") - num("expired"), Version: num("version"), Now: now.Val(),
	}
	if v := num("soldOutAt"); v > 0 {
		st.SoldOutAt = ms(v)
	}
	return st, true, nil
}

// JoinRoom gives a member a ticket, once: joining again returns the same
// one (created false).
func (s *Store) JoinRoom(ctx context.Context, concert, member int64) (Ticket, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := roomJoinScript.Run(ctx, s.rdb, []string{s.roomKey(concert), s.ticketsKey(concert), s.preKey(concert), s.postKey(concert)}, member).Slice()
	if err != nil {
		return Ticket{}, false, fmt.Errorf("room %d: join: %w", concert, err)
	}
	code, _ := res[0].(int64)
	if code == roomNone {
		return Ticket{}, false, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
	}
	raw, _ := res[1].(string)
	t, err := parseTicket(member, raw)
	return t, code == roomJoined, err
}

// OpenRoom draws a room's pre-open arrivals into the order shuffle gives
// (a permutation of 1..n), once its opening time has passed. opened is
// true when the room is open, by this call or an earlier one; false when
// it is not time yet.
func (s *Store) OpenRoom(ctx context.Context, concert int64, shuffle func(n int) []int) (opened bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.roomKey(concert), s.ticketsKey(concert), s.preKey(concert), s.drawnKey(concert)}
	// A retry only when the list changed between reading it and drawing:
	// an arrival a moment before the opening time.
	for range 5 {
		n, err := s.rdb.LLen(ctx, s.preKey(concert)).Result()
		if err != nil {
			return false, fmt.Errorf("room %d: open: %w", concert, err)
		}
		perm := shuffle(int(n))
		args := make([]any, len(perm))
		for i, p := range perm {
			args[i] = p
		}
		res, err := roomDrawScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
		if err != nil {
			return false, fmt.Errorf("room %d: open: %w", concert, err)
		}
		switch res[0] {
		case roomDrew, roomDrawnAlready:
			return true, nil
		case roomTooEarly:
			return false, nil
		case roomNone:
			return false, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
		}
	}
	return false, fmt.Errorf("room %d: open: the pre-open arrivals kept changing", concert)
}

// RoomStock is what a room's tick knows of the concert's seats.
type RoomStock int

const (
	// SeatsLeft: the stock is above zero.
	SeatsLeft RoomStock = iota
	// SeatsMayReturn: none left, but holds, reservations in flight or
	// decisions not yet applied may give some back.
	SeatsMayReturn
	// SeatsGone: none left and none can come back.
	SeatsGone
)

// StockForRoom tells a room's tick whether seats are left, may come back, or
// are gone. A concert whose stock is not loaded counts as "may come back":
// nobody is told "sold out" on a Redis that lost its keys.
func (s *Store) StockForRoom(ctx context.Context, concert int64) (RoomStock, error) {
	n, ok, err := s.Remaining(ctx, concert)
	if err != nil {
		return SeatsMayReturn, err
	}
	if !ok {
		return SeatsMayReturn, nil
	}
	if n > 0 {
		return SeatsLeft, nil
	}
	for _, count := range []func(context.Context, int64) (int64, error){s.InFlightCount, s.HoldCount, s.PendingDecisions} {
		c, err := count(ctx, concert)
		if err != nil {
			return SeatsMayReturn, err
		}
		if c > 0 {
			return SeatsMayReturn, nil
		}
	}
	return SeatsGone, nil
}

// PendingDecisions counts a concert's recorded confirmations, cancellations
// and expiries the writer has not applied yet (the outbox): a cancellation
// or an expiry among them gives its seat back when applied.
func (s *Store) PendingDecisions(ctx context.Context, concert int64) (int64, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.sum(func(sub *Store) (int64, error) { return sub.PendingDecisions(ctx, concert) })
	} else if err != nil {
		return 0, fmt.Errorf("decisions: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.rdb.ZCard(ctx, s.outboxKey(concert)).Result()
	if err != nil {
		return 0, fmt.Errorf("decisions: %w", err)
	}
	return n, nil
}

// Admitting is what one tick did.
type Admitting struct {
	RoomState
	// From: positions From+1..Admitted were admitted by this tick (none
	// when From == Admitted).
	From int64
}

// AdmitRoom runs one tick of a room (room_admit.lua): passes past their
// time expire, then the serving counter moves by what the rate allows since
// the last tick of any gateway, within the most active passes, while seats
// are left. tick is the bucket's depth: never more than one tick's worth of
// admissions at once.
func (s *Store) AdmitRoom(ctx context.Context, concert int64, stock RoomStock, tick time.Duration) (Admitting, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := roomAdmitScript.Run(ctx, s.rdb, []string{s.roomKey(concert), s.cohortsKey(concert), s.preKey(concert), s.postKey(concert)},
		int(stock), tick.Milliseconds()).Slice()
	if err != nil {
		return Admitting{}, fmt.Errorf("room %d: admit: %w", concert, err)
	}
	if code, _ := res[0].(int64); code == roomNone {
		return Admitting{}, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
	}
	if len(res) < 10 {
		return Admitting{}, fmt.Errorf("room %d: admit: reply of %d values", concert, len(res))
	}
	n := func(i int) int64 { v, _ := res[i].(int64); return v }
	a := Admitting{From: n(2), RoomState: RoomState{Room: boxoffice.Room{Concert: concert}, Admitted: n(1), Joined: n(3), Active: n(4),
		Drawn: n(5), Version: n(6), Now: ms(n(9))}}
	a.State, _ = res[8].(string)
	a.Opened = a.State != RoomScheduled
	if v := n(7); v > 0 {
		a.SoldOutAt = ms(v)
	}
	return a, nil
}

// RoomPlace reads a member's ticket and, once admitted, the admission step
// it was in; with issue, it records the member's first pass (FirstPass).
func (s *Store) RoomPlace(ctx context.Context, concert, member int64, issue bool) (Place, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	flag := 0
	if issue {
		flag = 1
	}
	res, err := roomMeScript.Run(ctx, s.rdb, []string{s.roomKey(concert), s.ticketsKey(concert), s.cohortsKey(concert), s.issuedKey(concert)}, member, flag).Slice()
	if err != nil {
		return Place{}, fmt.Errorf("room %d: place: %w", concert, err)
	}
	switch code, _ := res[0].(int64); {
	case code == roomNone:
		return Place{}, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
	case code == roomNotQueued:
		return Place{}, fmt.Errorf("member %d, concert %d: %w", member, concert, boxoffice.ErrNotQueued)
	case len(res) < 8:
		return Place{}, fmt.Errorf("room %d: place: reply of %d values", concert, len(res))
	}
	raw, _ := res[1].(string)
	t, err := parseTicket(member, raw)
	if err != nil {
		return Place{}, err
	}
	p := Place{Ticket: t}
	p.Admitted, _ = res[2].(int64)
	p.State, _ = res[3].(string)
	if c, _ := res[4].(string); c != "" {
		co, err := parseCohort(c)
		if err != nil {
			return Place{}, err
		}
		p.Cohort = &co
	}
	first, _ := res[5].(int64)
	p.FirstPass = first == 1
	now, _ := res[6].(int64)
	p.Now = ms(now)
	opened, _ := res[7].(string)
	p.Opened = opened == "1"
	return p, nil
}

// RoomMembers returns the members at positions from..to (1-based,
// inclusive) of an open room.
func (s *Store) RoomMembers(ctx context.Context, concert, from, to int64) ([]int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	drawn, err := s.rdb.HGet(ctx, s.roomKey(concert), "drawn").Int64()
	if err != nil {
		return nil, fmt.Errorf("room %d: members: %w", concert, err)
	}
	var raw []string
	if from <= drawn {
		got, err := s.rdb.LRange(ctx, s.drawnKey(concert), from-1, min(to, drawn)-1).Result()
		if err != nil {
			return nil, fmt.Errorf("room %d: members: %w", concert, err)
		}
		raw = append(raw, got...)
	}
	if to > drawn {
		got, err := s.rdb.LRange(ctx, s.postKey(concert), max(from, drawn+1)-drawn-1, to-drawn-1).Result()
		if err != nil {
			return nil, fmt.Errorf("room %d: members: %w", concert, err)
		}
		raw = append(raw, got...)
	}
	out := make([]int64, 0, len(raw))
	for _, m := range raw {
		if id, err := strconv.ParseInt(m, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// Notification kinds of a room (room_notify.lua's cursors).
const (
	NotifyAdmitted = "admitted"
	NotifySoldOut  = "sold_out"
)

// ClaimNotifications leases the next positions to notify of kind (at most
// max): ok is false when there are none, or another gateway holds the lease.
func (s *Store) ClaimNotifications(ctx context.Context, concert int64, kind, owner string, lease time.Duration, max int) (from, to int64, ok bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := roomNotifyScript.Run(ctx, s.rdb, []string{s.roomKey(concert), s.preKey(concert), s.postKey(concert)},
		"claim", kind, owner, lease.Milliseconds(), max).Int64Slice()
	if err != nil {
		return 0, 0, false, fmt.Errorf("room %d: notifications: %w", concert, err)
	}
	if len(res) < 3 || res[0] != 1 {
		return 0, 0, false, nil
	}
	return res[1], res[2], true, nil
}

// NotificationsDone moves kind's cursor to to (never back) and gives up the
// lease.
func (s *Store) NotificationsDone(ctx context.Context, concert int64, kind, owner string, to int64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := roomNotifyScript.Run(ctx, s.rdb, []string{s.roomKey(concert), s.preKey(concert), s.postKey(concert)},
		"done", kind, owner, to).Err(); err != nil {
		return fmt.Errorf("room %d: notifications: %w", concert, err)
	}
	return nil
}

// RoomRecords is everything a room keeps, for audits.
type RoomRecords struct {
	RoomState
	Tickets []Ticket
	Cohorts []Cohort
	// Issued is each member's first pass.
	Issued map[int64]time.Time
}

// RoomRecords reads a room whole (audits and tests; O(arrivals)).
func (s *Store) RoomRecords(ctx context.Context, concert int64) (RoomRecords, error) {
	st, ok, err := s.Room(ctx, concert)
	if err != nil {
		return RoomRecords{}, err
	}
	if !ok {
		return RoomRecords{}, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out := RoomRecords{RoomState: st, Issued: map[int64]time.Time{}}
	tickets, err := s.rdb.HGetAll(ctx, s.ticketsKey(concert)).Result()
	if err != nil {
		return out, fmt.Errorf("room %d: tickets: %w", concert, err)
	}
	for m, raw := range tickets {
		member, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return out, fmt.Errorf("room %d: ticket of %q: %w", concert, m, err)
		}
		t, err := parseTicket(member, raw)
		if err != nil {
			return out, err
		}
		out.Tickets = append(out.Tickets, t)
	}
	cohorts, err := s.rdb.ZRange(ctx, s.cohortsKey(concert), 0, -1).Result()
	if err != nil {
		return out, fmt.Errorf("room %d: cohorts: %w", concert, err)
	}
	for _, raw := range cohorts {
		c, err := parseCohort(raw)
		if err != nil {
			return out, err
		}
		out.Cohorts = append(out.Cohorts, c)
	}
	issued, err := s.rdb.HGetAll(ctx, s.issuedKey(concert)).Result()
	if err != nil {
		return out, fmt.Errorf("room %d: passes: %w", concert, err)
	}
	for m, at := range issued {
		member, err1 := strconv.ParseInt(m, 10, 64)
		v, err2 := strconv.ParseInt(at, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return out, fmt.Errorf("room %d: pass of %q: %w", concert, m, err)
		}
		out.Issued[member] = ms(v)
	}
	return out, nil
}
