package stock_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/stock/stocktest"
)

func newRanking(t testing.TB) *stock.Ranking {
	t.Helper()
	cfg := servicetest.Config(t)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	return stock.NewRanking(rdb, cfg.RedisPrefix, time.Second)
}

// TestRankingMatchesReplay feeds a shuffled history with redeliveries to
// Record and compares Top with the ranking computed here from the same
// history by stocktest.RankingModel, which knows nothing of Redis.
func TestRankingMatchesReplay(t *testing.T) {
	ctx := context.Background()
	r := newRanking(t)
	now := time.Date(2026, 3, 1, 9, 30, 40, 0, time.UTC)
	history := stocktest.SalesHistory(rand.New(rand.NewPCG(1, 2)), now, 1500, map[int64]int64{1: 400, 2: 1000, 3: 250, 4: 0})
	for _, s := range history {
		if _, err := r.Record(ctx, s, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range stock.Windows {
		want := stocktest.RankingModel(history, w, now)
		got, err := r.Top(ctx, w, 100, now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("window %s:\n got %+v\nwant %+v", w.Name, got, want)
		}
		if len(got) == 0 {
			t.Errorf("window %s: nothing ranked; the history should sell in every window", w.Name)
		}
		if top, _ := r.Top(ctx, w, 2, now); len(top) > 2 || (len(want) >= 2 && !reflect.DeepEqual(top, want[:2])) {
			t.Errorf("window %s, limit 2: %+v", w.Name, top)
		}
	}
}

func TestRankingRecordOnce(t *testing.T) {
	ctx := context.Background()
	r := newRanking(t)
	now := time.Now()
	take := stock.Sale{ReservationID: "R1", ConcertID: 7, Type: event.Requested, TakenAt: now.Add(-2 * time.Minute), Capacity: 10}
	back := stock.Sale{ReservationID: "R1", ConcertID: 7, Type: event.Cancelled}
	early := stock.Sale{ReservationID: "R2", ConcertID: 7, Type: event.Expired}
	late := stock.Sale{ReservationID: "R2", ConcertID: 7, Type: event.Requested, TakenAt: now, Capacity: 10}
	old := stock.Sale{ReservationID: "R3", ConcertID: 7, Type: event.Requested, TakenAt: now.Add(-2 * time.Hour), Capacity: 10}
	steps := []struct {
		name string
		s    stock.Sale
		want stock.Counted
		sold int64 // in the 1 h window, after the step
	}{
		{"take", take, stock.Added, 1},
		{"take again", take, stock.Duplicate, 1},
		{"its return", back, stock.Added, 0},
		{"its return again", back, stock.Duplicate, 0},
		{"a return before its take", early, stock.Remembered, 0},
		{"the take after its return", late, stock.Remembered, 0},
		{"a take older than the hour", old, stock.Remembered, 0},
	}
	for _, st := range steps {
		got, err := r.Record(ctx, st.s, now)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: %s, want %s", st.name, got, st.want)
		}
		top, err := r.Top(ctx, stock.Windows[2], 10, now)
		if err != nil {
			t.Fatal(err)
		}
		var sold int64
		for _, rk := range top {
			sold += rk.Sold
		}
		if sold != st.sold {
			t.Errorf("%s: sold %d in 1h, want %d", st.name, sold, st.sold)
		}
	}
}

func TestRankingUnreachable(t *testing.T) {
	r := stock.DialRanking(stock.Options{Addr: fmt.Sprintf("127.0.0.1:%d", servicetest.FreePort(t)), Timeout: 200 * time.Millisecond})
	defer r.Close()
	start := time.Now()
	if _, err := r.Top(context.Background(), stock.Windows[1], 10, time.Now()); err == nil {
		t.Fatal("Top on a port nobody listens on: no error")
	}
	if _, err := r.Record(context.Background(), stock.Sale{ReservationID: "R", ConcertID: 1, Type: event.Requested, TakenAt: time.Now()}, time.Now()); err == nil {
		t.Fatal("Record on a port nobody listens on: no error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused connections took %s to report", d)
	}
}

// BenchmarkRankingRecord is one take recorded, as the ranker does per
// requested event (the script and the index, two round trips).
func BenchmarkRankingRecord(b *testing.B) {
	r := newRanking(b)
	ctx := context.Background()
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		s := stock.Sale{ReservationID: fmt.Sprintf("B%d", i), ConcertID: int64(i%10 + 1), Type: event.Requested, TakenAt: now, Capacity: 1000}
		if _, err := r.Record(ctx, s, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRankingTop is GET /api/rankings' Redis side with 100 concerts
// that sold in each of the last 60 minutes.
func BenchmarkRankingTop(b *testing.B) {
	r := newRanking(b)
	ctx := context.Background()
	now := time.Now()
	for c := int64(1); c <= 100; c++ {
		for m := range 60 {
			s := stock.Sale{ReservationID: fmt.Sprintf("T%d-%d", c, m), ConcertID: c, Type: event.Requested, TakenAt: now.Add(-time.Duration(m) * time.Minute), Capacity: 1000}
			if _, err := r.Record(ctx, s, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := r.Top(ctx, stock.Windows[1], 10, now); err != nil {
			b.Fatal(err)
		}
	}
}

// Every key the ranking writes expires, but the index (trimmed by Top): a
// concert that stops selling leaves nothing behind.
func TestRankingKeysExpire(t *testing.T) {
	cfg := servicetest.Config(t)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	r := stock.NewRanking(rdb, cfg.RedisPrefix, time.Second)
	ctx := context.Background()
	now := time.Now()
	for _, s := range []stock.Sale{
		{ReservationID: "E1", ConcertID: 3, Type: event.Requested, TakenAt: now, Capacity: 5},
		{ReservationID: "E1", ConcertID: 3, Type: event.Confirmed},
		{ReservationID: "E2", ConcertID: 3, Type: event.Failed},
	} {
		if _, err := r.Record(ctx, s, now); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, cfg.RedisPrefix+":*").Result()
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys %v, %v; want the buckets, two records and the index", keys, err)
	}
	for _, k := range keys {
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if k == cfg.RedisPrefix+":rank:concerts" {
			continue
		}
		if ttl <= 0 || ttl > stock.RankingRecordTTL {
			t.Errorf("%s: TTL %s, want up to %s", k, ttl, stock.RankingRecordTTL)
		}
	}
}
