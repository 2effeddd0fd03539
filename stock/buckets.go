package stock

// Stock buckets: one hot concert on several slots.
//
// Every key of a concert shares its hash tag ({c42}), so on a Redis Cluster
// all its admissions run on one core of one master, whatever the cluster's
// size. A concert loaded with Buckets N > 1 keeps its stock in N buckets
// instead: bucket b is the whole key set of a plain concert (stock, members,
// inflight, holds, epoch, ...) under a hash tag of its own, and the existing
// scripts run on it unchanged. How:
//
//   - A bucket is a Store whose prefix ends in its own hash tag:
//     <prefix>:{c42/<gen>/<b>}:{c42}:stock — Redis hashes the first {...}, so
//     every method of a Store works on a bucket as on a concert.
//   - A member's home bucket is member mod N. Every step that knows the
//     member (admission, undo, the writer's failures and settlements,
//     confirm/cancel, expiry) goes to the same bucket, and the home bucket's
//     member set keeps one reservation per member per concert across all
//     buckets. Steps that only know a reservation id (claim, clear, ack,
//     state) ask every bucket: an id lives in exactly one.
//   - When the home bucket is sold out, Reserve moves seats into it from
//     another bucket (transfer_take.lua on the donor, transfer_apply.lua on
//     the home bucket, transfer_done.lua on the donor; idempotent on the
//     transfer id) and tries again; it answers sold out only after a pass
//     that found nothing and a look that saw every bucket empty and no
//     live transfer. A transfer whose gateway died between the steps stays
//     recorded on the donor, is counted as remaining, and CompleteTransfers
//     (the writer's sweeper, reconcile --fix) finishes it.
//   - The layout (the buckets' tags) is fixed when the stock is loaded and
//     stored at <prefix>:{c42}:buckets; the concert's own keys ({c42}:stock,
//     epoch, ...) do not exist then, so a process whose copy of the layout
//     is stale is answered "not loaded" and reads it again. A new layout
//     gets new tags, so no stale copy can reach a live bucket.
//
// A concert without a layout is exactly what it was: one slot, one call.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
)

// MaxBuckets bounds Loading.Buckets: beyond a bucket per master or two,
// more buckets only add transfers (and fan-out for the writer's calls).
const MaxBuckets = 64

// layoutTTL is how long a process trusts its copy of a concert's layout
// before reading it again: a GET per concert per 5 s. Admission does not wait
// for it (a stale copy is answered "not loaded" and re-read at once); the
// writer's and lifecycle's calls may use a copy this old after a re-seed
// that changed the layout, which is why that needs --reset.
const layoutTTL = 5 * time.Second

// transferMost is the most seats one transfer moves (it moves a quarter of
// what the donor has, one from a donor of fewer than 8: transfer_take.lua):
// enough that a drained bucket does not borrow once per request, few enough
// that the donor's members do not turn borrowers at once.
const transferMost = 64

// TransferGrace is how old a donor's record of a transfer must be before
// CompleteTransfers finishes it: a live transfer takes two round trips, so
// an older one was abandoned by a gateway that crashed or timed out.
const TransferGrace = 10 * time.Second

// transferRetention is how long applied and settled transfer ids are
// remembered, so a replay of either step changes nothing.
const transferRetention = 24 * time.Hour

// layout is where a bucketed concert's buckets are.
type layout struct {
	tags []string
	subs []*Store
}

func (l *layout) home(member int64) int  { return int(uint64(member) % uint64(len(l.subs))) }
func (l *layout) of(member int64) *Store { return l.subs[l.home(member)] }

func (l *layout) same(o *layout) bool {
	if l == nil || o == nil {
		return l == o
	}
	return strings.Join(l.tags, " ") == strings.Join(o.tags, " ")
}

type layoutEntry struct {
	l  *layout      // nil: a plain concert
	at atomic.Int64 // when read (unix ns); the one who moves it reads again
}

func (s *Store) layoutKey(c int64) string   { return s.tag(c) + "buckets" }
func (s *Store) xferOutKey(c int64) string  { return s.tag(c) + "xfer:out" }
func (s *Store) xferInKey(c int64) string   { return s.tag(c) + "xfer:in" }
func (s *Store) xferDoneKey(c int64) string { return s.tag(c) + "xfer:done" }

// concertKeys are every per-concert key but idempotency keys (which expire).
func (s *Store) concertKeys(c int64) []string {
	return []string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.releasedKey(c),
		s.holdsKey(c), s.decidedKey(c), s.outboxKey(c), s.epochKey(c),
		s.xferOutKey(c), s.xferInKey(c), s.xferDoneKey(c)}
}

// bucketStore is the Store of one bucket: its keys are under the tag.
func (s *Store) bucketStore(tag string) *Store {
	return &Store{rdb: s.rdb, prefix: s.prefix + ":{" + tag + "}", timeout: s.timeout, calls: s.calls, bucket: true}
}

// layoutOf returns a concert's layout, nil for a plain concert.
func (s *Store) layoutOf(ctx context.Context, c int64) (*layout, error) {
	if s.bucket {
		return nil, nil
	}
	if v, ok := s.layouts.Load(c); ok {
		e := v.(*layoutEntry)
		at, now := e.at.Load(), time.Now().UnixNano()
		// Under a rush every request would see the copy expire at once:
		// one reads it again, the others go on with the copy meanwhile.
		if now-at < int64(layoutTTL) || !e.at.CompareAndSwap(at, now) {
			return e.l, nil
		}
	}
	return s.refreshLayout(ctx, c)
}

// refreshLayout reads a concert's layout from Redis and caches it.
func (s *Store) refreshLayout(ctx context.Context, c int64) (*layout, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	v, err := s.rdb.Get(ctx, s.layoutKey(c)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("stock buckets of concert %d: %w", c, err)
	}
	var l *layout
	if tags := strings.Fields(v); len(tags) > 0 {
		l = &layout{tags: tags}
		if e, ok := s.layouts.Load(c); ok && l.same(e.(*layoutEntry).l) {
			l = e.(*layoutEntry).l // keep the buckets' key caches
		} else {
			for _, t := range tags {
				l.subs = append(l.subs, s.bucketStore(t))
			}
		}
	}
	s.cacheLayout(c, l)
	return l, nil
}

func (s *Store) cacheLayout(c int64, l *layout) {
	if _, ok := s.layouts.Load(c); ok || s.cachedLayouts.Add(1) <= maxCachedConcerts {
		e := &layoutEntry{l: l}
		e.at.Store(time.Now().UnixNano())
		s.layouts.Store(c, e)
	}
}

// Buckets returns how many stock buckets a concert has (1: a plain concert).
func (s *Store) Buckets(ctx context.Context, concert int64) (int, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil || l == nil {
		return 1, err
	}
	return len(l.subs), nil
}

// reserveIn admits r in a plain concert (l nil) or in its home bucket,
// borrowing seats from the other buckets when that one has none.
//
// Near the end of a sale many borrowers race for the last seats: a pass over
// the donors can find seats and still lose each of them to another member
// of the home bucket, or find none while seats move between two others. So
// the answer is "sold out" only after a pass that found nothing and a look
// at every bucket that saw no seat left (a one-pass version refused 30–52 of
// 40,000 members of a sale with a seat for each, measured).
func (s *Store) reserveIn(ctx context.Context, l *layout, r Reservation) (Admission, error) {
	if l == nil {
		return s.reserveSlot(ctx, r)
	}
	h := l.home(r.MemberID)
	home := l.subs[h]
	a, err := home.reserveSlot(ctx, r)
	n := len(l.subs)
	if !errors.Is(err, boxoffice.ErrSoldOut) || n == 1 {
		return a, err
	}
	for pass := 0; ; pass++ {
		// Donors in an order of their own per request, so that the
		// borrowers of one drained bucket do not all queue on one neighbour.
		start, moved := rand.IntN(n-1), false
		for i := range n - 1 {
			d := (h + 1 + (start+i)%(n-1)) % n
			k, err := s.transfer(ctx, l, r.ConcertID, d, h)
			if err != nil {
				return Admission{}, fmt.Errorf("reserve: borrow stock: %w", err)
			}
			if k == 0 {
				continue
			}
			moved = true
			if a, err = home.reserveSlot(ctx, r); !errors.Is(err, boxoffice.ErrSoldOut) {
				return a, err
			}
			// Another member of this bucket took the seats first: next donor.
		}
		if !moved {
			left, err := s.seatsLeft(ctx, l, r.ConcertID)
			if err != nil {
				return Admission{}, fmt.Errorf("reserve: %w", err)
			}
			if !left {
				return Admission{}, boxoffice.ErrSoldOut
			}
		}
		if pass == maxBorrowPasses-1 {
			return Admission{}, fmt.Errorf("reserve: seats left, but taken by others %d times over: %w", maxBorrowPasses, boxoffice.ErrUnavailable)
		}
		// Seats may have come home meanwhile (another borrower's surplus).
		if a, err = home.reserveSlot(ctx, r); !errors.Is(err, boxoffice.ErrSoldOut) {
			return a, err
		}
	}
}

// maxBorrowPasses bounds one admission's passes over the donors; every pass
// but a last one saw seats move, so reaching it means heavy contention for
// the last seats: the member is answered 503 and may retry.
const maxBorrowPasses = 8

// liveTransfer is how old a transfer record may be and still be a live
// transfer, whose seats are about to reach a home bucket and be taken
// there; an older one was abandoned and waits for the sweeper
// (TransferGrace): its seats are offered again when it finishes.
const liveTransfer = time.Second

// seatsLeft reports whether any bucket has stock, or any live transfer is
// moving seats between two.
func (s *Store) seatsLeft(ctx context.Context, l *layout, c int64) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	stocks := make([]*redis.StringCmd, len(l.subs))
	outs := make([]*redis.MapStringStringCmd, len(l.subs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b, sub := range l.subs {
			stocks[b] = p.Get(ctx, sub.stockKey(c))
			outs[b] = p.HGetAll(ctx, sub.xferOutKey(c))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("seats left of concert %d: %w", c, err)
	}
	live := time.Now().Add(-liveTransfer)
	for b := range l.subs {
		if n, err := stocks[b].Int64(); err == nil && n > 0 {
			return true, nil
		}
		for _, rec := range outs[b].Val() {
			if f := strings.SplitN(rec, "|", 4); len(f) == 4 {
				if ms, err := strconv.ParseInt(f[2], 10, 64); err == nil && time.UnixMilli(ms).After(live) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// pendingTransfer is a donor's record of seats it gave and the home bucket
// may not have applied yet.
type pendingTransfer struct {
	id       string
	from, to int
	seats    int64
	at       time.Time
	epoch    string
}

// transfer moves up to transferMost seats from bucket from to bucket to and
// returns how many arrived.
func (s *Store) transfer(ctx context.Context, l *layout, c int64, from, to int) (int64, error) {
	p, err := s.take(ctx, l, c, strconv.FormatUint(rand.Uint64(), 36), from, to)
	if err != nil || p.seats == 0 {
		return 0, err
	}
	// Once taken, the seats are in no bucket until applied: a client that
	// hangs up now must not leave them in the air until the sweeper comes
	// (TransferGrace); each step keeps its own timeout.
	return s.finishTransfer(context.WithoutCancel(ctx), l, c, p)
}

// take is a transfer's first step, on the donor.
func (s *Store) take(ctx context.Context, l *layout, c int64, id string, from, to int) (pendingTransfer, error) {
	donor := l.subs[from]
	tctx, cancel := s.ctx(ctx)
	vals, err := transferTakeScript.Run(tctx, s.rdb, []string{donor.stockKey(c), donor.xferOutKey(c), donor.xferDoneKey(c), donor.epochKey(c)},
		id, transferMost, to, time.Now().UnixMilli()).Slice()
	cancel()
	if err != nil || len(vals) != 2 {
		return pendingTransfer{}, fmt.Errorf("transfer take: %v: %w", vals, err)
	}
	k, _ := vals[0].(int64)
	epoch, _ := vals[1].(string)
	return pendingTransfer{id: id, from: from, to: to, seats: k, epoch: epoch}, nil
}

// finishTransfer applies a taken transfer on its home bucket and settles it
// on the donor (giving the seats back if the home bucket refused them); it
// returns the seats that arrived. Any step may be repeated.
func (s *Store) finishTransfer(ctx context.Context, l *layout, c int64, p pendingTransfer) (int64, error) {
	home, donor := l.subs[p.to], l.subs[p.from]
	now := time.Now().UnixMilli()
	actx, cancel := s.ctx(ctx)
	code, err := transferApplyScript.Run(actx, s.rdb, []string{home.stockKey(c), home.xferInKey(c), home.epochKey(c)},
		p.id, p.seats, p.epoch, now, transferRetention.Milliseconds()).Int()
	cancel()
	if err != nil {
		return 0, fmt.Errorf("transfer apply: %w", err)
	}
	back := "0"
	if code == applyRefused {
		back = "1"
	}
	dctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := transferDoneScript.Run(dctx, s.rdb, []string{donor.stockKey(c), donor.xferOutKey(c), donor.xferDoneKey(c), donor.epochKey(c)},
		p.id, back, now, transferRetention.Milliseconds()).Err(); err != nil {
		return 0, fmt.Errorf("transfer done: %w", err)
	}
	if code == applyRefused {
		return 0, nil
	}
	return p.seats, nil
}

// transfers lists the donors' records of a bucketed concert's transfers.
func (s *Store) transfers(ctx context.Context, l *layout, c int64) ([]pendingTransfer, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cmds := make([]*redis.MapStringStringCmd, len(l.subs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b, sub := range l.subs {
			cmds[b] = p.HGetAll(ctx, sub.xferOutKey(c))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transfers of concert %d: %w", c, err)
	}
	var out []pendingTransfer
	for b, cmd := range cmds {
		for id, rec := range cmd.Val() {
			f := strings.SplitN(rec, "|", 4)
			if len(f) != 4 {
				continue
			}
			k, err1 := strconv.ParseInt(f[0], 10, 64)
			to, err2 := strconv.Atoi(f[1])
			ms, err3 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || to < 0 || to >= len(l.subs) {
				continue
			}
			out = append(out, pendingTransfer{id: id, from: b, to: to, seats: k, at: time.UnixMilli(ms), epoch: f[3]})
		}
	}
	return out, nil
}

// inTransit returns the seats a donor gave and its home bucket has not
// applied yet: they are in no bucket's stock, but still for sale. (Read on
// two slots, so a transfer completing between the reads may be missed or
// counted twice: a check during a rush can be one seat off for a moment.)
func (s *Store) inTransit(ctx context.Context, l *layout, c int64) (int64, error) {
	ps, err := s.transfers(ctx, l, c)
	if err != nil || len(ps) == 0 {
		return 0, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cmds := make([]*redis.FloatCmd, len(ps))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range ps {
			cmds[i] = p.ZScore(ctx, l.subs[t.to].xferInKey(c), t.id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("applied transfers of concert %d: %w", c, err)
	}
	var n int64
	for i, t := range ps {
		if errors.Is(cmds[i].Err(), redis.Nil) {
			n += t.seats
		}
	}
	return n, nil
}

// CompleteTransfers finishes the transfers of a concert that their gateway
// abandoned between the donor's and the home bucket's step (recorded before
// olderThan): each is applied once, or given back to its donor when the
// stock was reloaded since. It returns how many it finished.
func (s *Store) CompleteTransfers(ctx context.Context, concert int64, olderThan time.Time) (int, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil || l == nil {
		return 0, err
	}
	ps, err := s.transfers(ctx, l, concert)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if !p.at.Before(olderThan) {
			continue
		}
		if _, err := s.finishTransfer(ctx, l, concert, p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// loadBuckets is Load for a concert that has, or is to have, a layout; it
// reports false when the concert is (and stays) plain, for Load to go on.
func (s *Store) loadBuckets(ctx context.Context, ld Loading) (bool, error) {
	if s.bucket {
		return false, nil
	}
	c := ld.Concert
	if ld.Buckets < 0 || ld.Buckets > MaxBuckets {
		return false, fmt.Errorf("load stock of concert %d: %d buckets (1..%d)", c, ld.Buckets, MaxBuckets)
	}
	cur, err := s.refreshLayout(ctx, c)
	if err != nil {
		return false, err
	}
	want := ld.Buckets
	if want == 0 { // keep what the concert has (reconcile's rebuild)
		if cur == nil {
			return false, nil
		}
		want = len(cur.subs)
	}
	if cur == nil && want == 1 {
		return false, nil
	}
	lay := cur
	if cur == nil || len(cur.subs) != want {
		if !ld.Reset {
			n, err := s.rdb.Exists(ctx, s.stockKey(c)).Result()
			if err != nil {
				return false, fmt.Errorf("load stock of concert %d: %w", c, err)
			}
			if n > 0 || cur != nil {
				have := 1
				if cur != nil {
					have = len(cur.subs)
				}
				return false, fmt.Errorf("load stock of concert %d: changing its stock buckets from %d to %d starts it over: only with --reset", c, have, want)
			}
		}
		// The concert's own keys go first: a process that still thinks it
		// plain is answered "not loaded" from here on and reads the layout.
		if err := s.rdb.Del(ctx, s.concertKeys(c)...).Err(); err != nil {
			return false, fmt.Errorf("load stock of concert %d: %w", c, err)
		}
		if cur != nil {
			for _, sub := range cur.subs {
				if err := s.rdb.Del(ctx, sub.concertKeys(c)...).Err(); err != nil {
					return false, fmt.Errorf("load stock of concert %d: drop bucket: %w", c, err)
				}
			}
		}
		if want == 1 {
			if err := s.rdb.Del(ctx, s.layoutKey(c)).Err(); err != nil {
				return false, fmt.Errorf("load stock of concert %d: %w", c, err)
			}
			s.cacheLayout(c, nil)
			return false, nil
		}
		if lay, err = s.newLayout(ctx, c, want); err != nil {
			return false, err
		}
	}
	n := int64(len(lay.subs))
	for b, sub := range lay.subs {
		part := Loading{Concert: c, Epoch: ld.Epoch, Reset: ld.Reset, Remaining: ld.Remaining / n}
		if int64(b) < ld.Remaining%n {
			part.Remaining++
		}
		if ld.Remaining < 0 && b == 0 {
			part.Remaining = ld.Remaining // an oversold count stays one number
		} else if ld.Remaining < 0 {
			part.Remaining = 0
		}
		for _, m := range ld.Holders {
			if lay.home(m) == b {
				part.Holders = append(part.Holders, m)
			}
		}
		if ld.Holds != nil {
			part.Holds = []Hold{}
			for _, h := range ld.Holds {
				if lay.home(h.MemberID) == b {
					part.Holds = append(part.Holds, h)
				}
			}
		}
		// Transfers in the air are counted in Remaining; their records go
		// (a late apply is refused: the marker changed).
		if err := sub.loadSlot(ctx, part, sub.xferOutKey(c)); err != nil {
			return false, err
		}
	}
	if err := s.rdb.Set(ctx, s.layoutKey(c), strings.Join(lay.tags, " "), 0).Err(); err != nil {
		return false, fmt.Errorf("load stock of concert %d: layout: %w", c, err)
	}
	s.cacheLayout(c, lay)
	if err := s.rdb.SAdd(ctx, s.concertsKey(), c).Err(); err != nil {
		return false, fmt.Errorf("register concert %d: %w", c, err)
	}
	return true, nil
}

// newLayout names n buckets. On a cluster it picks, for each, a tag whose
// slot is on the master holding the fewest buckets so far, so that n ≥ the
// masters puts a bucket on each (plain hashing put 3 buckets on 3 masters
// only 2 times in 9).
func (s *Store) newLayout(ctx context.Context, c int64, n int) (*layout, error) {
	gen := strconv.FormatUint(rand.Uint64()%(1<<32), 36)
	l := &layout{}
	owners := s.slotOwners(ctx)
	count := map[string]int{}
	for b := range n {
		tag := fmt.Sprintf("c%d/%s/%d", c, gen, b)
		if owners != nil {
			tag = s.spreadTag(ctx, tag, owners, count)
		}
		l.tags = append(l.tags, tag)
		l.subs = append(l.subs, s.bucketStore(tag))
	}
	return l, nil
}

// slotOwners maps each slot range to its master's address; nil on a single
// Redis or when the cluster does not say.
func (s *Store) slotOwners(ctx context.Context) []redis.ClusterSlot {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return nil
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil // the buckets land where their tags hash: still correct
	}
	return slots
}

func (s *Store) spreadTag(ctx context.Context, base string, owners []redis.ClusterSlot, count map[string]int) string {
	owner := func(slot int64) string {
		for _, r := range owners {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				return r.Nodes[0].Addr
			}
		}
		return ""
	}
	least := -1
	for _, r := range owners {
		if len(r.Nodes) > 0 && (least < 0 || count[r.Nodes[0].Addr] < least) {
			least = count[r.Nodes[0].Addr]
		}
	}
	best, bestAddr := base, ""
	for k := range 64 {
		tag := base + "." + strconv.Itoa(k)
		slot, err := s.rdb.ClusterKeySlot(ctx, tag).Result()
		if err != nil {
			break
		}
		addr := owner(slot)
		if k == 0 || count[addr] < count[bestAddr] {
			best, bestAddr = tag, addr
		}
		if count[addr] <= least {
			break
		}
	}
	count[bestAddr]++
	return best
}

// The bucketed forms of Store's methods: each runs the plain method on the
// right bucket, or on every bucket and merges.

// eachBucket runs f on every bucket in turn, stopping at the first error.
func (l *layout) eachBucket(f func(b int, sub *Store) error) error {
	for b, sub := range l.subs {
		if err := f(b, sub); err != nil {
			return err
		}
	}
	return nil
}

// byHome splits xs by their member's home bucket.
func byHome[T any](l *layout, xs []T, member func(T) int64) map[int][]T {
	out := map[int][]T{}
	for _, x := range xs {
		h := l.home(member(x))
		out[h] = append(out[h], x)
	}
	return out
}

func (l *layout) claim(ctx context.Context, c int64, ids []string) ([]ClaimResult, error) {
	out := make([]ClaimResult, len(ids))
	err := l.eachBucket(func(_ int, sub *Store) error {
		got, err := sub.Claim(ctx, c, ids)
		for i, r := range got {
			// An id lives in one bucket: its answer beats the others' Unknown.
			if r == ClaimedNow || (r == Undone && out[i] != ClaimedNow) || out[i] == 0 {
				out[i] = r
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *layout) inFlightState(ctx context.Context, c int64, id string) (State, error) {
	for _, sub := range l.subs {
		st, err := sub.InFlightState(ctx, c, id)
		if err != nil || st != Gone {
			return st, err
		}
	}
	return Gone, nil
}

func (l *layout) fail(ctx context.Context, c int64, seats []Seat) (int64, error) {
	var n int64
	for h, part := range byHome(l, seats, func(s Seat) int64 { return s.MemberID }) {
		k, err := l.subs[h].Fail(ctx, c, part)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (l *layout) settle(ctx context.Context, c int64, settled []Settlement) (int64, error) {
	var n int64
	for h, part := range byHome(l, settled, func(s Settlement) int64 { return s.MemberID }) {
		k, err := l.subs[h].Settle(ctx, c, part)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sum adds up a count over the buckets.
func (l *layout) sum(f func(sub *Store) (int64, error)) (int64, error) {
	var n int64
	err := l.eachBucket(func(_ int, sub *Store) error {
		k, err := f(sub)
		n += k
		return err
	})
	return n, err
}

func (s *Store) remainingBuckets(ctx context.Context, l *layout, c int64) (int64, bool, error) {
	var n int64
	loaded := false
	err := l.eachBucket(func(_ int, sub *Store) error {
		k, ok, err := sub.Remaining(ctx, c)
		n += k
		loaded = loaded || ok
		return err
	})
	if err != nil {
		return 0, false, err
	}
	t, err := s.inTransit(ctx, l, c)
	return n + t, loaded, err
}

// epoch is the buckets' common marker; ok is false when one has none or
// they differ (a load or unmark interrupted half-way: not to be trusted).
func (l *layout) epoch(ctx context.Context, c int64) (string, bool, error) {
	var common string
	for b, sub := range l.subs {
		e, ok, err := sub.Epoch(ctx, c)
		if err != nil || !ok || (b > 0 && e != common) {
			return "", false, err
		}
		common = e
	}
	return common, true, nil
}

func (l *layout) unmark(ctx context.Context, c int64) (string, error) {
	var prev string
	err := l.eachBucket(func(_ int, sub *Store) error {
		e, err := sub.Unmark(ctx, c)
		if prev == "" {
			prev = e
		}
		return err
	})
	return prev, err
}

func (s *Store) snapshotBuckets(ctx context.Context, l *layout, c int64) (Snapshot, error) {
	out := Snapshot{Loaded: true, InFlightAt: map[string]time.Time{}, Buckets: len(l.subs)}
	err := l.eachBucket(func(b int, sub *Store) error {
		sn, err := sub.Snapshot(ctx, c)
		if err != nil {
			return err
		}
		out.Loaded = out.Loaded && sn.Loaded
		out.Remaining += sn.Remaining
		if b == 0 {
			out.Epoch = sn.Epoch
		} else if sn.Epoch != out.Epoch {
			out.Epoch = "" // buckets that disagree are not to be trusted
		}
		out.Members = append(out.Members, sn.Members...)
		out.Holds = append(out.Holds, sn.Holds...)
		out.InFlight = append(out.InFlight, sn.InFlight...)
		for id, at := range sn.InFlightAt {
			out.InFlightAt[id] = at
		}
		out.Decided = append(out.Decided, sn.Decided...)
		return nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	if out.InTransit, err = s.inTransit(ctx, l, c); err != nil {
		return Snapshot{}, err
	}
	out.Remaining += out.InTransit
	return out, nil
}

func (l *layout) stale(ctx context.Context, c int64, cutoff time.Time, limit int64) ([]InFlight, error) {
	var out []InFlight
	err := l.eachBucket(func(_ int, sub *Store) error {
		if int64(len(out)) >= limit {
			return nil
		}
		got, err := sub.Stale(ctx, c, cutoff, limit-int64(len(out)))
		out = append(out, got...)
		return err
	})
	return out, err
}

// decisions gathers due decisions from every bucket (limit each).
func (l *layout) decisions(f func(sub *Store) ([]Decided, error)) ([]Decided, error) {
	var out []Decided
	err := l.eachBucket(func(_ int, sub *Store) error {
		got, err := f(sub)
		out = append(out, got...)
		return err
	})
	return out, err
}
