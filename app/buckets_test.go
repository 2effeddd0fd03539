package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/servicetest"
)

// TestBucketedConcertLifecycle: a concert seeded with 4 stock buckets, its
// 8 seats taken by members who all live in bucket 0 (so 6 of them on
// borrowed stock) as holds; one confirmed, one cancelled, the rest left to
// expire. The writer and the expirer give each seat back to the member's
// bucket: Redis's remaining, summed over the buckets, equals MySQL's; the
// members whose holds ended may reserve again while the confirmed one may
// not; reconcile finds nothing.
func TestBucketedConcertLifecycle(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members, cfg.StockBuckets = 8, 100, 4
	cfg.HoldTTL = 4 * time.Second
	s := newSystem(t, cfg, true)
	if n, err := s.stock.Buckets(context.Background(), 1); err != nil || n != 4 {
		t.Fatalf("seeded with %d buckets (%v), want 4", n, err)
	}
	ids := map[int64]string{}
	for i := int64(1); i <= 8; i++ {
		r := s.reserve(1, 4*i, "")
		if r.Status != 202 {
			t.Fatalf("member %d: %+v", 4*i, r)
		}
		ids[4*i] = r.id()
	}
	if r := s.reserve(1, 1, ""); r.Status != 409 || r.code() != "sold_out" {
		t.Fatalf("a ninth member of another bucket: %d %s, want 409 sold_out", r.Status, r.code())
	}
	for _, id := range []string{ids[4], ids[8]} {
		s.waitStatus(id, "HELD", 10*time.Second)
	}
	if r := s.transition(ids[4], "confirm"); r.Status != 200 {
		t.Fatalf("confirm: %+v", r)
	}
	if r := s.transition(ids[8], "cancel"); r.Status != 200 {
		t.Fatalf("cancel: %+v", r)
	}
	servicetest.Eventually(t, 30*time.Second, "the other holds expire", func() (bool, error) {
		var expired int
		s.db.DB().Get(&expired, `SELECT COUNT(*) FROM reservations WHERE status = 'EXPIRED'`)
		return expired == 6, fmt.Errorf("%d expired", expired)
	})
	a := s.settled(1)
	if a.Rows != 1 || a.RedisStock != 7 || a.DBRemaining != 7 {
		t.Fatalf("after the lifecycle: %+v, want 1 row and 7 seats on both sides", a)
	}
	for m, want := range map[int64]int{4: 409, 8: 202, 12: 202, 1: 202} {
		if r := s.reserve(1, m, ""); r.Status != want {
			t.Errorf("member %d again: %d %s, want %d", m, r.Status, r.code(), want)
		}
	}
	s.drained(1, 4)
	if rep, err := runReconcile(t, cfg, false); err != nil || !rep.OK() {
		t.Fatalf("reconcile: %v %+v", err, rep)
	}
}
