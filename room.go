package boxoffice

import (
	"fmt"
	"time"
)

// Room is a concert's waiting room: who may buy, and how fast. Before
// OpensAt members join and wait; at OpensAt those arrivals are drawn into a
// random order, later ones queue behind them in arrival order, and Rate of
// them a second are admitted — each given a pass good for PassTTL — while no
// more than MaxActive passes are valid at once and seats remain.
type Room struct {
	Concert   int64
	OpensAt   time.Time
	Rate      int
	MaxActive int
	PassTTL   time.Duration
}

// Room limits: a rate past MaxRoomRate would admit faster than any gateway
// here answers (about 40,000 reservations/s on 2 cores), and a pass under a
// MinPassTTL could not be used before it expired.
const (
	MaxRoomRate = 100_000
	MinPassTTL  = 10 * time.Second
	MaxPassTTL  = 24 * time.Hour
)

// Check reports what is wrong with r, as an ErrInvalid.
func (r Room) Check() error {
	switch {
	case r.Concert <= 0:
		return Invalidf("room: concert must be a positive id, got %d", r.Concert)
	case r.OpensAt.IsZero():
		return Invalidf("room: the opening time is required")
	case r.Rate < 1 || r.Rate > MaxRoomRate:
		return Invalidf("room: rate must be 1..%d admissions a second, got %d", MaxRoomRate, r.Rate)
	case r.MaxActive < 1:
		return Invalidf("room: max-active must be at least 1, got %d", r.MaxActive)
	case r.PassTTL < MinPassTTL || r.PassTTL > MaxPassTTL:
		return Invalidf("room: pass lifetime must be %s..%s, got %s", MinPassTTL, MaxPassTTL, r.PassTTL)
	}
	return nil
}

// String is the room's settings in a line, for logs and the admin command.
func (r Room) String() string {
	return fmt.Sprintf("concert %d: opens %s, %d/s, at most %d active, passes good %s",
		r.Concert, r.OpensAt.UTC().Format(time.RFC3339), r.Rate, r.MaxActive, r.PassTTL)
}
