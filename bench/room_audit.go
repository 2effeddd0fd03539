package bench

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// RoomCheck is one audit of a room run: what it checked, whether it held,
// and the figure or the first offence that decided it.
type RoomCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func roomCheck(name string, problems []string, ok string) RoomCheck {
	if len(problems) == 0 {
		return RoomCheck{Name: name, OK: true, Detail: ok}
	}
	d := problems[0]
	if len(problems) > 1 {
		d += fmt.Sprintf(" (and %d more)", len(problems)-1)
	}
	return RoomCheck{Name: name, Detail: d}
}

// Audit names, in the order the table lists them.
const (
	auditDense     = "one ticket each, positions dense"
	auditFIFO      = "post-open arrivals FIFO"
	auditInOrder   = "nobody admitted out of order"
	auditShuffle   = "pre-open draw random"
	auditRate      = "passes never ahead of the rate"
	auditMaxActive = "never more than maxActive valid"
)

// auditRoom runs every audit of the room's own records.
func auditRoom(r RoomRecords) []RoomCheck {
	return []RoomCheck{auditTickets(r), auditPostOpen(r), auditAdmittedInOrder(r), auditPreOpenRandom(r), auditPassRate(r), auditActive(r)}
}

// auditTickets: one ticket per member, the drawn positions exactly
// 1..n (no position given twice, none skipped), the pre-open ones exactly
// 1..Drawn.
func auditTickets(r RoomRecords) RoomCheck {
	var problems []string
	seen := make(map[int64]bool, len(r.Tickets))
	var pos []int64
	var pre int64
	for _, t := range r.Tickets {
		if seen[t.Member] {
			problems = append(problems, fmt.Sprintf("member %d has two tickets", t.Member))
		}
		seen[t.Member] = true
		if t.Position < 0 {
			problems = append(problems, fmt.Sprintf("member %d has position %d", t.Member, t.Position))
			continue
		}
		if t.Position > 0 {
			pos = append(pos, t.Position)
			if t.PreOpen {
				pre++
				if t.Position > r.Drawn {
					problems = append(problems, fmt.Sprintf("pre-open member %d drawn at %d, past the %d drawn", t.Member, t.Position, r.Drawn))
				}
			}
		} else if !t.PreOpen || (!r.OpensAt.IsZero() && r.Drawn > 0) {
			problems = append(problems, fmt.Sprintf("member %d (pre-open %t) has no position after the draw", t.Member, t.PreOpen))
		}
	}
	if pre != r.Drawn {
		problems = append(problems, fmt.Sprintf("%d pre-open tickets drawn, the room says %d", pre, r.Drawn))
	}
	slices.Sort(pos)
	for i, p := range pos {
		if p != int64(i+1) {
			problems = append(problems, fmt.Sprintf("positions not dense: the %d-th smallest is %d", i+1, p))
			break
		}
	}
	for m := range r.Issued {
		if !seen[m] {
			problems = append(problems, fmt.Sprintf("member %d has a pass but no ticket", m))
		}
	}
	return roomCheck(auditDense, problems, fmt.Sprintf("%d tickets, positions 1..%d, %d drawn before opening", len(r.Tickets), len(pos), r.Drawn))
}

// auditPostOpen: arrivals after opening are served first come, first
// served: the k-th of them (Seq k) holds position Drawn + k.
func auditPostOpen(r RoomRecords) RoomCheck {
	var problems []string
	var n int
	for _, t := range r.Tickets {
		if t.PreOpen {
			continue
		}
		n++
		if t.Position != r.Drawn+t.Seq {
			problems = append(problems, fmt.Sprintf("member %d arrived %d-th after opening but holds position %d, not %d", t.Member, t.Seq, t.Position, r.Drawn+t.Seq))
		}
	}
	return roomCheck(auditFIFO, problems, fmt.Sprintf("%d post-open arrivals at Drawn + arrival order", n))
}

// auditAdmittedInOrder: no pass was issued before the serving counter had
// reached its holder's position, and nobody past the counter holds one. A
// cohort's At and a pass's issue time are both Redis time.
func auditAdmittedInOrder(r RoomRecords) RoomCheck {
	var problems []string
	pos := make(map[int64]int64, len(r.Tickets))
	for _, t := range r.Tickets {
		pos[t.Member] = t.Position
	}
	cohorts := slices.SortedFunc(slices.Values(r.Cohorts), func(a, b RoomCohort) int { return a.At.Compare(b.At) })
	upToAt := func(t time.Time) int64 {
		i, _ := slices.BinarySearchFunc(cohorts, t, func(c RoomCohort, t time.Time) int {
			if c.At.After(t) {
				return 1
			}
			return -1
		})
		if i == 0 {
			return 0
		}
		return cohorts[i-1].UpTo
	}
	var post int
	for m, at := range r.Issued {
		p, ok := pos[m]
		switch {
		case !ok:
			continue // auditTickets says so
		case p <= 0:
			problems = append(problems, fmt.Sprintf("member %d has a pass but no position", m))
		case p > r.Admitted:
			problems = append(problems, fmt.Sprintf("member %d at position %d has a pass; only %d admitted", m, p, r.Admitted))
		case p > upToAt(at):
			problems = append(problems, fmt.Sprintf("member %d at position %d had a pass at %s, when the counter stood at %d", m, p, at.Format(time.StampMilli), upToAt(at)))
		}
		if p > r.Drawn {
			post++
		}
	}
	slices.Sort(problems) // map order would make the first one random
	return roomCheck(auditInOrder, problems, fmt.Sprintf("%d passes, each after the counter reached its position (%d of them post-open)", len(r.Issued), post))
}

// minShuffle is the fewest pre-open arrivals the randomness of whose draw
// is judged: below it ρ's spread is too wide to mean anything.
const minShuffle = 30

// auditPreOpenRandom: the draw of the pre-open arrivals is not their arrival
// order. Under a uniform shuffle Spearman's ρ between arrival (Seq) and
// position has standard deviation 1/√(P−1), so |ρ| ≤ 4/√P fails a fair
// draw about once in 16,000 runs and fails arrival order, its reverse or
// any mostly sorted draw outright. Each tenth of the arrivals must also be
// spread over the queue: its mean position within 4.5 standard errors of
// the middle (a block of early arrivals kept together at the front or the
// back moves its tenth's mean far off, whatever ρ says).
func auditPreOpenRandom(r RoomRecords) RoomCheck {
	var pre []RoomTicket
	for _, t := range r.Tickets {
		if t.PreOpen && t.Position > 0 {
			pre = append(pre, t)
		}
	}
	p := len(pre)
	if p < minShuffle {
		return RoomCheck{Name: auditShuffle, OK: true, Detail: fmt.Sprintf("%d drawn: too few to judge (fewer than %d)", p, minShuffle)}
	}
	slices.SortFunc(pre, func(a, b RoomTicket) int { return cmp.Compare(a.Seq, b.Seq) })
	var problems []string
	rho := spearman(pre)
	bound := 4 / math.Sqrt(float64(p))
	if math.Abs(rho) > bound {
		problems = append(problems, fmt.Sprintf("Spearman's ρ(arrival, position) = %.3f, outside ±%.3f", rho, bound))
	}
	// Each tenth by arrival: n of the P positions drawn without
	// replacement; the mean's variance is σ²/n × (P−n)/(P−1) with σ² =
	// (P²−1)/12.
	mid := float64(p+1) / 2
	for d := range 10 {
		lo, hi := d*p/10, (d+1)*p/10
		n := hi - lo
		if n == 0 {
			continue
		}
		var sum float64
		for _, t := range pre[lo:hi] {
			sum += float64(t.Position)
		}
		mean := sum / float64(n)
		se := math.Sqrt((float64(p)*float64(p)-1)/12/float64(n)*float64(p-n)/float64(p-1)) + 1e-9
		if z := (mean - mid) / se; math.Abs(z) > 4.5 {
			problems = append(problems, fmt.Sprintf("arrivals %d–%d drew a mean position of %.0f, %.1f standard errors from the middle %.0f", lo+1, hi, mean, z, mid))
		}
	}
	return roomCheck(auditShuffle, problems, fmt.Sprintf("ρ = %+.3f over %d drawn (bound ±%.3f), each tenth's mean within 4.5 SE", rho, p, bound))
}

// spearman is Spearman's ρ between arrival rank (the order of ts) and
// position, both permutations of 1..n when the positions are dense; ranks
// are taken here so that gaps do not matter.
func spearman(ts []RoomTicket) float64 {
	n := len(ts)
	byPos := make([]int, n)
	for i := range byPos {
		byPos[i] = i
	}
	slices.SortFunc(byPos, func(a, b int) int { return cmp.Compare(ts[a].Position, ts[b].Position) })
	rank := make([]float64, n)
	for r, i := range byPos {
		rank[i] = float64(r + 1)
	}
	var d2 float64
	for i := range n {
		d := float64(i+1) - rank[i]
		d2 += d * d
	}
	fn := float64(n)
	return 1 - 6*d2/(fn*(fn*fn-1))
}

// tickWorth is one tick's admissions, the bucket's burst.
func tickWorth(r RoomRecords) int64 {
	return int64(math.Ceil(float64(r.Rate) * r.Tick.Seconds()))
}

// auditPassRate: the serving counter never runs ahead of the rate by more
// than one tick: for every cohort, UpTo ≤ rate × (At − the opening) + one
// tick's worth. The opening is the room's OpensAt (the bucket starts empty at
// the draw, which is never earlier), so a first step that comes late may
// admit what the time since the opening allowed, and no more. Pauses (sold
// out) only lower the counter's curve; the bucket's burst of one tick keeps
// a resumption within the bound.
func auditPassRate(r RoomRecords) RoomCheck {
	cohorts := slices.SortedFunc(slices.Values(r.Cohorts), func(a, b RoomCohort) int { return a.At.Compare(b.At) })
	if len(cohorts) == 0 {
		return RoomCheck{Name: auditRate, OK: r.Admitted == 0, Detail: fmt.Sprintf("no cohort; %d admitted", r.Admitted)}
	}
	var problems []string
	tw := tickWorth(r)
	opening := r.OpensAt
	if opening.IsZero() {
		opening = cohorts[0].At.Add(-r.Tick)
	}
	var worst float64
	var prev int64
	for _, c := range cohorts {
		if c.UpTo < prev {
			problems = append(problems, fmt.Sprintf("the counter went back from %d to %d at %s", prev, c.UpTo, c.At.Format(time.StampMilli)))
		}
		prev = c.UpTo
		bound := float64(r.Rate)*max(c.At.Sub(opening), 0).Seconds() + float64(tw)
		if float64(c.UpTo) > math.Floor(bound)+1 { // +1: the bucket's rounding
			problems = append(problems, fmt.Sprintf("%d admitted at %s, %.3fs after the opening: the rate allows %.0f", c.UpTo, c.At.Format(time.StampMilli), c.At.Sub(opening).Seconds(), bound))
		}
		worst = max(worst, float64(c.UpTo)-bound+float64(tw))
	}
	last := cohorts[len(cohorts)-1]
	if last.UpTo != r.Admitted {
		problems = append(problems, fmt.Sprintf("the last step admitted up to %d; the room says %d", last.UpTo, r.Admitted))
	}
	return roomCheck(auditRate, problems, fmt.Sprintf("%d steps; at most %.0f ahead of rate × time (a tick is %d)", len(cohorts), math.Max(0, worst), tw))
}

// auditActive: at no instant were more than MaxActive passes valid. Cohort
// i's passes are valid from its At to its ExpiresAt; the count only rises
// at a cohort's At, so it is enough to count there.
func auditActive(r RoomRecords) RoomCheck {
	cohorts := slices.SortedFunc(slices.Values(r.Cohorts), func(a, b RoomCohort) int { return a.At.Compare(b.At) })
	size := make([]int64, len(cohorts))
	var prev int64
	for i, c := range cohorts {
		size[i] = c.UpTo - prev
		prev = c.UpTo
	}
	var problems []string
	var most int64
	for i, c := range cohorts {
		var valid int64
		for j := 0; j <= i; j++ {
			if cohorts[j].ExpiresAt.After(c.At) {
				valid += size[j]
			}
		}
		most = max(most, valid)
		if valid > int64(r.MaxActive) {
			problems = append(problems, fmt.Sprintf("%d passes valid at %s, maxActive is %d", valid, c.At.Format(time.StampMilli), r.MaxActive))
		}
	}
	return roomCheck(auditMaxActive, problems, fmt.Sprintf("at most %d valid at once (maxActive %d)", most, r.MaxActive))
}

// roomBuys is what the buyers saw, for the reservation audit.
type roomBuys struct {
	Capacity int64 `json:"capacity"`
	// Accepted are 2xx answers to a reservation that carried its own pass;
	// Confirmed those of them whose confirm was answered 200.
	Accepted  int64 `json:"accepted"`
	Confirmed int64 `json:"confirmed"`
	// Members are the members of those answers (each once).
	Members []int64 `json:"-"`
	// NoPass and WrongPass are reservations sent without a pass and with
	// another member's pass; NoPassRefused and WrongPassRefused those of
	// them answered 403 not_admitted.
	NoPass           int64 `json:"no_pass"`
	NoPassRefused    int64 `json:"no_pass_refused"`
	WrongPass        int64 `json:"wrong_pass"`
	WrongPassRefused int64 `json:"wrong_pass_refused"`
	// BadAccepted are 2xx answers to reservations without a valid pass.
	BadAccepted int64 `json:"bad_accepted"`
}

// Reservation audit names.
const (
	auditNoOversell = "no oversell"
	auditPassNeeded = "every reservation had a pass"
	auditRefused    = "no pass: 403 not_admitted"
)

// auditReservations: no more confirmed than seats (the client's count) and
// no oversell by the system's count after the drain (accepted may exceed
// the seats: a hold never paid expires and its seat is sold again), every
// accepted reservation's member held a pass the room issued, and the
// gateway refused the reservations without one (or with another member's)
// with 403 not_admitted.
func auditReservations(b roomBuys, c Counts, r RoomRecords) []RoomCheck {
	a := audit(c, b.Confirmed)
	var over []string
	if b.Confirmed > b.Capacity {
		over = append(over, fmt.Sprintf("%d reservations confirmed for %d seats", b.Confirmed, b.Capacity))
	}
	over = append(over, a.Problems...)
	var nopass []string
	if b.BadAccepted > 0 {
		nopass = append(nopass, fmt.Sprintf("%d reservations without a valid pass were accepted", b.BadAccepted))
	}
	for _, m := range b.Members {
		if _, ok := r.Issued[m]; !ok {
			nopass = append(nopass, fmt.Sprintf("member %d's reservation was accepted, but the room never issued them a pass", m))
		}
	}
	var refused []string
	if b.NoPass == 0 || b.WrongPass == 0 {
		refused = append(refused, fmt.Sprintf("not tested: %d sent without a pass, %d with another member's", b.NoPass, b.WrongPass))
	}
	if b.NoPassRefused != b.NoPass || b.WrongPassRefused != b.WrongPass {
		refused = append(refused, fmt.Sprintf("403 not_admitted for %d of %d without a pass and %d of %d with another member's", b.NoPassRefused, b.NoPass, b.WrongPassRefused, b.WrongPass))
	}
	return []RoomCheck{
		roomCheck(auditNoOversell, over, fmt.Sprintf("%d confirmed (%d accepted), %d rows, %d taken in Redis, %d seats", b.Confirmed, b.Accepted, c.Rows, c.RedisTaken, b.Capacity)),
		roomCheck(auditPassNeeded, nopass, fmt.Sprintf("%d accepted, each by a member the room had admitted", b.Accepted)),
		roomCheck(auditRefused, refused, fmt.Sprintf("%d without a pass, %d with another member's: all 403 not_admitted", b.NoPass, b.WrongPass)),
	}
}

// SoldOutReach is how long the room's "sold out" took to reach the SSE
// clients that were waiting when it happened.
type SoldOutReach struct {
	// Waiters are the streams open, not admitted, when the room sold out
	// (one admitted later counts only if it heard sold_out first: seats
	// came back).
	Waiters int64 `json:"waiters"`
	// Reached is how many of them received a status with sold_out.
	Reached int64 `json:"reached"`
	// Never = Waiters − Reached.
	Never int64   `json:"never"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// streamView is what one SSE client saw: when its stream first spoke, when
// it was admitted and when it received sold_out (zero: never).
type streamView struct {
	Connected time.Time
	Admitted  time.Time
	SoldOut   time.Time
}

// soldOutReach measures from soldOutAt (the room's, Redis time on this
// machine's clock) to each waiter's receipt. A receipt before soldOutAt
// (the clocks' granularity) counts as 0.
func soldOutReach(soldOutAt time.Time, streams []streamView) SoldOutReach {
	var out SoldOutReach
	if soldOutAt.IsZero() {
		return out
	}
	var lat []float64
	for _, s := range streams {
		// Admitted without hearing sold_out: the counter reached them while
		// seats were left, and the news of it can arrive after the sell-out.
		if s.Connected.IsZero() || s.Connected.After(soldOutAt) || (!s.Admitted.IsZero() && (!s.Admitted.After(soldOutAt) || s.SoldOut.IsZero())) {
			continue
		}
		out.Waiters++
		if s.SoldOut.IsZero() {
			continue
		}
		out.Reached++
		lat = append(lat, math.Max(0, ms(s.SoldOut.Sub(soldOutAt))))
	}
	out.Never = out.Waiters - out.Reached
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) float64 { return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)] }
		out.P50Ms, out.P99Ms, out.MaxMs = q(0.5), q(0.99), lat[len(lat)-1]
	}
	return out
}

// auditSoldOut: when the room sold out, every waiting stream was told.
func auditSoldOut(r RoomRecords, so SoldOutReach) RoomCheck {
	const name = "sold out reached every waiter"
	switch {
	case r.SoldOutAt.IsZero():
		return RoomCheck{Name: name, OK: true, Detail: "the room did not sell out"}
	case so.Never > 0:
		return RoomCheck{Name: name, Detail: fmt.Sprintf("%d of %d waiting streams never received sold_out", so.Never, so.Waiters)}
	}
	return RoomCheck{Name: name, OK: true, Detail: fmt.Sprintf("%d waiting streams: p50 %s, p99 %s, max %s", so.Waiters, fmtMs(so.P50Ms), fmtMs(so.P99Ms), fmtMs(so.MaxMs))}
}
