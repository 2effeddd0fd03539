package stock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/event"
)

// Ranking is the fast-selling ranking's side of Redis: per concert, the
// seats taken in each minute of the last hour that have not come back, and
// how many of them are paid. It has a client of its own (DialRanking), so
// that the ranking's Redis — the same server or another one — can be slow
// or gone without touching the reservation path's pool: the gateway reads
// it only for GET /api/rankings, and the ranker (boxoffice ranker) writes it
// from the topics.
type Ranking struct {
	s *Store
	// indexed is the minute each concert was last listed at in the index
	// (int64 → int64): the index is written once per concert and minute
	// instead of once per take — one round trip per take, not two
	// (BenchmarkRankingRecord: 606 → 156 µs, on the busy shared machine).
	indexed sync.Map
}

// DialRanking returns a Ranking with a client of its own; it does not wait
// for Redis. Its pool is 16 connections unless o says otherwise (a ranking
// read is three round trips, and a flood of them must not hold more), and it
// fails fast: a ranking that does not answer is a 503 at once, and the
// ranker retries the sale itself.
func DialRanking(o Options) *Ranking {
	if o.PoolSize == 0 {
		o.PoolSize = 16
	}
	o.FailFast = true
	return &Ranking{s: Dial(o)}
}

// NewRanking returns a Ranking on a client the caller made (tests).
func NewRanking(rdb redis.UniversalClient, prefix string, timeout time.Duration) *Ranking {
	return &Ranking{s: New(rdb, prefix, timeout)}
}

// Close closes the client.
func (r *Ranking) Close() error { return r.s.Close() }

// Ping checks that the ranking's Redis answers.
func (r *Ranking) Ping(ctx context.Context) error { return r.s.Ping(ctx) }

// RankingKept is how far back the buckets go: the longest window and the
// minute it has begun.
const RankingKept = 60

// RankingRecordTTL is how long a reservation's record (the minute of its
// take, the fact types seen) is kept. Past RankingKept minutes its take no
// longer counts in any window, so a redelivery or a return after that has
// nothing to change; twice that leaves room for clock skew between the
// gateways and the ranker.
const RankingRecordTTL = 2 * time.Hour

// Window is one of the sliding windows the ranking is kept over.
type Window struct {
	Name    string
	Minutes int64
}

// Windows are the ranking's windows, shortest first.
var Windows = []Window{{"1m", 1}, {"5m", 5}, {"1h", 60}}

// ParseWindow returns the window named s (1m, 5m or 1h).
func ParseWindow(s string) (Window, bool) {
	for _, w := range Windows {
		if w.Name == s {
			return w, true
		}
	}
	return Window{}, false
}

// Sale is one fact about a reservation, as the ranking sees it: a take
// (requested), a payment (confirmed) or a return (cancelled, expired,
// failed).
type Sale struct {
	ReservationID string
	ConcertID     int64
	Type          event.Type
	// TakenAt is the requested event's time (takes only).
	TakenAt time.Time
	// Capacity is the concert's (takes only).
	Capacity int64
}

// Counted says what Record made of a sale.
type Counted int

// What Record made of a sale.
const (
	// Duplicate: this type was recorded for this reservation before (Kafka
	// delivers at least once).
	Duplicate Counted = iota
	// Added: the buckets changed.
	Added
	// Remembered: noted, but nothing to count: the take is older than the
	// hour, or unknown yet (a return or payment before its take), or its
	// seat came back already.
	Remembered
)

func (c Counted) String() string {
	switch c {
	case Duplicate:
		return "duplicate"
	case Added:
		return "added"
	}
	return "remembered"
}

func (r *Ranking) bucketsKey(c int64) string           { return r.s.tag(c) + "rank" }
func (r *Ranking) recordKey(c int64, id string) string { return r.s.tag(c) + "rank:r:" + id }

// indexKey is the concerts that took a seat within the hour, scored by the
// minute of their latest take; it spans slots, so it is written apart.
func (r *Ranking) indexKey() string { return r.s.prefix + ":rank:concerts" }

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// Record counts one sale once, whatever the number of times it is
// delivered. now is the ranker's clock: it says which minutes are still kept.
func (r *Ranking) Record(ctx context.Context, s Sale, now time.Time) (Counted, error) {
	var kind string
	switch s.Type {
	case event.Requested:
		kind = "take"
	case event.Confirmed:
		kind = "pay"
	case event.Cancelled, event.Expired, event.Failed:
		kind = "back"
	default:
		return Remembered, fmt.Errorf("ranking: no sale in a %q event", s.Type)
	}
	if s.ConcertID <= 0 || s.ReservationID == "" {
		return Remembered, fmt.Errorf("ranking: sale without concert or reservation id")
	}
	nowMin := minuteOf(now)
	oldest := nowMin - RankingKept
	// A gateway's clock ahead of the ranker's would put a take in a minute
	// no window has reached yet.
	taken := min(minuteOf(s.TakenAt), nowMin)
	ctx, cancel := r.s.ctx(ctx)
	defer cancel()
	code, err := rankScript.Run(ctx, r.s.rdb, []string{r.bucketsKey(s.ConcertID), r.recordKey(s.ConcertID, s.ReservationID)},
		kind, string(s.Type), taken, nowMin, oldest, int64(RankingRecordTTL/time.Second), s.Capacity).Int64()
	if err != nil {
		return Remembered, fmt.Errorf("ranking record: %w", err)
	}
	// Also on a duplicate: a redelivery after a failed ZADD must still list
	// the concert (ZADD GT is idempotent).
	if kind == "take" && taken >= oldest {
		if last, ok := r.indexed.Load(s.ConcertID); !ok || last.(int64) < taken {
			if err := r.s.rdb.ZAddGT(ctx, r.indexKey(), redis.Z{Score: float64(taken), Member: s.ConcertID}).Err(); err != nil {
				return Remembered, fmt.Errorf("ranking index: %w", err)
			}
			r.indexed.Store(s.ConcertID, taken)
		}
	}
	switch code {
	case rankDuplicate:
		return Duplicate, nil
	case rankAdded:
		return Added, nil
	case rankNothing:
		return Remembered, nil
	}
	return Remembered, fmt.Errorf("ranking record: unexpected reply %d", code)
}

// Rank is one concert's sales over a window.
type Rank struct {
	ConcertID int64
	Capacity  int64
	// Sold is the seats taken within the window that have not come back
	// (held or paid).
	Sold int64
	// Confirmed is how many of Sold are paid.
	Confirmed int64
	// SellThrough is Sold / Capacity (0 when the capacity is unknown).
	SellThrough float64
	// RatePerMinute is Sold over the window's span in minutes.
	RatePerMinute float64
}

// MaxRanked bounds how many concerts Top reads from Redis (the index's most
// recently active ones): every one is a HGETALL of up to 122 fields.
const MaxRanked = 1000

// Top returns the concerts that sold most of their capacity within w, best
// first (then most seats, then lowest id), at most limit; concerts that sold
// nothing in w are left out.
//
// A window of N minutes is the current minute so far and the N whole
// minutes before it, so it spans N to N+1 minutes; RatePerMinute divides by
// that span.
func (r *Ranking) Top(ctx context.Context, w Window, limit int, now time.Time) ([]Rank, error) {
	ctx, cancel := r.s.ctx(ctx)
	defer cancel()
	nowMin := minuteOf(now)
	from := nowMin - w.Minutes
	index := r.indexKey()
	if err := r.s.rdb.ZRemRangeByScore(ctx, index, "-inf", "("+strconv.FormatInt(nowMin-RankingKept, 10)).Err(); err != nil {
		return nil, fmt.Errorf("ranking index: %w", err)
	}
	ids, err := r.s.rdb.ZRevRangeByScore(ctx, index, &redis.ZRangeBy{Min: strconv.FormatInt(from, 10), Max: "+inf", Count: MaxRanked}).Result()
	if err != nil {
		return nil, fmt.Errorf("ranking index: %w", err)
	}
	concerts := make([]int64, 0, len(ids))
	for _, id := range ids {
		if c, err := strconv.ParseInt(id, 10, 64); err == nil {
			concerts = append(concerts, c)
		}
	}
	cmds := make([]*redis.MapStringStringCmd, len(concerts))
	if _, err := r.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range concerts {
			cmds[i] = p.HGetAll(ctx, r.bucketsKey(c))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("ranking buckets: %w", err)
	}
	span := float64(w.Minutes) + float64(now.Sub(time.Unix(nowMin*60, 0)))/float64(time.Minute)
	var out []Rank
	for i, c := range concerts {
		rank := Rank{ConcertID: c}
		for f, v := range cmds[i].Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			if f == "cap" {
				rank.Capacity = n
				continue
			}
			if len(f) < 3 || f[1] != ':' {
				continue
			}
			m, err := strconv.ParseInt(f[2:], 10, 64)
			if err != nil || m < from || m > nowMin {
				continue
			}
			switch f[0] {
			case 't':
				rank.Sold += n
			case 'c':
				rank.Confirmed += n
			}
		}
		if rank.Sold <= 0 {
			continue
		}
		if rank.Capacity > 0 {
			rank.SellThrough = float64(rank.Sold) / float64(rank.Capacity)
		}
		rank.RatePerMinute = float64(rank.Sold) / span
		out = append(out, rank)
	}
	slices.SortFunc(out, func(a, b Rank) int {
		return cmp.Or(cmp.Compare(b.SellThrough, a.SellThrough), cmp.Compare(b.Sold, a.Sold), cmp.Compare(a.ConcertID, b.ConcertID))
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
