package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/store"
)

// Pessimistic takes a seat in one MySQL transaction that locks the concert's
// row (SELECT ... FOR UPDATE). Correct, but every waiting request holds one of
// the gateway's pooled connections (--db-pool), so under a rush the pool and
// the row lock are the bottleneck; that is what the benchmark compares.
type Pessimistic struct {
	DB *store.Store
}

// Reserve takes a seat or says why not; the row is CONFIRMED when it returns.
func (p *Pessimistic) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	r := newSyncReservation(req)
	if err := p.DB.ReserveForUpdate(ctx, r, "pessimistic"); err != nil {
		return Reservation{}, syncError(err)
	}
	return Reservation{ID: r.ID, Status: boxoffice.StatusConfirmed}, nil
}

// newSyncReservation names a reservation that a synchronous strategy writes
// itself. An Idempotency-Key is not needed there: a retry of a request that
// took a seat finds the member holding it (already_reserved).
func newSyncReservation(req ReserveRequest) store.NewReservation {
	now := time.Now().UTC()
	return store.NewReservation{ID: newID(now), ConcertID: req.ConcertID, MemberID: req.MemberID, CreatedAt: now}
}

// syncError passes the answers a client can act on and turns everything else
// the database says (deadlock, lock wait timeout, pool wait timeout, lost
// connection) into ErrUnavailable.
func syncError(err error) error {
	switch {
	case errors.Is(err, boxoffice.ErrSoldOut), errors.Is(err, boxoffice.ErrAlreadyReserved),
		errors.Is(err, boxoffice.ErrConcertNotFound), errors.Is(err, boxoffice.ErrLockTimeout):
		return err
	}
	return fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
}
