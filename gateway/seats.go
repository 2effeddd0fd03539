package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/seatmap"
	"github.com/boxoffice/boxoffice/stock"
)

// SeatsView is the body of GET /api/concerts/{id}/seats: which seats are
// free, per section and row, as ranges of seat numbers ("1-4,7,9-20"; ""
// when the row is full).
type SeatsView struct {
	ConcertID int64         `json:"concertId"`
	Capacity  int           `json:"capacity"`
	Free      int           `json:"free"`
	Sections  []SectionView `json:"sections"`
}

// SectionView is one section of a SeatsView.
type SectionView struct {
	Name  string    `json:"name"`
	Tier  string    `json:"tier,omitempty"`
	Seats int       `json:"seats"`
	Free  int       `json:"free"`
	Rows  []RowView `json:"rows"`
}

// RowView is one row of a SectionView; Tier only when it is not the
// section's.
type RowView struct {
	Row   int    `json:"row"`
	Seats int    `json:"seats"`
	Tier  string `json:"tier,omitempty"`
	Free  string `json:"free"`
}

// seatsFresh is how long a rendered answer is served again: pollers in a
// rush cost one Redis read and one render per concert per gateway each
// 50 ms, however many they are, and a seat shows as taken or free at most
// this much late (a hold is decided by the script, never by this view).
const seatsFresh = 50 * time.Millisecond

// seatViews caches each concert's map (until its marker changes: a reload)
// and its last rendered answer.
type seatViews struct {
	mu       sync.Mutex
	concerts map[int64]*seatView
}

type seatView struct {
	mu     sync.Mutex
	epoch  string
	m      seatmap.Map
	body   []byte
	at     time.Time
	loaded bool
}

// maxSeatViews bounds the cache: concert ids come from requests.
const maxSeatViews = 1024

func (c *seatViews) of(concert int64) *seatView {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.concerts == nil || len(c.concerts) >= maxSeatViews {
		c.concerts = map[int64]*seatView{}
	}
	v, ok := c.concerts[concert]
	if !ok {
		v = &seatView{}
		c.concerts[concert] = v
	}
	return v
}

// Seats answers GET /api/concerts/{id}/seats from Redis alone (the bitmap
// and, once per load, the map), as encoded JSON.
func (r *Reads) Seats(ctx context.Context, concert int64) ([]byte, error) {
	v := r.seats.of(concert)
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if v.body != nil && now.Sub(v.at) < seatsFresh {
		return v.body, nil
	}
	epoch, bits, err := r.Stock.SeatState(ctx, concert)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	if epoch == "" {
		if _, err := r.DB.Concert(ctx, concert); err != nil {
			if errors.Is(err, boxoffice.ErrConcertNotFound) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("concert %d: %w (reconcile loads it)", concert, boxoffice.ErrStockNotLoaded)
	}
	if !stock.Seated(epoch) {
		return nil, fmt.Errorf("concert %d has no numbered seats: %w", concert, boxoffice.ErrNotFound)
	}
	if !v.loaded || v.epoch != epoch {
		m, ok, err := r.Stock.SeatMap(ctx, concert)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if !ok {
			return nil, fmt.Errorf("concert %d: %w (its seat map is missing)", concert, boxoffice.ErrStockNotLoaded)
		}
		v.m, v.epoch, v.loaded = m, epoch, true
	}
	body, err := json.Marshal(renderSeats(concert, v.m, bits))
	if err != nil {
		return nil, err
	}
	v.body, v.at = append(body, '\n'), now
	return v.body, nil
}

// renderSeats turns a seat bitmap into a SeatsView.
func renderSeats(concert int64, m seatmap.Map, bits []byte) SeatsView {
	out := SeatsView{ConcertID: concert, Sections: make([]SectionView, 0, len(m.Sections))}
	var b []byte
	for _, sec := range m.Sections {
		sv := SectionView{Name: sec.Name, Tier: sec.Tier, Rows: make([]RowView, 0, len(sec.Rows))}
		for _, r := range sec.Rows {
			rv := RowView{Row: r.Number, Seats: r.Seats}
			if r.Tier != "" && r.Tier != sec.Tier {
				rv.Tier = r.Tier
			}
			b = b[:0]
			free := 0
			for n := 1; n <= r.Seats; {
				if stock.Taken(bits, r.Start+n-1) {
					n++
					continue
				}
				first := n
				for n <= r.Seats && !stock.Taken(bits, r.Start+n-1) {
					n++
				}
				free += n - first
				if len(b) > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(first), 10)
				if n-1 > first {
					b = append(b, '-')
					b = strconv.AppendInt(b, int64(n-1), 10)
				}
			}
			rv.Free = string(b)
			sv.Seats += r.Seats
			sv.Free += free
			sv.Rows = append(sv.Rows, rv)
		}
		out.Capacity += sv.Seats
		out.Free += sv.Free
		out.Sections = append(out.Sections, sv)
	}
	return out
}
