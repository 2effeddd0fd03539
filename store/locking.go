package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/boxoffice/boxoffice"
)

// The synchronous comparison strategies take a seat here, one request at a
// time: check the concert and the member, write the row CONFIRMED, decrement
// concerts.remaining. They differ only in what keeps two requests apart:
//
//	ReserveForUpdate  the concert's row lock (SELECT ... FOR UPDATE)
//	ReserveUnderLock  a lock the caller holds outside MySQL (distlock)
//	ReserveUnsafe     nothing: separate statements, no transaction
//
// Each returns boxoffice.ErrConcertNotFound, ErrAlreadyReserved or ErrSoldOut
// (checked in that order, the order of reserve.lua, so every strategy answers
// the same request the same way), or the driver's error.

// errDuplicateKey is MySQL's ER_DUP_ENTRY: here, the UNIQUE (concert_id,
// active_member) key refusing a second active reservation of a member.
const errDuplicateKey = 1062

// ReserveForUpdate takes a seat in one transaction that first locks the
// concert's row, so concurrent requests for a concert queue in MySQL, each
// holding a pooled connection while it waits.
func (s *Store) ReserveForUpdate(ctx context.Context, r NewReservation, strategy string) error {
	return s.reserveTx(ctx, r, strategy, `SELECT remaining FROM concerts WHERE id = ? FOR UPDATE`)
}

// ReserveUnderLock is ReserveForUpdate without the row lock: the caller must
// hold a lock on the concert (distlock) that keeps other requests out. The
// decrement still refuses to go below zero, so a lock lost mid-way (an expired
// lease) answers sold out rather than overselling.
func (s *Store) ReserveUnderLock(ctx context.Context, r NewReservation, strategy string) error {
	return s.reserveTx(ctx, r, strategy, `SELECT remaining FROM concerts WHERE id = ?`)
}

func (s *Store) reserveTx(ctx context.Context, r NewReservation, strategy, readRemaining string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	// Under REPEATABLE READ the snapshot of the plain reads below starts at
	// the first one, which is after the lock (row or distlock) is held, so
	// they see every reservation committed before.
	var remaining int64
	if err := tx.GetContext(ctx, &remaining, readRemaining, r.ConcertID); err != nil {
		return concertErr(r.ConcertID, err)
	}
	if err := checkMember(ctx, tx, r); err != nil {
		return err
	}
	if remaining <= 0 {
		return fmt.Errorf("concert %d: %w", r.ConcertID, boxoffice.ErrSoldOut)
	}
	if err := insertConfirmed(ctx, tx, r, strategy); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE concerts SET remaining = remaining - 1 WHERE id = ? AND remaining > 0`, r.ConcertID)
	if err != nil {
		return fmt.Errorf("take seat of concert %d: %w", r.ConcertID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("concert %d (seat taken meanwhile): %w", r.ConcertID, boxoffice.ErrSoldOut)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ReserveUnsafe takes a seat with no concurrency control at all: it reads
// remaining, checks, inserts the row and writes back the remaining it read
// minus one, each statement on its own. Concurrent requests all see the same
// remaining, so it oversells and loses decrements: the reason locks exist.
// Only the UNIQUE key still refuses a member's second active row.
func (s *Store) ReserveUnsafe(ctx context.Context, r NewReservation, strategy string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var remaining int64
	if err := s.db.GetContext(ctx, &remaining, `SELECT remaining FROM concerts WHERE id = ?`, r.ConcertID); err != nil {
		return concertErr(r.ConcertID, err)
	}
	if err := checkMember(ctx, s.db, r); err != nil {
		return err
	}
	if remaining <= 0 {
		return fmt.Errorf("concert %d: %w", r.ConcertID, boxoffice.ErrSoldOut)
	}
	if err := insertConfirmed(ctx, s.db, r, strategy); err != nil {
		return err
	}
	// The lost update: the value read above, however stale it is by now.
	if _, err := s.db.ExecContext(ctx, `UPDATE concerts SET remaining = ? WHERE id = ?`, remaining-1, r.ConcertID); err != nil {
		return fmt.Errorf("write remaining of concert %d: %w", r.ConcertID, err)
	}
	return nil
}

func concertErr(id int64, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("concert %d: %w", id, boxoffice.ErrConcertNotFound)
	}
	return fmt.Errorf("read concert %d: %w", id, err)
}

// checkMember refuses a member who already holds a seat of the concert.
func checkMember(ctx context.Context, q sqlx.QueryerContext, r NewReservation) error {
	var holds int
	if err := sqlx.GetContext(ctx, q, &holds, `SELECT COUNT(*) FROM reservations WHERE concert_id = ? AND active_member = ?`, r.ConcertID, r.MemberID); err != nil {
		return fmt.Errorf("active reservations of member %d: %w", r.MemberID, err)
	}
	if holds > 0 {
		return fmt.Errorf("member %d, concert %d: %w", r.MemberID, r.ConcertID, boxoffice.ErrAlreadyReserved)
	}
	return nil
}

// insertConfirmed writes the row; the UNIQUE key turns a member's second
// active reservation that slipped past checkMember into ErrAlreadyReserved.
func insertConfirmed(ctx context.Context, e sqlx.ExecerContext, r NewReservation, strategy string) error {
	now := time.Now().UTC()
	created := r.CreatedAt
	if created.IsZero() {
		created = now
	}
	_, err := e.ExecContext(ctx, `INSERT INTO reservations (id, concert_id, member_id, status, strategy, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.ConcertID, r.MemberID, string(boxoffice.StatusConfirmed), strategy, created.UTC(), now)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == errDuplicateKey {
		return fmt.Errorf("member %d, concert %d: %w", r.MemberID, r.ConcertID, boxoffice.ErrAlreadyReserved)
	}
	if err != nil {
		return fmt.Errorf("insert reservation %s: %w", r.ID, err)
	}
	return nil
}
