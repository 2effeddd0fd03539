// Package stocktest is test support for what is kept in Redis: a sales
// history and the ranking a replay of it must give, computed without Redis,
// for the tests of stock.Ranking and of the ranker.
package stocktest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/stock"
)

// SalesHistory is n reservations over concerts (id → capacity) taken within
// the last 70 minutes before now (some older than any window), each with one
// outcome or none (still held): confirmed, cancelled, expired or failed; a
// fifth of the facts delivered twice, and all of them shuffled, so that a
// return often comes before its take, as it may across two topics.
func SalesHistory(rng *rand.Rand, now time.Time, n int, concerts map[int64]int64) []stock.Sale {
	ids := make([]int64, 0, len(concerts))
	for c := range concerts {
		ids = append(ids, c)
	}
	slices.Sort(ids)
	outcomes := []event.Type{"", "", "", "", event.Confirmed, event.Confirmed, event.Confirmed, event.Cancelled, event.Expired, event.Failed}
	var out []stock.Sale
	for i := range n {
		c := ids[rng.IntN(len(ids))]
		id := fmt.Sprintf("R%05d", i)
		at := now.Add(-time.Duration(rng.Int64N(int64(70 * time.Minute))))
		facts := []stock.Sale{{ReservationID: id, ConcertID: c, Type: event.Requested, TakenAt: at, Capacity: concerts[c]}}
		if o := outcomes[rng.IntN(len(outcomes))]; o != "" {
			facts = append(facts, stock.Sale{ReservationID: id, ConcertID: c, Type: o})
		}
		for _, f := range facts {
			out = append(out, f)
			if rng.IntN(5) == 0 {
				out = append(out, f)
			}
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// RankingModel is what the ranking over w should say at now after history,
// computed without Redis: per reservation, its take counts in w when its
// minute is within the window and its seat never came back; it is
// confirmed when paid. The order and the rate are the ones documented on
// stock.Ranking.Top.
func RankingModel(history []stock.Sale, w stock.Window, now time.Time) []stock.Rank {
	type res struct {
		concert, capacity, minute int64
		taken, paid, back         bool
	}
	byID := map[string]*res{}
	for _, s := range history {
		r := byID[s.ReservationID]
		if r == nil {
			r = &res{concert: s.ConcertID}
			byID[s.ReservationID] = r
		}
		switch s.Type {
		case event.Requested:
			r.taken, r.minute, r.capacity = true, s.TakenAt.Unix()/60, s.Capacity
		case event.Confirmed:
			r.paid = true
		default:
			r.back = true
		}
	}
	nowMin := now.Unix() / 60
	ranks := map[int64]*stock.Rank{}
	for _, r := range byID {
		if !r.taken || r.back || r.minute < nowMin-w.Minutes || r.minute > nowMin {
			continue
		}
		k := ranks[r.concert]
		if k == nil {
			k = &stock.Rank{ConcertID: r.concert, Capacity: r.capacity}
			ranks[r.concert] = k
		}
		k.Sold++
		if r.paid {
			k.Confirmed++
		}
	}
	span := float64(w.Minutes) + float64(now.Sub(time.Unix(nowMin*60, 0)))/float64(time.Minute)
	var out []stock.Rank
	for _, k := range ranks {
		if k.Capacity > 0 {
			k.SellThrough = float64(k.Sold) / float64(k.Capacity)
		}
		k.RatePerMinute = float64(k.Sold) / span
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b stock.Rank) int {
		return cmp.Or(cmp.Compare(b.SellThrough, a.SellThrough), cmp.Compare(b.Sold, a.Sold), cmp.Compare(a.ConcertID, b.ConcertID))
	})
	return out
}
