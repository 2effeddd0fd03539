package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/seatmap"
)

// Deployment returns this database's token, creating it on first use. Two
// databases never share one, so a Redis loaded from another database (a
// fresh database beside an old Redis under the same prefix) is recognised.
func (s *Store) Deployment(ctx context.Context) (string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var v string
	err := s.db.GetContext(ctx, &v, `SELECT v FROM meta WHERE k = 'deployment'`)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("deployment token: %w", err)
	}
	// Two first users at once: the primary key keeps the first token.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('deployment', ?) ON DUPLICATE KEY UPDATE k = k`, rand.Text()); err != nil {
		return "", fmt.Errorf("deployment token: %w", err)
	}
	if err := s.db.GetContext(ctx, &v, `SELECT v FROM meta WHERE k = 'deployment'`); err != nil {
		return "", fmt.Errorf("deployment token: %w", err)
	}
	return v, nil
}

// Held is a reservation awaiting payment.
type Held struct {
	ID        string    `db:"id"`
	MemberID  int64     `db:"member_id"`
	ExpiresAt time.Time `db:"expires_at"`
}

// ConcertState is the database's whole view of one concert's seats, read in
// one snapshot: what Redis is rebuilt from, and what it is compared with.
type ConcertState struct {
	ID        int64
	Capacity  int64
	Remaining int64
	// Active counts HELD and CONFIRMED rows.
	Active int64
	// Holders are the members of the active rows.
	Holders []int64
	// Held are the HELD rows.
	Held []Held
	// At is when the snapshot was taken.
	At time.Time
	// SeatMap is the concert's map (nil: general admission); Seats maps
	// each seat an active reservation holds to it, and ActiveSeats counts
	// them.
	SeatMap     *seatmap.Map
	Seats       map[string]string
	ActiveSeats int64
}

// State reads a concert's seats, its active members and its holds in one
// read-only transaction; ErrConcertNotFound when there is no such concert.
func (s *Store) State(ctx context.Context, concert int64) (ConcertState, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
	defer cancel()
	st := ConcertState{ID: concert}
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("state of concert %d: %w", concert, err)
	}
	defer tx.Rollback()
	st.At = time.Now().UTC()
	err = tx.QueryRowxContext(ctx, `SELECT capacity, remaining FROM concerts WHERE id = ?`, concert).Scan(&st.Capacity, &st.Remaining)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrConcertNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("state of concert %d: %w", concert, err)
	}
	if err := tx.SelectContext(ctx, &st.Holders, `SELECT active_member FROM reservations WHERE concert_id = ? AND active_member IS NOT NULL`, concert); err != nil {
		return st, fmt.Errorf("holders of concert %d: %w", concert, err)
	}
	st.Active = int64(len(st.Holders))
	if err := tx.SelectContext(ctx, &st.Held, `SELECT id, member_id, expires_at FROM reservations WHERE concert_id = ? AND status = 'HELD'`, concert); err != nil {
		return st, fmt.Errorf("holds of concert %d: %w", concert, err)
	}
	m, seated, err := seatMapIn(ctx, tx, concert)
	if err != nil || !seated {
		return st, err
	}
	st.SeatMap, st.Seats = &m, map[string]string{}
	rows, err := tx.QueryxContext(ctx, `SELECT seat_id, reservation_id FROM reservation_seats WHERE concert_id = ? AND active = 1`, concert)
	if err != nil {
		return st, fmt.Errorf("seats of concert %d: %w", concert, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seat, id string
		if err := rows.Scan(&seat, &id); err != nil {
			return st, fmt.Errorf("seats of concert %d: %w", concert, err)
		}
		st.Seats[seat] = id
		st.ActiveSeats++
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("seats of concert %d: %w", concert, err)
	}
	return st, nil
}

// ConcertIDs lists every concert.
func (s *Store) ConcertIDs(ctx context.Context) ([]int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, `SELECT id FROM concerts ORDER BY id`); err != nil {
		return nil, fmt.Errorf("concerts: %w", err)
	}
	return ids, nil
}

// HaveRows returns which of ids have a row.
func (s *Store) HaveRows(ctx context.Context, ids []string) (map[string]bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("rows: %w", err)
	}
	defer tx.Rollback()
	err = selectIn(ctx, tx, `SELECT id FROM reservations WHERE id IN (?)`, ids, func(r *sqlx.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		out[id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rows: %w", err)
	}
	return out, nil
}
