package stock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/seatmap"
)

// SeatLoading is what Load writes for a concert with numbered seats.
type SeatLoading struct {
	Map seatmap.Map
	// Taken maps each taken seat to the reservation holding it (active
	// rows and in-flight records alike); "" leaves the seat taken without
	// an owner.
	Taken map[string]string
}

// loadSeats queues a seated concert's keys in p: the map, the rows the
// scripts read, the bitmap (built here and written whole: one SET, not a
// SETBIT per seat) and who owns what.
func (s *Store) loadSeats(ctx context.Context, p redis.Pipeliner, c int64, sl SeatLoading) error {
	m := sl.Map
	capacity := m.Capacity()
	rows := map[string]any{}
	var starts []redis.Z
	for _, sec := range m.Sections {
		for _, r := range sec.Rows {
			rows[sec.Name+"-"+strconv.Itoa(r.Number)] = strconv.Itoa(r.Start) + ":" + strconv.Itoa(r.Seats)
			starts = append(starts, redis.Z{Score: float64(r.Start), Member: strconv.Itoa(r.Start) + ":" + strconv.Itoa(r.Seats) + ":" + sec.Name + ":" + strconv.Itoa(r.Number)})
		}
		first, last := sec.Rows[0], sec.Rows[len(sec.Rows)-1]
		rows[sec.Name] = strconv.Itoa(first.Start) + ":" + strconv.Itoa(last.Start+last.Seats-1)
	}
	rows["*"] = "0:" + strconv.Itoa(capacity-1)
	// Sized to the whole map, so that BITPOS never stops at the string's end.
	bits := make([]byte, (capacity+7)/8)
	owners := map[string]any{}
	held := map[string][]string{}
	for seat, id := range sl.Taken {
		idx, ok := m.Index(seat)
		if !ok {
			return fmt.Errorf("load seats of concert %d: no seat %q in its map", c, seat)
		}
		bits[idx/8] |= 0x80 >> (idx % 8)
		if id != "" {
			owners[strconv.Itoa(idx)] = id
			held[id] = append(held[id], seat)
		}
	}
	p.HSet(ctx, s.seatRowsKey(c), rows)
	for i := 0; i < len(starts); i += 1000 {
		p.ZAdd(ctx, s.seatStartsKey(c), starts[i:min(i+1000, len(starts))]...)
	}
	p.Set(ctx, s.seatBitsKey(c), bits, 0)
	if len(owners) > 0 {
		p.HSet(ctx, s.seatOwnerKey(c), owners)
	}
	if len(held) > 0 {
		res := make(map[string]any, len(held))
		for id, seats := range held {
			res[id] = strings.Join(seats, ",")
		}
		p.HSet(ctx, s.seatResKey(c), res)
	}
	p.Set(ctx, s.seatMapKey(c), m.JSON(), 0)
	return nil
}

// SeatMap returns a concert's seat map as Redis holds it; ok is false for
// general admission (or a concert not loaded).
func (s *Store) SeatMap(ctx context.Context, concert int64) (m seatmap.Map, ok bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.seatMapKey(concert)).Bytes()
	if errors.Is(err, redis.Nil) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	if m, err = seatmap.Parse(b); err != nil {
		return m, false, fmt.Errorf("seat map of concert %d: %w", concert, err)
	}
	return m, true, nil
}

// SeatState is a concert's seat bitmap (bit i set: seat index i taken) and
// its marker, read together so a caller can tell a map it cached is still
// the one loaded.
func (s *Store) SeatState(ctx context.Context, concert int64) (epoch string, bits []byte, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var e, b *redis.StringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		e = p.Get(ctx, s.epochKey(concert))
		b = p.Get(ctx, s.seatBitsKey(concert))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", nil, fmt.Errorf("seats of concert %d: %w", concert, err)
	}
	epoch, _ = e.Result()
	bits, _ = b.Bytes()
	return epoch, bits, nil
}

// Seated reports whether a marker is that of a concert with numbered seats.
func Seated(epoch string) bool { return strings.HasSuffix(epoch, seatedSuffix) }

// Taken reports whether bit i of a seat bitmap is set.
func Taken(bits []byte, i int) bool {
	return i/8 < len(bits) && bits[i/8]&(0x80>>(i%8)) != 0
}

// SeatSnapshot is Redis's view of a seated concert's seats, for reconcile.
type SeatSnapshot struct {
	Map seatmap.Map
	// Taken are the seats whose bit is set, each with the reservation the
	// owner hash names ("" for none).
	Taken map[string]string
	// Held is each reservation's seat record (what a release gives back).
	Held map[string][]string
}

// snapshotSeats reads the seat keys in p (within Snapshot's MULTI) and
// returns the function that makes them a SeatSnapshot afterwards.
func (s *Store) snapshotSeats(ctx context.Context, p redis.Pipeliner, c int64) func() (*SeatSnapshot, error) {
	mp := p.Get(ctx, s.seatMapKey(c))
	bits := p.Get(ctx, s.seatBitsKey(c))
	owners := p.HGetAll(ctx, s.seatOwnerKey(c))
	res := p.HGetAll(ctx, s.seatResKey(c))
	return func() (*SeatSnapshot, error) {
		doc, err := mp.Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		m, err := seatmap.Parse(doc)
		if err != nil {
			return nil, fmt.Errorf("seat map of concert %d: %w", c, err)
		}
		b, _ := bits.Bytes()
		out := &SeatSnapshot{Map: m, Taken: map[string]string{}, Held: map[string][]string{}}
		own := owners.Val()
		for _, sec := range m.Sections {
			for _, r := range sec.Rows {
				for n := 1; n <= r.Seats; n++ {
					if i := r.Start + n - 1; Taken(b, i) {
						out.Taken[seatmap.FormatID(sec.Name, r.Number, n)] = own[strconv.Itoa(i)]
					}
				}
			}
		}
		for id, list := range res.Val() {
			out.Held[id] = strings.Split(list, ",")
		}
		return out, nil
	}
}
