package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/boxoffice/boxoffice/seatmap"
)

// SeedConcerts creates concerts 1..n with capacity seats each; existing ones
// keep their reservations unless reset, which deletes them and restores full
// stock. It is idempotent.
func (s *Store) SeedConcerts(ctx context.Context, n, capacity int, reset bool) error {
	return s.SeedConcertsWith(ctx, n, capacity, nil, reset)
}

// SeedConcertsWith is SeedConcerts where capacities names the capacity of
// some concerts (the seats of their maps).
func (s *Store) SeedConcertsWith(ctx context.Context, n, capacity int, capacities map[int64]int, reset bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
	defer cancel()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed concerts: %w", err)
	}
	defer tx.Rollback()
	capacityOf := func(id int64) int {
		if c, ok := capacities[id]; ok {
			return c
		}
		return capacity
	}
	for id := 1; id <= n; id++ {
		// A new capacity keeps the seats already taken taken.
		if _, err := tx.ExecContext(ctx, `INSERT INTO concerts (id, name, capacity, remaining) VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE remaining = GREATEST(0, VALUES(capacity) - (capacity - remaining)), capacity = VALUES(capacity)`,
			id, fmt.Sprintf("Concert %d", id), capacityOf(int64(id)), capacityOf(int64(id))); err != nil {
			return fmt.Errorf("seed concert %d: %w", id, err)
		}
		if reset {
			if _, err := tx.ExecContext(ctx, `DELETE FROM reservations WHERE concert_id = ?`, id); err != nil {
				return fmt.Errorf("reset concert %d: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM reservation_seats WHERE concert_id = ?`, id); err != nil {
				return fmt.Errorf("reset concert %d: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE concerts SET remaining = capacity WHERE id = ?`, id); err != nil {
				return fmt.Errorf("reset concert %d: %w", id, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed concerts: %w", err)
	}
	return nil
}

// SeedMembers creates members 1..m that do not exist yet.
func (s *Store) SeedMembers(ctx context.Context, m int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*s.timeout)
	defer cancel()
	var have int
	if err := s.db.GetContext(ctx, &have, `SELECT COALESCE(MAX(id), 0) FROM members`); err != nil {
		return fmt.Errorf("seed members: %w", err)
	}
	const chunk = 5000
	for start := have + 1; start <= m; start += chunk {
		end := min(start+chunk-1, m)
		var b strings.Builder
		b.WriteString(`INSERT INTO members (id, name) VALUES `)
		args := make([]any, 0, 2*(end-start+1))
		for id := start; id <= end; id++ {
			if id > start {
				b.WriteByte(',')
			}
			b.WriteString("(?,?)")
			args = append(args, id, fmt.Sprintf("member-%d", id))
		}
		b.WriteString(` ON DUPLICATE KEY UPDATE id = id`)
		if _, err := s.db.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("seed members %d..%d: %w", start, end, err)
		}
	}
	return nil
}

// WaitPurge waits until InnoDB has purged deleted rows (MariaDB 10.5.7+:
// innodb_max_purge_lag_wait = 0 blocks until the history list is empty).
// MySQL has no such variable and answers an error, as does a user without
// the privilege; callers treat it as advice.
func (s *Store) WaitPurge(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `SET GLOBAL innodb_max_purge_lag_wait = 0`); err != nil {
		return fmt.Errorf("wait for purge: %w", err)
	}
	return nil
}

// SeedSeatMap gives a concert its seat map (replacing one it had), and
// sets its capacity to the map's seats, keeping the seats already taken
// taken. A concert given none stays general admission.
func (s *Store) SeedSeatMap(ctx context.Context, concert int64, m seatmap.Map) error {
	ctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
	defer cancel()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO seat_maps (concert_id, layout) VALUES (?, ?) ON DUPLICATE KEY UPDATE layout = VALUES(layout)`,
		concert, m.JSON()); err != nil {
		return fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	capacity := m.Capacity()
	if _, err := tx.ExecContext(ctx, `UPDATE concerts SET remaining = GREATEST(0, ? - (capacity - remaining)), capacity = ? WHERE id = ?`,
		capacity, capacity, concert); err != nil {
		return fmt.Errorf("capacity of concert %d: %w", concert, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	return nil
}

// SeatMap reads a concert's seat map; ok is false for general admission.
func (s *Store) SeatMap(ctx context.Context, concert int64) (m seatmap.Map, ok bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return seatMapIn(ctx, s.db, concert)
}

func seatMapIn(ctx context.Context, q sqlx.QueryerContext, concert int64) (m seatmap.Map, ok bool, err error) {
	var doc []byte
	err = sqlx.GetContext(ctx, q, &doc, `SELECT layout FROM seat_maps WHERE concert_id = ?`, concert)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	if m, err = seatmap.Parse(doc); err != nil {
		return m, false, fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	return m, true, nil
}

// ReservationSeats reads the numbered seats of a reservation (none for
// general admission), in seat-id order.
func (s *Store) ReservationSeats(ctx context.Context, id string) ([]string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var seats []string
	if err := s.db.SelectContext(ctx, &seats, `SELECT seat_id FROM reservation_seats WHERE reservation_id = ? ORDER BY seat_id`, id); err != nil {
		return nil, fmt.Errorf("seats of reservation %s: %w", id, err)
	}
	return seats, nil
}
