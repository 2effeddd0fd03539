// Package stock keeps seats in Redis: the stock counter, the members holding a
// seat and the in-flight records of reservations between admission and their
// row in MySQL. Every change goes through one of the scripts in package lua.
//
// Keys carry a hash tag per concert ({c42}), so each script touches one slot and
// a Redis Cluster works without code changes.
package stock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/lua"
)

// TombstoneRetention is how long a released reservation's tombstone is kept;
// a late copy of its event older than this is no longer recognised.
const TombstoneRetention = 24 * time.Hour

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// Store is the Redis side of the stock.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	// calls feeds the coalescer when Coalesce was called.
	calls chan *reserveCall
	// reserveKeys caches reserve.lua's keys per concert (int64 → []string):
	// building six key names per request was a dozen allocations on the
	// hot path, for the few concerts of a sale.
	reserveKeys    sync.Map
	cachedConcerts atomic.Int64
}

// maxCachedConcerts bounds reserveKeys.
const maxCachedConcerts = 4096

// New returns a Store; timeout bounds every call.
func New(rdb redis.UniversalClient, prefix string, timeout time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix, timeout: timeout}
}

// Client returns the underlying client (for readiness checks and tests).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Key names of one concert.
func (s *Store) tag(concert int64) string {
	return s.prefix + ":{c" + strconv.FormatInt(concert, 10) + "}:"
}
func (s *Store) stockKey(c int64) string     { return s.tag(c) + "stock" }
func (s *Store) membersKey(c int64) string   { return s.tag(c) + "members" }
func (s *Store) inflightKey(c int64) string  { return s.tag(c) + "inflight" }
func (s *Store) inflightTKey(c int64) string { return s.tag(c) + "inflight:t" }
func (s *Store) releasedKey(c int64) string  { return s.tag(c) + "released" }
func (s *Store) idemKey(c int64, key string) string {
	return s.tag(c) + "idem:" + key
}
func (s *Store) concertsKey() string       { return s.prefix + ":concerts" }
func (s *Store) holdsKey(c int64) string   { return s.tag(c) + "holds" }
func (s *Store) decidedKey(c int64) string { return s.tag(c) + "decided" }
func (s *Store) outboxKey(c int64) string  { return s.tag(c) + "outbox" }

// Reservation is what the gateway asks Redis to admit.
type Reservation struct {
	ID             string
	ConcertID      int64
	MemberID       int64
	Payload        []byte // the encoded event, kept while in flight
	IdempotencyKey string
	Now            time.Time
	// ExpiresAt is when an unpaid hold ends; zero confirms on write.
	ExpiresAt time.Time
}

func (r Reservation) expiresArg() any {
	if r.ExpiresAt.IsZero() {
		return "0"
	}
	return r.ExpiresAt.UnixMilli()
}

// Result is reserve.lua's answer.
type Result struct {
	Code  int    // lua.Reserve* codes
	ID    string // the reservation id (the earlier one on a replay)
	State string // in-flight state on a replay (lua.State*)
}

// LoadScripts loads every script once, so the first request does not pay for
// it and readiness can report it.
func (s *Store) LoadScripts(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	for _, sc := range lua.All {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
	}
	return nil
}

// ScriptsLoaded reports whether Redis still has every script cached.
func (s *Store) ScriptsLoaded(ctx context.Context) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	for _, sc := range lua.All {
		ok, err := sc.Exists(ctx, s.rdb).Result()
		if err != nil {
			return false, fmt.Errorf("script exists: %w", err)
		}
		if len(ok) == 0 || !ok[0] {
			return false, nil
		}
	}
	return true, nil
}

// keysOfReserve returns reserve.lua's KEYS. The slice is shared between
// callers when there is no Idempotency-Key, so it must not be modified.
func (s *Store) keysOfReserve(c int64, idempotencyKey string) []string {
	if idempotencyKey != "" {
		return []string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.idemKey(c, idempotencyKey), s.holdsKey(c)}
	}
	if k, ok := s.reserveKeys.Load(c); ok {
		return k.([]string)
	}
	k := []string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.idemKey(c, ""), s.holdsKey(c)}
	// Concert ids come from requests: bound the cache so made-up ids cannot grow it.
	if s.cachedConcerts.Add(1) <= maxCachedConcerts {
		s.reserveKeys.Store(c, k)
	}
	return k
}

// Reserve runs the admission script.
func (s *Store) Reserve(ctx context.Context, r Reservation) (Result, error) {
	hasIdem := "0"
	if r.IdempotencyKey != "" {
		hasIdem = "1"
	}
	keys := s.keysOfReserve(r.ConcertID, r.IdempotencyKey)
	args := []any{r.ID, r.MemberID, r.Payload, r.Now.UnixMilli(), IdempotencyTTL.Milliseconds(), hasIdem, r.expiresArg()}
	var cmd *redis.Cmd
	if s.calls != nil {
		// The worker bounds the pipeline with the Redis timeout itself; a
		// context of our own here would be a timer per request for nothing.
		var err error
		if cmd, err = s.reserveCoalesced(ctx, keys, args); err != nil {
			return Result{}, err
		}
	} else {
		ctx, cancel := s.ctx(ctx)
		defer cancel()
		cmd = lua.Reserve.Run(ctx, s.rdb, keys, args...)
	}
	if err := cmd.Err(); err != nil {
		return Result{}, fmt.Errorf("reserve: %w", err)
	}
	return parseReserve(cmd)
}

func parseReserve(cmd *redis.Cmd) (Result, error) {
	vals, err := cmd.Slice()
	if err != nil || len(vals) != 3 {
		return Result{}, fmt.Errorf("reserve: unexpected reply %v: %w", vals, err)
	}
	code, ok := vals[0].(int64)
	if !ok {
		return Result{}, fmt.Errorf("reserve: unexpected code %v", vals[0])
	}
	id, _ := vals[1].(string)
	state, _ := vals[2].(string)
	return Result{Code: int(code), ID: id, State: state}, nil
}

// Release undoes an admission whose event Kafka did not acknowledge; it
// returns one of the lua.Release* codes.
func (s *Store) Release(ctx context.Context, r Reservation) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	hasIdem := "0"
	if r.IdempotencyKey != "" {
		hasIdem = "1"
	}
	c := r.ConcertID
	code, err := lua.Release.Run(ctx, s.rdb,
		[]string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.releasedKey(c), s.idemKey(c, r.IdempotencyKey), s.holdsKey(c)},
		r.ID, r.MemberID, time.Now().UnixMilli(), hasIdem, TombstoneRetention.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	return code, nil
}

// Ack records that Kafka acknowledged the event (only needed when a retry
// with the same Idempotency-Key may ask).
func (s *Store) Ack(ctx context.Context, concert int64, id string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := lua.Ack.Run(ctx, s.rdb, []string{s.inflightKey(concert)}, id).Err(); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	return nil
}

// State finds a reservation among the in-flight records of every loaded
// concert (one pipelined round trip; flash sales run few concerts at once) and
// returns its record and concert; rec.State is lua.StateGone when none has it.
func (s *Store) State(ctx context.Context, id string) (rec InFlight, concert int64, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	concerts, err := s.concerts(ctx)
	if err != nil {
		return rec, 0, err
	}
	cmds := make([]*redis.StringCmd, len(concerts))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range concerts {
			cmds[i] = p.HGet(ctx, s.inflightKey(c), id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return rec, 0, fmt.Errorf("in-flight records: %w", err)
	}
	for i, cmd := range cmds {
		if v, err := cmd.Result(); err == nil && v != "" {
			return InFlight{ID: id, State: v[:1], Payload: []byte(v[1:])}, concerts[i], nil
		}
	}
	return InFlight{ID: id, State: lua.StateGone}, 0, nil
}

// ReplayState reads the in-flight state of a reservation of a known concert.
func (s *Store) ReplayState(ctx context.Context, concert int64, id string) (string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rec, err := s.rdb.HGet(ctx, s.inflightKey(concert), id).Result()
	if errors.Is(err, redis.Nil) {
		return lua.StateGone, nil
	}
	if err != nil {
		return "", fmt.Errorf("in-flight record: %w", err)
	}
	return rec[:1], nil
}

// Claim marks the reservations of one concert as being written; it returns a
// lua.Claim* code per id.
func (s *Store) Claim(ctx context.Context, concert int64, ids []string) ([]int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	codes, err := lua.Claim.Run(ctx, s.rdb, []string{s.inflightKey(concert), s.releasedKey(concert)}, toArgs(ids)...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if len(codes) != len(ids) {
		return nil, fmt.Errorf("claim: %d codes for %d ids", len(codes), len(ids))
	}
	return codes, nil
}

// Done clears the in-flight records of committed reservations.
func (s *Store) Done(ctx context.Context, concert int64, ids []string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := lua.Done.Run(ctx, s.rdb, []string{s.inflightKey(concert), s.inflightTKey(concert)}, toArgs(ids)...).Err(); err != nil {
		return fmt.Errorf("done: %w", err)
	}
	return nil
}

// Seat names one reservation and its member.
type Seat struct {
	ID       string
	MemberID int64
}

// Fail returns the seats of reservations that can never be written; each seat
// goes back once however often this is called. It returns how many went back.
func (s *Store) Fail(ctx context.Context, concert int64, seats []Seat) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	args := []any{time.Now().UnixMilli(), TombstoneRetention.Milliseconds()}
	for _, st := range seats {
		args = append(args, st.ID, st.MemberID)
	}
	c := concert
	n, err := lua.Fail.Run(ctx, s.rdb, []string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.releasedKey(c), s.holdsKey(c)}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("fail: %w", err)
	}
	return n, nil
}

func toArgs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// concerts lists the concerts whose stock is loaded.
func (s *Store) concerts(ctx context.Context) ([]int64, error) {
	members, err := s.rdb.SMembers(ctx, s.concertsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("concert list: %w", err)
	}
	out := make([]int64, 0, len(members))
	for _, m := range members {
		if id, err := strconv.ParseInt(m, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// Concerts lists the concerts whose stock is loaded.
func (s *Store) Concerts(ctx context.Context) ([]int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.concerts(ctx)
}

// Remaining returns the stock of a concert; ok is false when it was never loaded.
func (s *Store) Remaining(ctx context.Context, concert int64) (n int64, ok bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err = s.rdb.Get(ctx, s.stockKey(concert)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("stock: %w", err)
	}
	return n, true, nil
}

// InFlightCount returns how many reservations of a concert are accepted but
// not yet written.
func (s *Store) InFlightCount(ctx context.Context, concert int64) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.rdb.HLen(ctx, s.inflightKey(concert)).Result()
	if err != nil {
		return 0, fmt.Errorf("in-flight count: %w", err)
	}
	return n, nil
}

// Load sets a concert's stock from the system of record: remaining seats and
// the members that hold one. In-flight records are kept (their seats are not
// in remaining yet), so remaining must already exclude them; see Reconcile in
// the seed command. With reset, in-flight records and tombstones go too.
func (s *Store) Load(ctx context.Context, concert, remaining int64, holders []int64, reset bool) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.membersKey(concert))
		if reset {
			p.Del(ctx, s.inflightKey(concert), s.inflightTKey(concert), s.releasedKey(concert),
				s.holdsKey(concert), s.decidedKey(concert), s.outboxKey(concert))
		}
		for i := 0; i < len(holders); i += 1000 {
			chunk := holders[i:min(i+1000, len(holders))]
			args := make([]any, len(chunk))
			for j, m := range chunk {
				args[j] = m
			}
			p.SAdd(ctx, s.membersKey(concert), args...)
		}
		p.Set(ctx, s.stockKey(concert), remaining, 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load stock of concert %d: %w", concert, err)
	}
	// The concert list is global (not slot-local), so it is written apart.
	if err := s.rdb.SAdd(ctx, s.concertsKey(), concert).Err(); err != nil {
		return fmt.Errorf("register concert %d: %w", concert, err)
	}
	return nil
}

// InFlight is one reservation accepted but not yet written.
type InFlight struct {
	ID      string
	State   string
	Payload []byte
}

// Stale returns up to limit in-flight reservations of a concert admitted
// before cutoff.
func (s *Store) Stale(ctx context.Context, concert int64, cutoff time.Time, limit int64) ([]InFlight, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ids, err := s.rdb.ZRangeByScore(ctx, s.inflightTKey(concert), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(cutoff.UnixMilli(), 10), Count: limit,
	}).Result()
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("stale in-flight", err)
	}
	recs, err := s.rdb.HMGet(ctx, s.inflightKey(concert), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("stale in-flight records: %w", err)
	}
	out := make([]InFlight, 0, len(ids))
	for i, r := range recs {
		rec, ok := r.(string)
		if !ok || rec == "" {
			continue // written and cleared meanwhile
		}
		out = append(out, InFlight{ID: ids[i], State: rec[:1], Payload: []byte(rec[1:])})
	}
	return out, nil
}

// Touch moves the admission time of in-flight records to now, so a
// republished reservation is not republished again before another grace period.
func (s *Store) Touch(ctx context.Context, concert int64, ids []string, now time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	zs := make([]redis.Z, len(ids))
	for i, id := range ids {
		zs[i] = redis.Z{Score: float64(now.UnixMilli()), Member: id}
	}
	return wrapErr("touch in-flight", s.rdb.ZAddXX(ctx, s.inflightTKey(concert), zs...).Err())
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Decide records a confirm or cancel (lua.DecisionConfirm/DecisionCancel) of
// a held reservation; it returns a lua.Decide* code and the decision that
// stands. republishAt is when the outbox hands the decision out again if the
// writer has not applied it by then.
func (s *Store) Decide(ctx context.Context, concert int64, id string, member int64, decision string, republishAt time.Time) (int, string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	vals, err := lua.Decide.Run(ctx, s.rdb, []string{s.holdsKey(concert), s.decidedKey(concert), s.outboxKey(concert)},
		id, member, decision, republishAt.UnixMilli()).Slice()
	if err != nil || len(vals) != 2 {
		return 0, "", fmt.Errorf("decide: %v: %w", vals, err)
	}
	code, _ := vals[0].(int64)
	d, _ := vals[1].(string)
	return int(code), d, nil
}

// Decision is a recorded decision about a held reservation.
type Decision struct {
	ID       string
	MemberID int64
	Decision string // lua.Decision*
}

func parseDecision(id, d string) (Decision, bool) {
	// d is "<decision>|<member>"
	if len(d) < 3 || d[1] != '|' {
		return Decision{}, false
	}
	m, err := strconv.ParseInt(d[2:], 10, 64)
	if err != nil {
		return Decision{}, false
	}
	return Decision{ID: id, MemberID: m, Decision: d[:1]}, true
}

// ExpireDue claims up to limit holds of a concert due at now, deciding each
// as expired; each stays in the outbox until republishAt.
func (s *Store) ExpireDue(ctx context.Context, concert int64, now time.Time, limit int, republishAt time.Time) ([]Decision, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	due, err := lua.Expire.Run(ctx, s.rdb, []string{s.holdsKey(concert), s.decidedKey(concert), s.outboxKey(concert)},
		now.UnixMilli(), limit, republishAt.UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	out := make([]Decision, 0, len(due))
	for _, m := range due {
		id, member, ok := strings.Cut(m, "|")
		if d, ok2 := parseDecision(id, lua.DecisionExpire+"|"+member); ok && ok2 {
			out = append(out, d)
		}
	}
	return out, nil
}

// OutboxDue claims up to limit decisions of a concert that the writer has not
// applied by now, leasing them until republishAt.
func (s *Store) OutboxDue(ctx context.Context, concert int64, now time.Time, limit int, republishAt time.Time) ([]Decision, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	flat, err := lua.Outbox.Run(ctx, s.rdb, []string{s.decidedKey(concert), s.outboxKey(concert)},
		now.UnixMilli(), limit, republishAt.UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var out []Decision
	for i := 0; i+1 < len(flat); i += 2 {
		if d, ok := parseDecision(flat[i], flat[i+1]); ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// Settlement is one applied decision: forget it, and give the seat back when
// ReturnSeat (a cancel or an expiry that MySQL applied).
type Settlement struct {
	ID         string
	MemberID   int64
	ReturnSeat bool
}

// Settle forgets applied decisions and returns their seats, each once; it
// returns how many seats went back.
func (s *Store) Settle(ctx context.Context, concert int64, settled []Settlement) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	args := make([]any, 0, 3*len(settled))
	for _, st := range settled {
		ret := "0"
		if st.ReturnSeat {
			ret = "1"
		}
		args = append(args, st.ID, st.MemberID, ret)
	}
	n, err := lua.Settle.Run(ctx, s.rdb, []string{s.stockKey(concert), s.membersKey(concert), s.decidedKey(concert), s.outboxKey(concert)}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("settle: %w", err)
	}
	return n, nil
}

// Decided returns the recorded, not yet applied decision about a reservation.
func (s *Store) Decided(ctx context.Context, concert int64, id string) (Decision, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	d, err := s.rdb.HGet(ctx, s.decidedKey(concert), id).Result()
	if errors.Is(err, redis.Nil) {
		return Decision{}, false, nil
	}
	if err != nil {
		return Decision{}, false, fmt.Errorf("decision: %w", err)
	}
	dec, ok := parseDecision(id, d)
	return dec, ok, nil
}

// HoldCount returns how many holds of a concert wait to be paid or expire.
func (s *Store) HoldCount(ctx context.Context, concert int64) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.rdb.ZCard(ctx, s.holdsKey(concert)).Result()
	if err != nil {
		return 0, fmt.Errorf("holds: %w", err)
	}
	return n, nil
}
