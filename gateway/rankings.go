package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/stock"
)

// Rankings answers GET /api/rankings: the ranking the ranker keeps in its
// Redis (stock.Ranking, a client of its own), with each listed concert's
// live remaining stock. Nothing else in the gateway touches the ranking, so
// when its Redis is gone only this endpoint answers 503.
//
// Each window's full ranking (MaxRankingLimit concerts) is computed at most
// once per CacheFor and cut to each request's limit: one computation over
// 100 concerts that sold in every minute of the hour took ~6 ms of Redis
// round trips (BenchmarkRankingTop, busy machine), and a popular page polling
// it must not multiply that.
type Rankings struct {
	Ranking *stock.Ranking
	Stock   *stock.Store
	Log     *slog.Logger
	// CacheFor is how long a window's ranking is reused; 0 computes it for
	// every request.
	CacheFor time.Duration

	mu     sync.Mutex
	cached map[string]cachedRanking
}

type cachedRanking struct {
	view RankingView
	// err is a failure, remembered as long as a ranking: a ranking Redis
	// that times out must not cost every request its timeout.
	err   error
	until time.Time
}

// Ranking query defaults and bounds: a top ten over five minutes unless
// asked otherwise; at most a hundred concerts, each one more stock read.
const (
	DefaultRankingWindow = "5m"
	DefaultRankingLimit  = 10
	MaxRankingLimit      = 100
)

// RankingView is the body of GET /api/rankings.
type RankingView struct {
	Window   string          `json:"window"`
	Limit    int             `json:"limit"`
	At       time.Time       `json:"at"`
	Concerts []RankedConcert `json:"concerts"`
}

// RankedConcert is one concert of the ranking.
type RankedConcert struct {
	Rank      int   `json:"rank"`
	ConcertID int64 `json:"concertId"`
	Capacity  int64 `json:"capacity"`
	// Sold: seats taken within the window and not given back (held or paid).
	Sold int64 `json:"sold"`
	// Confirmed: how many of Sold are paid.
	Confirmed int64 `json:"confirmed"`
	// Remaining is the live stock; null when Redis does not know the
	// concert's stock (not loaded).
	Remaining     *int64  `json:"remaining"`
	SellThrough   float64 `json:"sellThrough"`
	RatePerMinute float64 `json:"ratePerMinute"`
}

// parseRankingQuery reads ?window= and ?limit=.
func parseRankingQuery(args *fasthttp.Args) (stock.Window, int, error) {
	name := DefaultRankingWindow
	if args.Has("window") {
		name = string(args.Peek("window"))
	}
	w, ok := stock.ParseWindow(name)
	if !ok {
		return w, 0, boxoffice.Invalidf("window must be 1m, 5m or 1h, got %q", name)
	}
	limit := DefaultRankingLimit
	if args.Has("limit") {
		raw := string(args.Peek("limit"))
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxRankingLimit {
			return w, 0, boxoffice.Invalidf("limit must be an integer from 1 to %d, got %q", MaxRankingLimit, raw)
		}
		limit = n
	}
	return w, limit, nil
}

// Top is the ranking over w now (at most CacheFor old), at most limit
// concerts, with each one's remaining stock.
func (r *Rankings) Top(ctx context.Context, w stock.Window, limit int) (RankingView, error) {
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cached[w.Name]
	r.mu.Unlock()
	if !ok || !now.Before(c.until) {
		v, err := r.compute(ctx, w, now)
		c = cachedRanking{view: v, err: err, until: now.Add(r.CacheFor)}
		r.mu.Lock()
		if r.cached == nil {
			r.cached = map[string]cachedRanking{}
		}
		r.cached[w.Name] = c
		r.mu.Unlock()
	}
	if c.err != nil {
		return RankingView{}, c.err
	}
	v := c.view
	v.Limit = limit
	v.Concerts = v.Concerts[:min(limit, len(v.Concerts))]
	return v, nil
}

// compute reads the ranking over w and the listed concerts' stock.
func (r *Rankings) compute(ctx context.Context, w stock.Window, now time.Time) (RankingView, error) {
	top, err := r.Ranking.Top(ctx, w, MaxRankingLimit, now)
	if err != nil {
		// The detail is for the log; the client is told what is missing.
		r.Log.Warn("rankings unavailable", "err", err)
		return RankingView{}, fmt.Errorf("%w: the ranking's store does not answer", boxoffice.ErrUnavailable)
	}
	v := RankingView{Window: w.Name, At: now.UTC(), Concerts: make([]RankedConcert, len(top))}
	for i, k := range top {
		c := RankedConcert{Rank: i + 1, ConcertID: k.ConcertID, Capacity: k.Capacity, Sold: k.Sold, Confirmed: k.Confirmed,
			SellThrough: k.SellThrough, RatePerMinute: k.RatePerMinute}
		n, ok, err := r.Stock.Remaining(ctx, k.ConcertID)
		if err != nil {
			r.Log.Warn("rankings: stock unavailable", "concert", k.ConcertID, "err", err)
			return RankingView{}, fmt.Errorf("%w: the concerts' stock does not answer", boxoffice.ErrUnavailable)
		}
		if ok {
			c.Remaining = &n
		}
		v.Concerts[i] = c
	}
	return v, nil
}
