// Package reconcile compares what Redis knows of each concert with the system
// of record (MySQL, plus what is still in flight), names every difference, and
// rebuilds Redis from MySQL when asked — but never from a database that is
// behind: only once the writer has consumed the topic up to the moment of the
// database's snapshot. (The public reference overwrote Redis from the
// database every five minutes, which oversells exactly when the writer lags.)
package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// The kinds of difference.
const (
	// NotLoaded: Redis has no marker for the concert, so it admits nobody
	// (503 stock_not_loaded); --fix loads it.
	NotLoaded = "not_loaded"
	// OtherDatabase: the marker names another database: Redis holds the
	// stock of another deployment under the same prefix.
	OtherDatabase = "other_database"
	// Oversold: more active rows than seats, or Redis would admit more than
	// the database has room for (its stock above the database's remaining
	// less what is in flight).
	Oversold = "oversold"
	// Leaked: seats taken in Redis with no row or in-flight record to show
	// for them; they would never be sold.
	Leaked = "leaked"
	// MissingRows: the database's own remaining disagrees with its rows.
	MissingRows = "missing_rows"
	// Orphans: in-flight records older than the grace: admitted by a gateway
	// that died before Kafka's ack (the writer's sweeper republishes them),
	// or written and never cleared.
	Orphans = "orphans"
	// StaleHolds: a HELD row that Redis can neither expire nor confirm (no
	// hold and no decision), or a hold in Redis with no reservation behind it.
	StaleHolds = "stale_holds"
	// Members: the members recorded in Redis are not those holding a seat.
	Members = "members"
	// SeatDiffs: numbered seats that are not free in Redis or held by exactly
	// one active reservation: free in Redis but sold in the database (it
	// would sell them twice), taken in Redis with no reservation behind
	// them, held by another reservation than the database says, a stock
	// that is not the bitmap's free seats, or a map on one side only.
	SeatDiffs = "seats"
)

// Difference is one way Redis and the system of record disagree.
type Difference struct {
	Kind   string `json:"kind"`
	Count  int64  `json:"count"`
	Detail string `json:"detail"`
}

// Concert is one concert's report.
type Concert struct {
	ID int64 `json:"concert"`
	// The database's side.
	Capacity    int64 `json:"capacity"`
	DBRemaining int64 `json:"dbRemaining"`
	ActiveRows  int64 `json:"activeRows"`
	HeldRows    int64 `json:"heldRows"`
	// Redis's side.
	Loaded     bool   `json:"loaded"`
	Marker     string `json:"marker,omitempty"`
	RedisStock int64  `json:"redisStock"`
	Members    int64  `json:"members"`
	Holds      int64  `json:"holds"`
	// InFlight counts the in-flight records with no row yet: seats taken in
	// Redis that the database does not have yet.
	InFlight    int64        `json:"inFlight"`
	Decisions   int64        `json:"decisions"`
	Differences []Difference `json:"differences"`
}

// OK reports whether Redis and the system of record agree.
func (c Concert) OK() bool { return len(c.Differences) == 0 }

// Has reports whether the report names a difference of this kind.
func (c Concert) Has(kind string) bool {
	return slices.ContainsFunc(c.Differences, func(d Difference) bool { return d.Kind == kind })
}

// Compare names the differences between the database's snapshot db and
// Redis's rs. written says which of rs's in-flight records have a row;
// deployment is this database's token; records older than grace at now are
// orphans.
func Compare(db store.ConcertState, rs stock.Snapshot, written map[string]bool, deployment string, now time.Time, grace time.Duration) Concert {
	c := Concert{ID: db.ID, Capacity: db.Capacity, DBRemaining: db.Remaining, ActiveRows: db.Active, HeldRows: int64(len(db.Held)),
		Loaded: rs.Loaded, Marker: rs.Epoch, RedisStock: rs.Remaining, Members: int64(len(rs.Members)), Holds: int64(len(rs.Holds)),
		Decisions: int64(len(rs.Decided)), Differences: []Difference{}}
	add := func(kind string, n int64, format string, args ...any) {
		c.Differences = append(c.Differences, Difference{Kind: kind, Count: n, Detail: fmt.Sprintf(format, args...)})
	}

	pendingMembers := map[int64]bool{}
	inFlight := map[string]bool{}
	// pendingSeats: the seats of in-flight reservations not written yet.
	pendingSeats := map[string]string{}
	var inFlightSeats int64
	var orphans int64
	for _, r := range rs.InFlight {
		inFlight[r.ID] = true
		if at, ok := rs.InFlightAt[r.ID]; ok && now.Sub(at) > grace {
			orphans++
		}
		if written[r.ID] {
			continue
		}
		c.InFlight++
		ev, err := event.Decode(r.Payload)
		if err == nil {
			pendingMembers[ev.MemberID] = true
			for _, s := range ev.Seats {
				pendingSeats[s] = r.ID
			}
		}
		if err == nil && len(ev.Seats) > 0 {
			inFlightSeats += int64(len(ev.Seats))
		} else {
			inFlightSeats++
		}
	}
	// For numbered seats the counts are of seats, not rows (an order holds
	// up to --max-seats-per-order).
	active, rowsOrSeats := db.Active, "rows"
	if db.SeatMap != nil {
		active, rowsOrSeats = db.ActiveSeats, "seats"
	}

	switch {
	case rs.Epoch == "":
		add(NotLoaded, 1, "no marker: Redis does not know this concert's stock and admits nobody (503 stock_not_loaded)")
	case stock.EpochDeployment(rs.Epoch) != deployment:
		add(OtherDatabase, 1, "the marker %q was written from another database (this one is %q)", rs.Epoch, deployment)
	}
	if active > db.Capacity {
		add(Oversold, active-db.Capacity, "%d active %s for %d seats", active, rowsOrSeats, db.Capacity)
	}
	if taken := db.Capacity - db.Remaining; taken != active {
		add(MissingRows, abs(taken-active), "the database counts %d seats taken but has %d active %s", taken, active, rowsOrSeats)
	}
	if rs.Loaded {
		// Redis's free seats should be the database's, less what is in flight.
		want := db.Remaining - inFlightSeats
		switch {
		case rs.Remaining > want:
			add(Oversold, rs.Remaining-want, "Redis would admit %d more than the database has room for (Redis %d free; database %d, less %d in flight)", rs.Remaining-want, rs.Remaining, db.Remaining, inFlightSeats)
		case rs.Remaining < want:
			add(Leaked, want-rs.Remaining, "%d seats taken in Redis with no row or in-flight record (Redis %d free; database %d, less %d in flight)", want-rs.Remaining, rs.Remaining, db.Remaining, inFlightSeats)
		}
	}
	if rs.Loaded || rs.Epoch != "" {
		compareSeats(db, rs, pendingSeats, add)
	}
	if orphans > 0 {
		add(Orphans, orphans, "%d in-flight records older than %s (a gateway died before Kafka's ack; the writer's sweeper republishes them)", orphans, grace)
	}

	holds := map[string]bool{}
	for _, h := range rs.Holds {
		holds[h.ID] = true
	}
	decided := map[string]bool{}
	for _, d := range rs.Decided {
		decided[d.ID] = true
	}
	held := map[string]bool{}
	var stale int64
	for _, h := range db.Held {
		held[h.ID] = true
		if !holds[h.ID] && !decided[h.ID] {
			stale++
		}
	}
	for _, h := range rs.Holds {
		if !held[h.ID] && !inFlight[h.ID] {
			stale++
		}
	}
	if stale > 0 {
		add(StaleHolds, stale, "%d holds that cannot end: HELD rows with no hold or decision in Redis, or holds with no reservation", stale)
	}

	if rs.Loaded || rs.Epoch != "" {
		want := map[int64]bool{}
		for _, m := range db.Holders {
			want[m] = true
		}
		for m := range pendingMembers {
			want[m] = true
		}
		var extra, missing int64
		have := map[int64]bool{}
		for _, m := range rs.Members {
			have[m] = true
			if !want[m] {
				extra++
			}
		}
		for m := range want {
			if !have[m] {
				missing++
			}
		}
		if extra+missing > 0 {
			add(Members, extra+missing, "%d members recorded in Redis hold no seat, %d holding one are not recorded", extra, missing)
		}
	}
	return c
}

// compareSeats checks that every numbered seat is free in Redis or held by
// exactly the one reservation the database (or an in-flight record) says.
func compareSeats(db store.ConcertState, rs stock.Snapshot, pending map[string]string, add func(string, int64, string, ...any)) {
	switch {
	case db.SeatMap == nil && rs.Seats == nil:
		return
	case db.SeatMap == nil:
		add(SeatDiffs, 1, "Redis has a seat map; the database has none (general admission)")
		return
	case rs.Seats == nil:
		add(SeatDiffs, 1, "the database has a seat map; Redis has none")
		return
	}
	want := maps.Clone(db.Seats)
	for s, id := range pending {
		if _, sold := want[s]; !sold {
			want[s] = id
		}
	}
	var freeButSold, orphaned, otherOwner int64
	for s, id := range want {
		owner, taken := rs.Seats.Taken[s]
		switch {
		case !taken:
			freeButSold++
		case owner != id:
			otherOwner++
		}
	}
	for s := range rs.Seats.Taken {
		if _, ok := want[s]; !ok {
			orphaned++
		}
	}
	if n := freeButSold + orphaned + otherOwner; n > 0 {
		add(SeatDiffs, n, "%d seats free in Redis but sold in the database, %d taken in Redis with no reservation, %d held in Redis by another reservation than the database's",
			freeButSold, orphaned, otherOwner)
	}
	if free := int64(rs.Seats.Map.Capacity() - len(rs.Seats.Taken)); rs.Loaded && free != rs.Remaining {
		add(SeatDiffs, abs(free-rs.Remaining), "Redis's stock is %d but its bitmap has %d free seats", rs.Remaining, free)
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
