package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Seats is the Redis side (*stock.Store).
type Seats interface {
	Snapshot(ctx context.Context, concert int64) (stock.Snapshot, error)
	Load(ctx context.Context, l stock.Loading) error
	Unmark(ctx context.Context, concert int64) (string, error)
	Mark(ctx context.Context, concert int64, epoch string) error
	// CompleteTransfers finishes a bucketed concert's stock transfers
	// abandoned between their two steps before olderThan.
	CompleteTransfers(ctx context.Context, concert int64, olderThan time.Time) (int, error)
}

// Rows is the system of record (*store.Store).
type Rows interface {
	State(ctx context.Context, concert int64) (store.ConcertState, error)
	Deployment(ctx context.Context) (string, error)
	HaveRows(ctx context.Context, ids []string) (map[string]bool, error)
	ConcertIDs(ctx context.Context) ([]int64, error)
}

// ErrWriterBehind refuses a rebuild: events the database does not have yet
// are still on the topic, and a Redis set from it would admit more than it
// can take.
var ErrWriterBehind = errors.New("the writer has not consumed the topic up to now: rebuilding Redis from the database would oversell")

// Reconciler checks and repairs the Redis side of concerts.
type Reconciler struct {
	Seats Seats
	Rows  Rows
	// Lag reads the writer group's lag on the reservations topic.
	Lag func(ctx context.Context) (kafka.Lag, error)
	// Grace: in-flight records older than this are orphans (--inflight-grace).
	Grace time.Duration
	// Settle is how long, once a concert's marker is gone, an admission that
	// passed it before may still take to publish or undo (the produce
	// timeout and a margin).
	Settle time.Duration
	// Wait is how long a fix waits for the writer to catch up before it
	// refuses.
	Wait time.Duration
	Log  *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Report is what a check (or a fix) found.
type Report struct {
	Concerts []Concert `json:"concerts"`
	// Lag is the writer group's lag when the report was made, in events.
	Lag int64 `json:"lag"`
	// Fixed lists the concerts whose Redis side was rebuilt.
	Fixed []int64 `json:"fixed"`
}

// OK reports whether every concert agrees.
func (r Report) OK() bool {
	for _, c := range r.Concerts {
		if !c.OK() {
			return false
		}
	}
	return true
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// concerts is the list asked for, or every concert of the database.
func (r *Reconciler) concerts(ctx context.Context, only []int64) ([]int64, error) {
	if len(only) > 0 {
		return only, nil
	}
	return r.Rows.ConcertIDs(ctx)
}

// Check compares each concert (all of them when only is empty).
func (r *Reconciler) Check(ctx context.Context, only []int64) (Report, error) {
	rep := Report{Concerts: []Concert{}, Fixed: []int64{}}
	lag, err := r.Lag(ctx)
	if err != nil {
		return rep, err
	}
	rep.Lag = lag.Total
	deployment, err := r.Rows.Deployment(ctx)
	if err != nil {
		return rep, err
	}
	ids, err := r.concerts(ctx, only)
	if err != nil {
		return rep, err
	}
	for _, id := range ids {
		sides, err := r.Read(ctx, id, deployment)
		if err != nil {
			return rep, err
		}
		rep.Concerts = append(rep.Concerts, sides.Concert)
	}
	return rep, nil
}

// Sides is one concert as MySQL and Redis see it, and how they differ.
type Sides struct {
	Concert Concert
	DB      store.ConcertState
	Redis   stock.Snapshot
	// Written says which of Redis's in-flight records have a row.
	Written map[string]bool
}

// Read reads both sides of one concert and compares them; deployment is
// this database's token.
func (r *Reconciler) Read(ctx context.Context, id int64, deployment string) (Sides, error) {
	var sides Sides
	var err error
	if sides.DB, err = r.Rows.State(ctx, id); err != nil {
		return sides, err
	}
	if sides.Redis, err = r.Seats.Snapshot(ctx, id); err != nil {
		return sides, err
	}
	if sides.Written, err = r.written(ctx, sides.Redis); err != nil {
		return sides, err
	}
	sides.Concert = Compare(sides.DB, sides.Redis, sides.Written, deployment, r.now(), r.Grace)
	return sides, nil
}

func (r *Reconciler) written(ctx context.Context, rs stock.Snapshot) (map[string]bool, error) {
	ids := make([]string, len(rs.InFlight))
	for i, f := range rs.InFlight {
		ids[i] = f.ID
	}
	return r.Rows.HaveRows(ctx, ids)
}

// Fix rebuilds the Redis side of every concert asked for (all of them when
// only is empty) that disagrees, from the database — only once the writer
// has consumed everything published before the database's snapshot; it
// refuses with ErrWriterBehind otherwise, and changes nothing then.
func (r *Reconciler) Fix(ctx context.Context, only []int64) (Report, error) {
	// Seats a crashed gateway left between two buckets are counted as
	// remaining by the check, but sold by nobody until they arrive.
	ids, err := r.concerts(ctx, only)
	if err != nil {
		return Report{Concerts: []Concert{}, Fixed: []int64{}}, err
	}
	for _, id := range ids {
		n, err := r.Seats.CompleteTransfers(ctx, id, r.now().Add(-stock.TransferGrace))
		if err != nil {
			return Report{Concerts: []Concert{}, Fixed: []int64{}}, fmt.Errorf("concert %d: %w", id, err)
		}
		if n > 0 && r.Log != nil {
			r.Log.Info("finished abandoned stock transfers", "concert", id, "count", n)
		}
	}
	before, err := r.Check(ctx, only)
	if err != nil {
		return before, err
	}
	deployment, err := r.Rows.Deployment(ctx)
	if err != nil {
		return before, err
	}
	if err := r.caughtUp(ctx); err != nil {
		return before, err
	}
	var fixed []int64
	for _, c := range before.Concerts {
		if c.OK() {
			continue
		}
		if err := r.rebuild(ctx, c.ID, deployment); err != nil {
			return before, fmt.Errorf("concert %d: %w", c.ID, err)
		}
		fixed = append(fixed, c.ID)
	}
	after, err := r.Check(ctx, only)
	after.Fixed = append(after.Fixed, fixed...)
	return after, err
}

// caughtUp waits up to Wait for the writer's lag to be 0.
func (r *Reconciler) caughtUp(ctx context.Context) error {
	deadline := r.now().Add(r.Wait)
	for {
		lag, err := r.Lag(ctx)
		if err != nil {
			return err
		}
		if lag.Total == 0 {
			return nil
		}
		if !r.now().Before(deadline) {
			return fmt.Errorf("%w (%d events not consumed after waiting %s)", ErrWriterBehind, lag.Total, r.Wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rebuild loads one concert's Redis side from the database. The marker goes
// first, so nobody is admitted while the rebuild runs; admissions that were
// past it get Settle to publish (and reach the writer) or undo.
func (r *Reconciler) rebuild(ctx context.Context, id int64, deployment string) error {
	prev, err := r.Seats.Unmark(ctx, id)
	if err != nil {
		return err
	}
	restore := func(cause error) error {
		if prev != "" {
			if err := r.Seats.Mark(context.WithoutCancel(ctx), id, prev); err != nil {
				return errors.Join(cause, fmt.Errorf("putting the marker back: %w", err))
			}
		}
		return cause
	}
	select {
	case <-ctx.Done():
		return restore(ctx.Err())
	case <-time.After(r.Settle):
	}
	if err := r.caughtUp(ctx); err != nil {
		return restore(err)
	}
	sides, err := r.Read(ctx, id, deployment)
	if err != nil {
		return restore(err)
	}
	l := sides.Plan()
	l.Epoch = stock.NewEpoch(deployment, r.now())
	if err := r.Seats.Load(ctx, l); err != nil {
		return restore(err)
	}
	if r.Log != nil {
		r.Log.Info("rebuilt the Redis side of a concert from the database", "concert", id,
			"remaining", l.Remaining, "members", len(l.Holders), "holds", len(l.Holds), "epoch", l.Epoch)
	}
	return nil
}

// Plan is what Redis should hold for the concert (without its Epoch): the
// database's seats less the in-flight reservations it does not have yet
// (they keep their records and holds), its holders and theirs, and the holds
// of its HELD rows that no decision has ended yet.
func (sides Sides) Plan() stock.Loading {
	db, rs, written := sides.DB, sides.Redis, sides.Written
	l := stock.Loading{Concert: db.ID, Remaining: db.Remaining, Holders: slices.Clone(db.Holders), Holds: []stock.Hold{}}
	pending := map[string]bool{}
	holding := make(map[int64]bool, len(l.Holders))
	for _, m := range l.Holders {
		holding[m] = true
	}
	if db.SeatMap != nil {
		l.Seats = &stock.SeatLoading{Map: *db.SeatMap, Taken: maps.Clone(db.Seats)}
	}
	for _, f := range rs.InFlight {
		if written[f.ID] {
			continue
		}
		pending[f.ID] = true
		ev, err := event.Decode(f.Payload)
		switch {
		case err == nil && l.Seats != nil:
			// Its seats are taken until it is written (or given back);
			// one the database has given to another stays that one's.
			for _, s := range ev.Seats {
				if _, taken := l.Seats.Taken[s]; !taken {
					if _, ok := l.Seats.Map.Index(s); ok {
						l.Seats.Taken[s] = f.ID
						l.Remaining--
					}
				}
			}
		default:
			l.Remaining--
		}
		if err == nil && !holding[ev.MemberID] {
			holding[ev.MemberID] = true
			l.Holders = append(l.Holders, ev.MemberID)
		}
	}
	decided := map[string]bool{}
	for _, d := range rs.Decided {
		decided[d.ID] = true
	}
	for _, h := range db.Held {
		if !decided[h.ID] {
			l.Holds = append(l.Holds, stock.Hold{ID: h.ID, MemberID: h.MemberID, ExpiresAt: h.ExpiresAt})
		}
	}
	for _, h := range rs.Holds {
		if pending[h.ID] {
			l.Holds = append(l.Holds, h)
		}
	}
	return l
}
