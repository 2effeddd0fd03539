package gateway

import (
	"context"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/store"
)

// Unsafe reads remaining, checks, then writes the row and the remaining it
// read minus one in separate statements: no transaction, no lock. Under a
// rush it oversells and loses decrements, which is the reason the other
// strategies exist. Served only with --enable-unsafe.
type Unsafe struct {
	DB *store.Store
}

// Reserve takes a seat, perhaps one that is not there.
func (u *Unsafe) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	r := newSyncReservation(req)
	if err := u.DB.ReserveUnsafe(ctx, r, "unsafe"); err != nil {
		return Reservation{}, syncError(err)
	}
	return Reservation{ID: r.ID, Status: boxoffice.StatusConfirmed}, nil
}
