package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SeedConcerts creates concerts 1..n with capacity seats each; existing ones
// keep their reservations unless reset, which deletes them and restores full
// stock. It is idempotent.
func (s *Store) SeedConcerts(ctx context.Context, n, capacity int, reset bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
	defer cancel()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed concerts: %w", err)
	}
	defer tx.Rollback()
	for id := 1; id <= n; id++ {
		// A new capacity keeps the seats already taken taken.
		if _, err := tx.ExecContext(ctx, `INSERT INTO concerts (id, name, capacity, remaining) VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE remaining = GREATEST(0, VALUES(capacity) - (capacity - remaining)), capacity = VALUES(capacity)`,
			id, fmt.Sprintf("Concert %d", id), capacity, capacity); err != nil {
			return fmt.Errorf("seed concert %d: %w", id, err)
		}
		if reset {
			if _, err := tx.ExecContext(ctx, `DELETE FROM reservations WHERE concert_id = ?`, id); err != nil {
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
