package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// found is a reservation where lookup found it: its row, or else its
// in-flight record in Redis (accepted, not yet written).
type found struct {
	row      *store.Reservation
	inFlight stock.InFlight
	concert  int64 // the in-flight record's concert
}

// lookup finds a reservation by id: its row first, then the in-flight
// records, then the row again — the writer commits the row before it clears
// the record, so one of the three looks sees it. A store error is
// ErrUnavailable; no row and no record is ErrNotFound.
func lookup(ctx context.Context, db *store.Store, st *stock.Store, id string) (found, error) {
	if _, err := ulid.ParseStrict(id); err != nil {
		return found{}, boxoffice.Invalidf("reservation id %q is not a ULID", id)
	}
	for i := 0; i < 2; i++ {
		row, err := db.Reservation(ctx, id)
		if err == nil {
			return found{row: &row}, nil
		}
		if !errors.Is(err, boxoffice.ErrNotFound) {
			return found{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if i == 1 {
			break
		}
		rec, concert, err := st.State(ctx, id)
		if err != nil {
			return found{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if rec.State != stock.Gone {
			return found{inFlight: rec, concert: concert}, nil
		}
	}
	return found{}, fmt.Errorf("reservation %s: %w", id, boxoffice.ErrNotFound)
}
