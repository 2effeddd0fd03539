package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/stock"
)

// Rankings answers GET /api/rankings: the ranking the ranker keeps in its
// Redis (stock.Ranking, a client of its own), with each listed concert's
// live remaining stock. Nothing else in the gateway touches the ranking, so
// when its Redis is gone only this endpoint answers 503.
type Rankings struct {
	Ranking *stock.Ranking
	Stock   *stock.Store
	Log     *slog.Logger
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

// Top is the ranking over w now, with each concert's remaining stock.
func (r *Rankings) Top(ctx context.Context, w stock.Window, limit int) (RankingView, error) {
	now := time.Now()
	top, err := r.Ranking.Top(ctx, w, limit, now)
	if err != nil {
		// The detail is for the log; the client is told what is missing.
		r.Log.Warn("rankings unavailable", "err", err)
		return RankingView{}, fmt.Errorf("%w: the ranking's store does not answer", boxoffice.ErrUnavailable)
	}
	v := RankingView{Window: w.Name, Limit: limit, At: now.UTC(), Concerts: make([]RankedConcert, len(top))}
	for i, k := range top {
		c := RankedConcert{Rank: i + 1, ConcertID: k.ConcertID, Capacity: k.Capacity, Sold: k.Sold, Confirmed: k.Confirmed,
			SellThrough: k.SellThrough, RatePerMinute: k.RatePerMinute}
		n, ok, err := r.Stock.Remaining(ctx, k.ConcertID)
		if err != nil {
			return RankingView{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if ok {
			c.Remaining = &n
		}
		v.Concerts[i] = c
	}
	return v, nil
}
