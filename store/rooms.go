package store

import (
	"context"
	"fmt"
	"time"

	"github.com/boxoffice/boxoffice"
)

type roomRow struct {
	Concert   int64 `db:"concert_id"`
	OpensAtMS int64 `db:"opens_at_ms"`
	Rate      int   `db:"rate"`
	MaxActive int   `db:"max_active"`
	PassTTLMS int64 `db:"pass_ttl_ms"`
}

func (r roomRow) room() boxoffice.Room {
	return boxoffice.Room{Concert: r.Concert, OpensAt: time.UnixMilli(r.OpensAtMS), Rate: r.Rate, MaxActive: r.MaxActive,
		PassTTL: time.Duration(r.PassTTLMS) * time.Millisecond}
}

// SetRoom writes a concert's waiting room (a new one or new settings).
func (s *Store) SetRoom(ctx context.Context, r boxoffice.Room) error {
	if err := r.Check(); err != nil {
		return err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM concerts WHERE id = ?`, r.Concert); err != nil {
		return fmt.Errorf("room %d: %w", r.Concert, err)
	}
	if n == 0 {
		return fmt.Errorf("room %d: %w", r.Concert, boxoffice.ErrConcertNotFound)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO rooms (concert_id, opens_at_ms, rate, max_active, pass_ttl_ms) VALUES (?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE opens_at_ms = VALUES(opens_at_ms), rate = VALUES(rate), max_active = VALUES(max_active), pass_ttl_ms = VALUES(pass_ttl_ms)`,
		r.Concert, r.OpensAt.UnixMilli(), r.Rate, r.MaxActive, r.PassTTL.Milliseconds())
	if err != nil {
		return fmt.Errorf("room %d: %w", r.Concert, err)
	}
	return nil
}

// Rooms lists every waiting room.
func (s *Store) Rooms(ctx context.Context) ([]boxoffice.Room, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var rows []roomRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT concert_id, opens_at_ms, rate, max_active, pass_ttl_ms FROM rooms ORDER BY concert_id`); err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	out := make([]boxoffice.Room, len(rows))
	for i, r := range rows {
		out[i] = r.room()
	}
	return out, nil
}

// DeleteRoom removes a concert's waiting room: its sale is open to every
// member again. Deleting a room that is not there is not an error.
func (s *Store) DeleteRoom(ctx context.Context, concert int64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM rooms WHERE concert_id = ?`, concert); err != nil {
		return fmt.Errorf("room %d: %w", concert, err)
	}
	return nil
}
