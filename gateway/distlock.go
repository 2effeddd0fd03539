package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// DistLock takes a seat the way a Redisson-based service would: it takes a
// lock on the concert in Redis, does the same database work as Pessimistic
// without the row lock, and releases the lock. No database connection is held
// while waiting, but every request for a concert still goes through the lock
// one at a time, a Redis round trip or more on each side of the work.
type DistLock struct {
	Locks *stock.Locker
	DB    *store.Store
	// Metrics, if set, records each lock acquisition.
	Metrics *Metrics
	Log     *slog.Logger
}

// Reserve takes a seat or says why not; the row is CONFIRMED when it returns.
func (d *DistLock) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	start := time.Now()
	lease, err := d.Locks.Lock(ctx, req.ConcertID)
	if d.Metrics != nil {
		d.Metrics.LockWait(err, time.Since(start), boxoffice.ErrLockTimeout)
	}
	if err != nil {
		return Reservation{}, err
	}
	r := newSyncReservation(req)
	err = d.DB.ReserveUnderLock(lease.Context(), r, "distlock")
	if err != nil && lease.Context().Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(lease.Context()))
	}
	if uerr := lease.Unlock(ctx); uerr != nil {
		// The reservation stands or fails on its own; the lock goes with its lease.
		logger(d.Log).Warn("distlock: unlock failed", "concert", req.ConcertID, "err", uerr)
	}
	if err != nil {
		return Reservation{}, syncError(err)
	}
	return Reservation{ID: r.ID, Status: boxoffice.StatusConfirmed}, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
