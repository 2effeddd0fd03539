package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Reads answers the GET endpoints from MySQL and the in-flight records.
type Reads struct {
	DB    *store.Store
	Stock *stock.Store
	// seats caches the seat maps and answers of GET …/seats (seats.go).
	seats seatViews
}

// ReservationView is the body of GET /api/reservations/{id}.
type ReservationView struct {
	ID        string           `json:"reservationId"`
	Status    boxoffice.Status `json:"status"`
	ConcertID int64            `json:"concertId,omitempty"`
	MemberID  int64            `json:"memberId,omitempty"`
	Strategy  string           `json:"strategy,omitempty"`
	CreatedAt *time.Time       `json:"createdAt,omitempty"`
	UpdatedAt *time.Time       `json:"updatedAt,omitempty"`
	ExpiresAt *time.Time       `json:"expiresAt,omitempty"`
	Reason    string           `json:"reason,omitempty"`
	// Seats are its numbered seats (none for general admission).
	Seats []string `json:"seats,omitempty"`
}

// Reservation reads a reservation: its row, or PENDING while it is in flight.
func (r *Reads) Reservation(ctx context.Context, id string) (ReservationView, error) {
	f, err := lookup(ctx, r.DB, r.Stock, id)
	if err != nil {
		return ReservationView{}, err
	}
	if f.row != nil {
		v := viewOf(*f.row)
		if v.Seats, err = r.DB.ReservationSeats(ctx, id); err != nil {
			return ReservationView{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		return v, nil
	}
	v := ReservationView{ID: id, Status: boxoffice.StatusPending, ConcertID: f.concert, Strategy: "async"}
	if ev, err := event.Decode(f.inFlight.Payload); err == nil {
		v.MemberID, v.CreatedAt, v.ExpiresAt, v.Seats = ev.MemberID, &ev.At, ev.ExpiresAt, ev.Seats
	}
	return v, nil
}

func viewOf(row store.Reservation) ReservationView {
	v := ReservationView{ID: row.ID, Status: row.Status, ConcertID: row.ConcertID, MemberID: row.MemberID,
		Strategy: row.Strategy, CreatedAt: &row.CreatedAt, UpdatedAt: &row.UpdatedAt, Reason: row.Reason.String}
	if row.ExpiresAt.Valid {
		v.ExpiresAt = &row.ExpiresAt.Time
	}
	return v
}

// ConcertView is the body of GET /api/concerts/{id}.
type ConcertView struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Capacity int64  `json:"capacity"`
	// Remaining is the live count in Redis (what the next request sees).
	Remaining int64 `json:"remaining"`
	// PersistedRemaining is concerts.remaining in MySQL; it lags Remaining
	// by the reservations still in flight.
	PersistedRemaining int64 `json:"persistedRemaining"`
	InFlight           int64 `json:"inFlight"`
}

// Concert reads a concert with its live stock.
func (r *Reads) Concert(ctx context.Context, id int64) (ConcertView, error) {
	c, err := r.DB.Concert(ctx, id)
	if err != nil {
		if errors.Is(err, boxoffice.ErrConcertNotFound) {
			return ConcertView{}, err
		}
		return ConcertView{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	v := ConcertView{ID: c.ID, Name: c.Name, Capacity: c.Capacity, Remaining: c.Remaining, PersistedRemaining: c.Remaining}
	n, ok, err := r.Stock.Remaining(ctx, id)
	if err != nil {
		return ConcertView{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	if ok {
		v.Remaining = n
	}
	if v.InFlight, err = r.Stock.InFlightCount(ctx, id); err != nil {
		return ConcertView{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	return v, nil
}

// Member reads a member.
func (r *Reads) Member(ctx context.Context, id int64) (store.Member, error) {
	m, err := r.DB.Member(ctx, id)
	if err != nil && !errors.Is(err, boxoffice.ErrNotFound) {
		return m, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	return m, err
}
