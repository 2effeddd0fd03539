// Package stock is the one door to Redis. It keeps seats there: the stock
// counter, the members holding a seat, the in-flight records of reservations
// between admission and their row in MySQL, the holds awaiting payment and
// their decisions, and the comparison strategy's lock. Every change goes
// through one of its scripts (scripts/*.lua, see scripts.go), and every
// method answers in the domain's terms: an Admission or a boxoffice error, an
// Undo, a ClaimResult, an event.Decision. No other package speaks Redis.
//
// Keys carry a hash tag per concert ({c42}), so each script touches one slot.
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

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
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
	// layouts caches bucketed concerts' layouts (int64 → layoutEntry, see
	// buckets.go); bucket is set on the Store of one bucket.
	layouts       sync.Map
	cachedLayouts atomic.Int64
	bucket        bool
	// seated remembers the concerts reserve.lua said have numbered seats.
	seated sync.Map
}

// maxCachedConcerts bounds reserveKeys.
const maxCachedConcerts = 4096

// New returns a Store on a client the caller made (tests); timeout bounds
// every call.
func New(rdb redis.UniversalClient, prefix string, timeout time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix, timeout: timeout}
}

// Options say how to reach Redis.
type Options struct {
	// Addr is host:port, or several comma-separated: seed nodes of a Redis
	// Cluster (any of its nodes; the client discovers the rest).
	Addr string
	// Mode is "single", "cluster", or "auto" (or empty): a cluster when Addr
	// lists several addresses.
	Mode   string
	Prefix string
	// Timeout bounds dialling and every call.
	Timeout time.Duration
	// PoolSize is the connections per server; 0 is 256.
	PoolSize int
	// FailFast dials once and does not retry a failed command: for a
	// client whose callers would rather answer 503 at once than wait out
	// go-redis's retries (5 dials and 3 retries: a refused connection took
	// the whole 1 s timeout).
	FailFast bool
}

// Addrs splits Addr into its addresses.
func (o Options) Addrs() []string {
	var out []string
	for a := range strings.SplitSeq(o.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Cluster reports whether the options name a Redis Cluster.
func (o Options) Cluster() bool {
	switch o.Mode {
	case "cluster":
		return true
	case "single":
		return false
	}
	return len(o.Addrs()) > 1
}

// Dial returns a Store with a client of its own; Close closes it. It does not
// wait for Redis: Ping tells when it answers.
//
// On a Redis Cluster every key of a concert carries its hash tag ({c42}), so
// each script and MULTI touches one slot; the cluster client sends each
// command to its slot's master, splits pipelines across concerts by slot,
// and follows MOVED and ASK after a reshard or a failover on its own.
func Dial(o Options) *Store {
	// Enough connections for a burst of concurrent requests on 2 cores;
	// each Lua call holds one for ~100 µs. (Per node on a cluster.)
	poolSize := 256
	if o.PoolSize > 0 {
		poolSize = o.PoolSize
	}
	maxRetries, dialerRetries := 0, 0 // go-redis's defaults
	if o.FailFast {
		maxRetries, dialerRetries = -1, 1
	}
	if o.Cluster() {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:         o.Addrs(),
			DialTimeout:   o.Timeout,
			ReadTimeout:   o.Timeout,
			WriteTimeout:  o.Timeout,
			PoolSize:      poolSize,
			MaxRetries:    maxRetries,
			DialerRetries: dialerRetries,
		})
		rdb.AddHook(followFailover{rdb})
		return New(rdb, o.Prefix, o.Timeout)
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:          o.Addr,
		DialTimeout:   o.Timeout,
		ReadTimeout:   o.Timeout,
		WriteTimeout:  o.Timeout,
		PoolSize:      poolSize,
		MaxRetries:    maxRetries,
		DialerRetries: dialerRetries,
	})
	return New(rdb, o.Prefix, o.Timeout)
}

// followFailover reloads the cluster's slot map when a command fails for
// any reason but Redis's own answer. go-redis reloads it on MOVED and ASK
// and otherwise once a minute; a master that died answers nothing, so
// without this every call to its slots kept dialling the dead address for up
// to that minute after its replica had taken over (measured: the writer's
// claims failed for 27 s). Reloads are coalesced by go-redis (one at a time,
// 200 ms apart).
type followFailover struct{ cc *redis.ClusterClient }

func (h followFailover) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h followFailover) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h followFailover) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if h.check(c.Err()) {
				break
			}
		}
		return err
	}
}

// check asks for a reload after a transport error (or a cluster that says
// it is down or reconfiguring) and reports whether it did.
func (h followFailover) check(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) && !redis.HasErrorPrefix(err, "CLUSTERDOWN") && !redis.HasErrorPrefix(err, "TRYAGAIN") {
		return false // Redis answered (NOSCRIPT, a script's error, ...): the map is fine
	}
	h.cc.ReloadState(context.Background())
	return true
}

// eachMaster runs f on every server that holds data: the one Redis, or each
// master of a cluster (concurrently; the first error is returned). Scripts
// are cached per server, so loading one means loading it on every master.
func (s *Store) eachMaster(ctx context.Context, f func(context.Context, redis.Scripter) error) error {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return f(ctx, c) })
	}
	return f(ctx, s.rdb)
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close closes the client.
func (s *Store) Close() error { return s.rdb.Close() }

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
func (s *Store) epochKey(c int64) string   { return s.tag(c) + "epoch" }

// The keys of a concert with numbered seats (see scripts/seats.lua).
func (s *Store) seatBitsKey(c int64) string   { return s.tag(c) + "seats" }
func (s *Store) seatRowsKey(c int64) string   { return s.tag(c) + "seat:rows" }
func (s *Store) seatOwnerKey(c int64) string  { return s.tag(c) + "seat:owner" }
func (s *Store) seatResKey(c int64) string    { return s.tag(c) + "seat:res" }
func (s *Store) seatMapKey(c int64) string    { return s.tag(c) + "seat:map" }
func (s *Store) seatStartsKey(c int64) string { return s.tag(c) + "seat:starts" }

// seatKeys are the four seat keys the scripts take, in their order.
func (s *Store) seatKeys(c int64) []string {
	return []string{s.seatBitsKey(c), s.seatRowsKey(c), s.seatOwnerKey(c), s.seatResKey(c)}
}

// seatedSuffix ends the marker of a concert with numbered seats: reserve.lua
// reads the marker anyway, so telling the two kinds apart costs the general
// admission path nothing.
const seatedSuffix = "/s"

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
	// For a concert with numbered seats: Seats names the seats to hold
	// (all or none); otherwise Count > 0 asks for the best available Count
	// seats in Section ("": any), side by side when Adjacent. Neither, on
	// a seated concert, is the best available one seat anywhere.
	Seats    []string
	Count    int
	Section  string
	Adjacent bool
}

// idemArg tells the admission scripts whether an Idempotency-Key was sent.
func (r Reservation) idemArg() string {
	if r.IdempotencyKey != "" {
		return "1"
	}
	return "0"
}

func (r Reservation) expiresArg() any {
	if r.ExpiresAt.IsZero() {
		return "0"
	}
	return r.ExpiresAt.UnixMilli()
}

// State is where an admitted reservation stands between its admission and
// its row: the first byte of its in-flight record.
type State string

// In-flight states.
const (
	// Publishing: admitted; Kafka's ack not yet seen. Only now may the
	// gateway undo the reservation.
	Publishing State = "P"
	// Acked: Kafka acknowledged the event (recorded for idempotent replays).
	Acked State = "A"
	// Claimed: a writer is committing it; nothing may undo it now.
	Claimed State = "C"
	// Gone: no record; either written and cleared, or released.
	Gone State = ""
)

// Admission is a reservation Redis took (or had taken before).
type Admission struct {
	// ID is the reservation id: this one, or the earlier one on a replay.
	ID string
	// Replay: the Idempotency-Key or the reservation id was seen before, so
	// nothing was taken now; State says where the earlier one stands.
	Replay bool
	State  State
	// Seats are the seats held (on a replay, the earlier reservation's);
	// nil for general admission.
	Seats []string
	// Payload, when set, is the event as Redis stored it (with its seats):
	// what is published instead of the request's.
	Payload []byte
}

// LoadScripts loads every script once on every master, so the first request
// does not pay for it and readiness can report it. A replica promoted later
// has none: Run's EVAL fallback on NOSCRIPT and the gateway's readiness
// check load them there.
func (s *Store) LoadScripts(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.eachMaster(ctx, func(ctx context.Context, c redis.Scripter) error {
		for _, sc := range allScripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return fmt.Errorf("load script: %w", err)
			}
		}
		return nil
	})
}

// ScriptsLoaded reports whether Redis (every master of a cluster) still has
// every script cached.
func (s *Store) ScriptsLoaded(ctx context.Context) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var missing atomic.Bool
	err := s.eachMaster(ctx, func(ctx context.Context, c redis.Scripter) error {
		for _, sc := range allScripts {
			ok, err := sc.Exists(ctx, c).Result()
			if err != nil {
				return fmt.Errorf("script exists: %w", err)
			}
			if len(ok) == 0 || !ok[0] {
				missing.Store(true)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return !missing.Load(), nil
}

// keysOfReserve returns reserve.lua's KEYS. The slice is shared between
// callers when there is no Idempotency-Key, so it must not be modified.
func (s *Store) keysOfReserve(c int64, idempotencyKey string) []string {
	if idempotencyKey != "" {
		return []string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.idemKey(c, idempotencyKey), s.holdsKey(c), s.epochKey(c)}
	}
	if k, ok := s.reserveKeys.Load(c); ok {
		return k.([]string)
	}
	k := []string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.idemKey(c, ""), s.holdsKey(c), s.epochKey(c)}
	// Concert ids come from requests: bound the cache so made-up ids cannot grow it.
	if s.cachedConcerts.Add(1) <= maxCachedConcerts {
		s.reserveKeys.Store(c, k)
	}
	return k
}

// Reserve runs the admission script. A refusal is one of boxoffice's
// ErrSoldOut, ErrAlreadyReserved, ErrConcertNotFound (the concert's stock is
// not loaded) or ErrIdempotencyReuse, returned bare so the caller adds what
// it knows; any other error is Redis's.
func (s *Store) Reserve(ctx context.Context, r Reservation) (Admission, error) {
	if len(r.Seats) > 0 || r.Count > 0 {
		return s.hold(ctx, r)
	}
	// A request without seats on a seated concert is the best one seat.
	one := r
	one.Count = 1
	if _, ok := s.seated.Load(r.ConcertID); ok {
		adm, err := s.hold(ctx, one)
		if !errors.Is(err, boxoffice.ErrNotSeated) {
			return adm, err
		}
		s.seated.Delete(r.ConcertID) // seeded again without seats
	}
	l, err := s.layoutOf(ctx, r.ConcertID)
	if err != nil {
		return Admission{}, fmt.Errorf("reserve: %w", err)
	}
	a, err := s.reserveIn(ctx, l, r)
	if errors.Is(err, boxoffice.ErrConcertNotFound) && !s.bucket {
		// The layout may have changed since this process read it (a
		// re-seed with other buckets): read it again before saying so.
		if l2, lerr := s.refreshLayout(ctx, r.ConcertID); lerr == nil && !l2.same(l) {
			a, err = s.reserveIn(ctx, l2, r)
		}
	}
	if errors.Is(err, errSeated) {
		// Remembered, so that the next requests go to hold.lua at once:
		// asking reserve.lua first cost a round trip each (1,648 against
		// 2,801 admissions/s for general admission, busy machine). Only
		// concerts Redis says are seated get here (never a bucketed one),
		// so the map stays small.
		s.seated.Store(r.ConcertID, true)
		return s.hold(ctx, one)
	}
	return a, err
}

// errSeated is reserve.lua's "this concert has numbered seats".
var errSeated = errors.New("the concert has numbered seats")

// reserveSlot runs reserve.lua on this Store's keys of the concert.
func (s *Store) reserveSlot(ctx context.Context, r Reservation) (Admission, error) {
	keys := s.keysOfReserve(r.ConcertID, r.IdempotencyKey)
	args := []any{r.ID, r.MemberID, r.Payload, r.Now.UnixMilli(), IdempotencyTTL.Milliseconds(), r.idemArg(), r.expiresArg()}
	cmd, err := s.runAdmission(ctx, reserveScript, keys, args)
	if err != nil {
		return Admission{}, err
	}
	if err := cmd.Err(); err != nil {
		return Admission{}, fmt.Errorf("reserve: %w", err)
	}
	return parseReserve(cmd)
}

// runAdmission runs an admission script (reserve.lua, hold.lua) through the
// coalescer when one runs, else on its own.
func (s *Store) runAdmission(ctx context.Context, script *redis.Script, keys []string, args []any) (*redis.Cmd, error) {
	if s.calls != nil {
		// The worker bounds the pipeline with the Redis timeout itself; a
		// context of our own here would be a timer per request for nothing.
		return s.reserveCoalesced(ctx, script, keys, args)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return script.Run(ctx, s.rdb, keys, args...), nil
}

// refusals are the answers reserve.lua and hold.lua give with the same
// codes, and what each means.
var refusals = map[int64]error{
	reserveSoldOut:         boxoffice.ErrSoldOut,
	reserveAlreadyReserved: boxoffice.ErrAlreadyReserved,
	reserveNoConcert:       boxoffice.ErrConcertNotFound,
	reserveKeyMismatch:     boxoffice.ErrIdempotencyReuse,
	reserveNotLoaded:       boxoffice.ErrStockNotLoaded,
}

func parseReserve(cmd *redis.Cmd) (Admission, error) {
	vals, err := cmd.Slice()
	if err != nil || len(vals) != 3 {
		return Admission{}, fmt.Errorf("reserve: unexpected reply %v: %w", vals, err)
	}
	code, ok := vals[0].(int64)
	if !ok {
		return Admission{}, fmt.Errorf("reserve: unexpected code %v", vals[0])
	}
	id, _ := vals[1].(string)
	state, _ := vals[2].(string)
	if err, ok := refusals[code]; ok {
		return Admission{}, err
	}
	switch code {
	case reserveOK:
		return Admission{ID: id}, nil
	case reserveReplay:
		return Admission{ID: id, Replay: true, State: State(state)}, nil
	case reserveSeated:
		return Admission{}, errSeated
	}
	return Admission{}, fmt.Errorf("reserve: unknown script result %d", code)
}

// hold runs hold.lua: the seats named, or the best available, all or none.
func (s *Store) hold(ctx context.Context, r Reservation) (Admission, error) {
	c := r.ConcertID
	keys := append([]string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.idemKey(c, r.IdempotencyKey), s.holdsKey(c), s.epochKey(c)}, append(s.seatKeys(c), s.seatStartsKey(c))...)
	mode, which := "b", r.Section
	if len(r.Seats) > 0 {
		mode, which = "n", strings.Join(r.Seats, ",")
	}
	adjacent := "0"
	if r.Adjacent {
		adjacent = "1"
	}
	args := []any{r.ID, r.MemberID, r.Payload, r.Now.UnixMilli(), IdempotencyTTL.Milliseconds(), r.idemArg(), r.expiresArg(), mode, which, r.Count, adjacent}
	cmd, err := s.runAdmission(ctx, holdScript, keys, args) // holds share the reserves' pipeline
	if err != nil {
		return Admission{}, err
	}
	vals, err := cmd.Slice()
	if err != nil {
		return Admission{}, fmt.Errorf("hold: %w", err)
	}
	if len(vals) != 5 {
		return Admission{}, fmt.Errorf("hold: unexpected reply %v", vals)
	}
	code, _ := vals[0].(int64)
	id, _ := vals[1].(string)
	state, _ := vals[2].(string)
	seatList, _ := vals[3].(string)
	payload, _ := vals[4].(string)
	var seats []string
	if seatList != "" {
		seats = strings.Split(seatList, ",")
	}
	if err, ok := refusals[code]; ok {
		return Admission{}, err
	}
	switch code {
	case reserveOK:
		return Admission{ID: id, Seats: seats, Payload: []byte(payload)}, nil
	case reserveReplay:
		return Admission{ID: id, Replay: true, State: State(state), Seats: seats}, nil
	case holdNotSeated:
		return Admission{}, boxoffice.ErrNotSeated
	case holdTaken:
		return Admission{}, &boxoffice.SeatsError{Err: boxoffice.ErrSeatsTaken, Seats: seats}
	case holdUnknownSeat:
		return Admission{}, &boxoffice.SeatsError{Err: boxoffice.ErrUnknownSeat, Seats: seats}
	case holdNoFit:
		return Admission{}, boxoffice.ErrSeatsUnavailable
	}
	return Admission{}, fmt.Errorf("hold: unknown script result %d", code)
}

// Answer names what Reserve answered, for metrics and logs: "accepted",
// "replay", "sold_out", "already_reserved", "concert_not_found",
// "key_mismatch", "stock_not_loaded", "seats_taken", "seats_unavailable",
// "unknown_seat", "not_seated", or "error" when Redis did not answer.
func Answer(a Admission, err error) string {
	switch {
	case err == nil && a.Replay:
		return "replay"
	case err == nil:
		return "accepted"
	case errors.Is(err, boxoffice.ErrSoldOut):
		return "sold_out"
	case errors.Is(err, boxoffice.ErrAlreadyReserved):
		return "already_reserved"
	case errors.Is(err, boxoffice.ErrConcertNotFound):
		return "concert_not_found"
	case errors.Is(err, boxoffice.ErrIdempotencyReuse):
		return "key_mismatch"
	case errors.Is(err, boxoffice.ErrStockNotLoaded):
		return "stock_not_loaded"
	case errors.Is(err, boxoffice.ErrSeatsTaken):
		return "seats_taken"
	case errors.Is(err, boxoffice.ErrSeatsUnavailable):
		return "seats_unavailable"
	case errors.Is(err, boxoffice.ErrUnknownSeat):
		return "unknown_seat"
	case errors.Is(err, boxoffice.ErrNotSeated):
		return "not_seated"
	}
	return "error"
}

// Undo is what Release did.
type Undo int

// Release's results.
const (
	// Released: stock and member returned now, tombstone written.
	Released Undo = iota + 1
	// Persisted: no record and no tombstone: the writer already stored it.
	Persisted
	// ReleasedBefore: released by an earlier call (a repeated undo).
	ReleasedBefore
	// Kept: acknowledged or claimed; it will be written, so it stays.
	Kept
)

// Stands reports whether the reservation survives the undo: the broker's ack
// was lost, but the event arrived.
func (u Undo) Stands() bool { return u == Persisted || u == Kept }

func (u Undo) String() string {
	switch u {
	case Released:
		return "released"
	case Persisted:
		return "persisted"
	case ReleasedBefore:
		return "released_before"
	case Kept:
		return "kept"
	}
	return "unknown"
}

// Release undoes an admission whose event Kafka did not acknowledge. It acts
// only on the id's own record while that is still Publishing.
func (s *Store) Release(ctx context.Context, r Reservation) (Undo, error) {
	if l, err := s.layoutOf(ctx, r.ConcertID); l != nil {
		return l.of(r.MemberID).Release(ctx, r)
	} else if err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c := r.ConcertID
	code, err := releaseScript.Run(ctx, s.rdb,
		append([]string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.releasedKey(c), s.idemKey(c, r.IdempotencyKey), s.holdsKey(c)}, s.seatKeys(c)...),
		r.ID, r.MemberID, time.Now().UnixMilli(), r.idemArg(), TombstoneRetention.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	switch code {
	case releaseDone:
		return Released, nil
	case releasePersisted:
		return Persisted, nil
	case releaseAlready:
		return ReleasedBefore, nil
	case releaseKept:
		return Kept, nil
	}
	return 0, fmt.Errorf("release: unknown script result %d", code)
}

// Ack records that Kafka acknowledged the event (only needed when a retry
// with the same Idempotency-Key may ask).
func (s *Store) Ack(ctx context.Context, concert int64, id string) error {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.eachBucket(func(_ int, sub *Store) error { return sub.Ack(ctx, concert, id) })
	} else if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := ackScript.Run(ctx, s.rdb, []string{s.inflightKey(concert)}, id).Err(); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	return nil
}

// State finds a reservation among the in-flight records of every loaded
// concert (one pipelined round trip; flash sales run few concerts at once) and
// returns its record and concert; rec.State is Gone when none has it.
func (s *Store) State(ctx context.Context, id string) (rec InFlight, concert int64, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	concerts, err := s.concerts(ctx)
	if err != nil {
		return rec, 0, err
	}
	// A bucketed concert's record is in one of its buckets: ask each.
	var where []*Store
	var whose []int64
	for _, c := range concerts {
		l, err := s.layoutOf(ctx, c)
		if err != nil {
			return rec, 0, err
		}
		if l == nil {
			where, whose = append(where, s), append(whose, c)
			continue
		}
		for _, sub := range l.subs {
			where, whose = append(where, sub), append(whose, c)
		}
	}
	cmds := make([]*redis.StringCmd, len(where))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, st := range where {
			cmds[i] = p.HGet(ctx, st.inflightKey(whose[i]), id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return rec, 0, fmt.Errorf("in-flight records: %w", err)
	}
	for i, cmd := range cmds {
		if v, err := cmd.Result(); err == nil && v != "" {
			return InFlight{ID: id, State: State(v[:1]), Payload: []byte(v[1:])}, whose[i], nil
		}
	}
	return InFlight{ID: id, State: Gone}, 0, nil
}

// InFlightState reads the in-flight state of a reservation of a known concert
// (Gone when it has no record: written and cleared, released, or never admitted).
func (s *Store) InFlightState(ctx context.Context, concert int64, id string) (State, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.inFlightState(ctx, concert, id)
	} else if err != nil {
		return "", fmt.Errorf("in-flight record: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rec, err := s.rdb.HGet(ctx, s.inflightKey(concert), id).Result()
	if errors.Is(err, redis.Nil) {
		return Gone, nil
	}
	if err != nil {
		return "", fmt.Errorf("in-flight record: %w", err)
	}
	return State(rec[:1]), nil
}

// ClaimResult is what Claim found of one reservation.
type ClaimResult int

// Claim's per-reservation results.
const (
	// Undone: the gateway undid it; its event must not become a row.
	Undone ClaimResult = iota + 1
	// ClaimedNow: in flight and now claimed by this writer.
	ClaimedNow
	// Unknown: no record (written and cleared before, or Redis lost it); the
	// row insert is idempotent, so the writer goes on.
	Unknown
)

// Claim marks the reservations of one concert as being written, so that no
// undo can return their seats any more; it returns a result per id.
func (s *Store) Claim(ctx context.Context, concert int64, ids []string) ([]ClaimResult, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.claim(ctx, concert, ids)
	} else if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	codes, err := claimScript.Run(ctx, s.rdb, []string{s.inflightKey(concert), s.releasedKey(concert)}, toArgs(ids)...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return claimResults(codes, len(ids))
}

// Done clears the in-flight records of committed reservations.
func (s *Store) Done(ctx context.Context, concert int64, ids []string) error {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.eachBucket(func(_ int, sub *Store) error { return sub.Done(ctx, concert, ids) })
	} else if err != nil {
		return fmt.Errorf("done: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := doneScript.Run(ctx, s.rdb, []string{s.inflightKey(concert), s.inflightTKey(concert)}, toArgs(ids)...).Err(); err != nil {
		return fmt.Errorf("done: %w", err)
	}
	return nil
}

// ClaimAll is Claim for a batch's concerts at once (ids by concert): one
// pipeline, so one round trip to each Redis server instead of one call per
// concert (a cluster's client splits the pipeline by slot; each concert's
// keys share its hash tag). Each concert's claim is still one atomic
// script, idempotent on each id.
func (s *Store) ClaimAll(ctx context.Context, ids map[int64][]string) (map[int64][]ClaimResult, error) {
	out := make(map[int64][]ClaimResult, len(ids))
	cmds, err := s.pipelineScripts(ctx, claimScript, ids, s.releasedKey, func(c int64, ids []string) error {
		r, err := s.Claim(ctx, c, ids)
		out[c] = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for c, cmd := range cmds {
		codes, err := cmd.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		if out[c], err = claimResults(codes, len(ids[c])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DoneAll is Done for a batch's concerts at once, in one pipeline (see
// ClaimAll).
func (s *Store) DoneAll(ctx context.Context, ids map[int64][]string) error {
	_, err := s.pipelineScripts(ctx, doneScript, ids, s.inflightTKey, func(c int64, ids []string) error {
		return s.Done(ctx, c, ids)
	})
	if err != nil {
		return fmt.Errorf("done: %w", err)
	}
	return nil
}

// pipelineScripts runs script on each concert's keys (its inflight hash and
// second(c)) with its ids as ARGV, in one pipeline, and returns each
// concert's reply. A concert split into stock buckets takes alone(c, ids)
// instead (its ids live in several buckets). A server that has not loaded
// the script (NOSCRIPT: restarted, flushed) gets it again with Run.
func (s *Store) pipelineScripts(ctx context.Context, script *redis.Script, ids map[int64][]string, second func(int64) string,
	alone func(int64, []string) error) (map[int64]*redis.Cmd, error) {
	var plain []int64
	for c, list := range ids {
		if len(list) == 0 {
			continue
		}
		if l, err := s.layoutOf(ctx, c); l != nil {
			if err := alone(c, list); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		} else {
			plain = append(plain, c)
		}
	}
	cmds := make(map[int64]*redis.Cmd, len(plain))
	if len(plain) == 0 {
		return cmds, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := func(c int64) []string { return []string{s.inflightKey(c), second(c)} }
	if len(plain) == 1 {
		// Nothing to gain from a pipeline, and Run falls back to EVAL by
		// itself.
		c := plain[0]
		cmds[c] = script.Run(ctx, s.rdb, keys(c), toArgs(ids[c])...)
		return cmds, cmds[c].Err()
	}
	pipe := s.rdb.Pipeline()
	for _, c := range plain {
		cmds[c] = script.EvalSha(ctx, pipe, keys(c), toArgs(ids[c])...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	for _, c := range plain {
		err := cmds[c].Err()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			cmds[c] = script.Run(ctx, s.rdb, keys(c), toArgs(ids[c])...)
			err = cmds[c].Err()
		}
		if err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

// claimResults turns claim.lua's codes into results, one per id.
func claimResults(codes []int64, n int) ([]ClaimResult, error) {
	if len(codes) != n {
		return nil, fmt.Errorf("claim: %d codes for %d ids", len(codes), n)
	}
	out := make([]ClaimResult, len(codes))
	for i, c := range codes {
		switch c {
		case claimReleased:
			out[i] = Undone
		case claimOK:
			out[i] = ClaimedNow
		case claimUnknown:
			out[i] = Unknown
		default:
			return nil, fmt.Errorf("claim: unknown script result %d", c)
		}
	}
	return out, nil
}

// Seat names one failed reservation, its member, and what it gives back.
type Seat struct {
	ID       string
	MemberID int64
	// Back says what Redis gets back (the zero value: seat and member).
	Back Giveback
	// Keep, for numbered seats, are the seats of the reservation that stay
	// taken: the database says another reservation holds them. The rest of
	// its seats go back whatever Back says.
	Keep []string
}

// Giveback is what a failed reservation returns to Redis.
type Giveback int

// What a failed reservation gives back, by why it failed.
const (
	// SeatAndMember: the database could not store it; it took a seat and a
	// member that are both free again.
	SeatAndMember Giveback = iota
	// MemberOnly: the database had no seat for it: Redis had admitted one
	// more than there was (it lost an earlier admission), so giving the
	// seat back would sell it again.
	MemberOnly
	// Nothing: its member already holds a seat in the database, which
	// Redis had forgotten; this admission's seat stands for that one.
	Nothing
)

func (g Giveback) arg() string {
	switch g {
	case MemberOnly:
		return "m"
	case Nothing:
		return "0"
	}
	return "1"
}

// Fail settles reservations that can never be written: each gives back what
// its Back says, once however often this is called. It returns how many
// seats went back.
func (s *Store) Fail(ctx context.Context, concert int64, seats []Seat) (int64, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.fail(ctx, concert, seats)
	} else if err != nil {
		return 0, fmt.Errorf("fail: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	args := []any{time.Now().UnixMilli(), TombstoneRetention.Milliseconds()}
	for _, st := range seats {
		args = append(args, st.ID, st.MemberID, st.Back.arg(), strings.Join(st.Keep, ","))
	}
	c := concert
	n, err := failScript.Run(ctx, s.rdb, append([]string{s.stockKey(c), s.membersKey(c), s.inflightKey(c), s.inflightTKey(c), s.releasedKey(c), s.holdsKey(c)}, s.seatKeys(c)...), args...).Int64()
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
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return s.remainingBuckets(ctx, l, concert)
	} else if err != nil {
		return 0, false, fmt.Errorf("stock: %w", err)
	}
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
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.sum(func(sub *Store) (int64, error) { return sub.InFlightCount(ctx, concert) })
	} else if err != nil {
		return 0, fmt.Errorf("in-flight count: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.rdb.HLen(ctx, s.inflightKey(concert)).Result()
	if err != nil {
		return 0, fmt.Errorf("in-flight count: %w", err)
	}
	return n, nil
}

// Loading is what Load writes for one concert.
type Loading struct {
	Concert int64
	// Remaining seats; in-flight records are kept (their seats are not in
	// the database's remaining yet), so Remaining must already exclude them.
	Remaining int64
	// Holders are the members with a seat (active rows and in-flight
	// records alike).
	Holders []int64
	// Holds are the HELD reservations, put back in the expiry queue; nil
	// leaves the queue as it is.
	Holds []Hold
	// Epoch is the marker written with the stock (see Epoch).
	Epoch string
	// Reset also drops in-flight records, tombstones, holds and decisions.
	Reset bool
	// Buckets splits the stock into that many buckets on as many slots (see
	// buckets.go); 1 is a plain concert, 0 keeps what the concert has.
	// Changing it starts the concert over: only with Reset.
	Buckets int
	// Seats, for a concert with numbered seats, are its map and who holds
	// which seat (Remaining must be its free seats); nil for general
	// admission, which drops any seat keys.
	Seats *SeatLoading
}

// Hold is one reservation awaiting payment until ExpiresAt.
type Hold struct {
	ID        string
	MemberID  int64
	ExpiresAt time.Time
}

// Load sets a concert's stock from the system of record, with its marker, in
// one transaction: the marker is what tells reserve.lua that Redis knows the
// concert (without it nobody is admitted), and it names what it was loaded
// from.
func (s *Store) Load(ctx context.Context, l Loading) error {
	if l.Epoch == "" {
		return fmt.Errorf("load stock of concert %d: no epoch", l.Concert)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if bucketed, err := s.loadBuckets(ctx, l); bucketed || err != nil {
		return err
	}
	if err := s.loadSlot(ctx, l); err != nil {
		return err
	}
	// The concert list is global (not slot-local), so it is written apart.
	if err := s.rdb.SAdd(ctx, s.concertsKey(), l.Concert).Err(); err != nil {
		return fmt.Errorf("register concert %d: %w", l.Concert, err)
	}
	return nil
}

// loadSlot writes Load's keys in this Store's slot of the concert, in one
// transaction, deleting the also keys with them.
func (s *Store) loadSlot(ctx context.Context, l Loading, also ...string) error {
	c := l.Concert
	epoch := l.Epoch
	if l.Seats != nil {
		epoch += seatedSuffix
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(also) > 0 {
			p.Del(ctx, also...)
		}
		p.Del(ctx, s.membersKey(c))
		p.Del(ctx, s.seatBitsKey(c), s.seatRowsKey(c), s.seatOwnerKey(c), s.seatResKey(c), s.seatMapKey(c), s.seatStartsKey(c))
		if l.Seats != nil {
			if err := s.loadSeats(ctx, p, c, *l.Seats); err != nil {
				return err
			}
		}
		if l.Reset {
			p.Del(ctx, s.inflightKey(c), s.inflightTKey(c), s.releasedKey(c),
				s.holdsKey(c), s.decidedKey(c), s.outboxKey(c))
		}
		for i := 0; i < len(l.Holders); i += 1000 {
			chunk := l.Holders[i:min(i+1000, len(l.Holders))]
			args := make([]any, len(chunk))
			for j, m := range chunk {
				args[j] = m
			}
			p.SAdd(ctx, s.membersKey(c), args...)
		}
		if l.Holds != nil {
			p.Del(ctx, s.holdsKey(c))
			for i := 0; i < len(l.Holds); i += 1000 {
				chunk := l.Holds[i:min(i+1000, len(l.Holds))]
				zs := make([]redis.Z, len(chunk))
				for j, h := range chunk {
					zs[j] = redis.Z{Score: float64(h.ExpiresAt.UnixMilli()), Member: h.ID + "|" + strconv.FormatInt(h.MemberID, 10)}
				}
				p.ZAdd(ctx, s.holdsKey(c), zs...)
			}
		}
		p.Set(ctx, s.stockKey(c), l.Remaining, 0)
		p.Set(ctx, s.epochKey(c), epoch, 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load stock of concert %d: %w", c, err)
	}
	return nil
}

// NewEpoch is the marker of a stock loaded from the database whose token
// (store.Deployment) is deployment, at the given time.
func NewEpoch(deployment string, at time.Time) string {
	return deployment + "/" + strconv.FormatInt(at.UnixMilli(), 10)
}

// EpochDeployment is the database token a marker names ("" for none).
func EpochDeployment(epoch string) string {
	d, _, _ := strings.Cut(epoch, "/")
	return d
}

// Epoch returns a concert's marker; ok is false when there is none (never
// loaded, Redis lost it, or Unmark took it away).
func (s *Store) Epoch(ctx context.Context, concert int64) (epoch string, ok bool, err error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.epoch(ctx, concert)
	} else if err != nil {
		return "", false, fmt.Errorf("epoch of concert %d: %w", concert, err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	v, err := s.rdb.Get(ctx, s.epochKey(concert)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("epoch of concert %d: %w", concert, err)
	}
	return v, true, nil
}

// Mark sets a concert's marker over the stock as it is (adopting a stock
// that was loaded before markers existed, once it is known to agree).
func (s *Store) Mark(ctx context.Context, concert int64, epoch string) error {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.eachBucket(func(_ int, sub *Store) error { return sub.Mark(ctx, concert, epoch) })
	} else if err != nil {
		return fmt.Errorf("mark concert %d: %w", concert, err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.rdb.Set(ctx, s.epochKey(concert), epoch, 0).Err(); err != nil {
		return fmt.Errorf("mark concert %d: %w", concert, err)
	}
	return nil
}

// Unmark takes a concert's marker away: from the next request on, nobody is
// admitted to it (503 stock_not_loaded) until Load puts one back. It returns
// the marker it removed.
func (s *Store) Unmark(ctx context.Context, concert int64) (string, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.unmark(ctx, concert)
	} else if err != nil {
		return "", fmt.Errorf("unmark concert %d: %w", concert, err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	v, err := s.rdb.GetDel(ctx, s.epochKey(concert)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("unmark concert %d: %w", concert, err)
	}
	return v, nil
}

// Snapshot is Redis's whole view of one concert, for reconcile.
type Snapshot struct {
	Loaded    bool // a stock key exists
	Remaining int64
	Epoch     string // "" without a marker
	Members   []int64
	Holds     []Hold
	InFlight  []InFlight
	// InFlightAt is each in-flight record's admission time.
	InFlightAt map[string]time.Time
	// Decided are the recorded decisions not yet applied by the writer.
	Decided []Decided
	// Buckets is the number of stock buckets (0 for a plain concert);
	// InTransit are seats between two buckets, counted in Remaining.
	Buckets   int
	InTransit int64
	// Seats is the seat side of a concert with numbered seats (nil for
	// general admission).
	Seats *SeatSnapshot
}

// Snapshot reads a concert's keys in one transaction (MULTI), so they agree
// with each other.
func (s *Store) Snapshot(ctx context.Context, concert int64) (Snapshot, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return s.snapshotBuckets(ctx, l, concert)
	} else if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot of concert %d: %w", concert, err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c := concert
	var (
		stock    *redis.StringCmd
		epoch    *redis.StringCmd
		members  *redis.StringSliceCmd
		holds    *redis.ZSliceCmd
		inflight *redis.MapStringStringCmd
		times    *redis.ZSliceCmd
		decided  *redis.MapStringStringCmd
		seats    func() (*SeatSnapshot, error)
	)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		stock = p.Get(ctx, s.stockKey(c))
		epoch = p.Get(ctx, s.epochKey(c))
		members = p.SMembers(ctx, s.membersKey(c))
		holds = p.ZRangeWithScores(ctx, s.holdsKey(c), 0, -1)
		inflight = p.HGetAll(ctx, s.inflightKey(c))
		times = p.ZRangeWithScores(ctx, s.inflightTKey(c), 0, -1)
		decided = p.HGetAll(ctx, s.decidedKey(c))
		seats = s.snapshotSeats(ctx, p, c)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Snapshot{}, fmt.Errorf("snapshot of concert %d: %w", c, err)
	}
	var out Snapshot
	if out.Seats, err = seats(); err != nil {
		return Snapshot{}, err
	}
	if n, err := stock.Int64(); err == nil {
		out.Loaded, out.Remaining = true, n
	}
	out.Epoch, _ = epoch.Result()
	for _, m := range members.Val() {
		if id, err := strconv.ParseInt(m, 10, 64); err == nil {
			out.Members = append(out.Members, id)
		}
	}
	for _, z := range holds.Val() {
		m, _ := z.Member.(string)
		id, member, ok := strings.Cut(m, "|")
		mid, err := strconv.ParseInt(member, 10, 64)
		if ok && err == nil {
			out.Holds = append(out.Holds, Hold{ID: id, MemberID: mid, ExpiresAt: time.UnixMilli(int64(z.Score))})
		}
	}
	for id, rec := range inflight.Val() {
		if rec != "" {
			out.InFlight = append(out.InFlight, InFlight{ID: id, State: State(rec[:1]), Payload: []byte(rec[1:])})
		}
	}
	out.InFlightAt = map[string]time.Time{}
	for _, z := range times.Val() {
		if id, ok := z.Member.(string); ok {
			out.InFlightAt[id] = time.UnixMilli(int64(z.Score))
		}
	}
	for id, d := range decided.Val() {
		if dec, ok := parseDecided(id, d); ok {
			out.Decided = append(out.Decided, dec)
		}
	}
	return out, nil
}

// InFlight is one reservation accepted but not yet written.
type InFlight struct {
	ID      string
	State   State
	Payload []byte
}

// Stale returns up to limit in-flight reservations of a concert admitted
// before cutoff.
func (s *Store) Stale(ctx context.Context, concert int64, cutoff time.Time, limit int64) ([]InFlight, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.stale(ctx, concert, cutoff, limit)
	} else if err != nil {
		return nil, fmt.Errorf("stale in-flight: %w", err)
	}
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
		out = append(out, InFlight{ID: ids[i], State: State(rec[:1]), Payload: []byte(rec[1:])})
	}
	return out, nil
}

// Touch moves the admission time of in-flight records to now, so a
// republished reservation is not republished again before another grace period.
func (s *Store) Touch(ctx context.Context, concert int64, ids []string, now time.Time) error {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.eachBucket(func(_ int, sub *Store) error { return sub.Touch(ctx, concert, ids, now) })
	} else if err != nil {
		return fmt.Errorf("touch in-flight: %w", err)
	}
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

// Decide records a confirm or cancel of a held reservation. held is false
// when Redis has neither its hold nor a decision (never held: confirmed on
// write; or decided, applied and forgotten): MySQL's row says which. When
// held, stands is the decision that holds now: this one if this call or an
// earlier one made it, another if that one came first — event.Expire when the
// hold's deadline has passed, even before the expirer claimed it. republishAt is when
// the outbox hands the decision out again if the writer has not applied it.
func (s *Store) Decide(ctx context.Context, concert int64, id string, member int64, d event.Decision, republishAt time.Time) (stands event.Decision, held bool, err error) {
	code, err := decisionCode(d)
	if err != nil || d == event.Expire {
		return "", false, fmt.Errorf("decide: %q is not a member's decision", d)
	}
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.of(member).Decide(ctx, concert, id, member, d, republishAt)
	} else if err != nil {
		return "", false, fmt.Errorf("decide: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	vals, err := decideScript.Run(ctx, s.rdb, []string{s.holdsKey(concert), s.decidedKey(concert), s.outboxKey(concert)},
		id, member, code, republishAt.UnixMilli(), time.Now().UnixMilli()).Slice()
	if err != nil || len(vals) != 2 {
		return "", false, fmt.Errorf("decide: %v: %w", vals, err)
	}
	result, _ := vals[0].(int64)
	recorded, _ := vals[1].(string)
	switch result {
	case decideNotHeld:
		return "", false, nil
	case decideNow, decideBefore:
		if stands, ok := decisionOf(recorded); ok {
			return stands, true, nil
		}
		return "", false, fmt.Errorf("decide: unknown decision %q recorded", recorded)
	}
	return "", false, fmt.Errorf("decide: unknown script result %d", result)
}

// decisionCode and decisionOf translate between the domain's decisions and
// the byte the lifecycle scripts record.
func decisionCode(d event.Decision) (string, error) {
	switch d {
	case event.Confirm:
		return decisionConfirm, nil
	case event.Cancel:
		return decisionCancel, nil
	case event.Expire:
		return decisionExpire, nil
	}
	return "", fmt.Errorf("unknown decision %q", d)
}

func decisionOf(code string) (event.Decision, bool) {
	switch code {
	case decisionConfirm:
		return event.Confirm, true
	case decisionCancel:
		return event.Cancel, true
	case decisionExpire:
		return event.Expire, true
	}
	return "", false
}

// Decided is a recorded decision about a held reservation.
type Decided struct {
	ID       string
	MemberID int64
	Decision event.Decision
}

func parseDecided(id, d string) (Decided, bool) {
	// d is "<decision>|<member>"
	if len(d) < 3 || d[1] != '|' {
		return Decided{}, false
	}
	m, err := strconv.ParseInt(d[2:], 10, 64)
	if err != nil {
		return Decided{}, false
	}
	dec, ok := decisionOf(d[:1])
	if !ok {
		return Decided{}, false
	}
	return Decided{ID: id, MemberID: m, Decision: dec}, true
}

// ExpireDue claims up to limit holds of a concert due at now, deciding each
// as expired; each stays in the outbox until republishAt.
func (s *Store) ExpireDue(ctx context.Context, concert int64, now time.Time, limit int, republishAt time.Time) ([]Decided, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.decisions(func(sub *Store) ([]Decided, error) { return sub.ExpireDue(ctx, concert, now, limit, republishAt) })
	} else if err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	due, err := expireScript.Run(ctx, s.rdb, []string{s.holdsKey(concert), s.decidedKey(concert), s.outboxKey(concert)},
		now.UnixMilli(), limit, republishAt.UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	out := make([]Decided, 0, len(due))
	for _, m := range due {
		id, member, ok := strings.Cut(m, "|")
		if d, ok2 := parseDecided(id, decisionExpire+"|"+member); ok && ok2 {
			out = append(out, d)
		}
	}
	return out, nil
}

// OutboxDue claims up to limit decisions of a concert that the writer has not
// applied by now, leasing them until republishAt.
func (s *Store) OutboxDue(ctx context.Context, concert int64, now time.Time, limit int, republishAt time.Time) ([]Decided, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.decisions(func(sub *Store) ([]Decided, error) { return sub.OutboxDue(ctx, concert, now, limit, republishAt) })
	} else if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	flat, err := outboxScript.Run(ctx, s.rdb, []string{s.decidedKey(concert), s.outboxKey(concert)},
		now.UnixMilli(), limit, republishAt.UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var out []Decided
	for i := 0; i+1 < len(flat); i += 2 {
		if d, ok := parseDecided(flat[i], flat[i+1]); ok {
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
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.settle(ctx, concert, settled)
	} else if err != nil {
		return 0, fmt.Errorf("settle: %w", err)
	}
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
	n, err := settleScript.Run(ctx, s.rdb, append([]string{s.stockKey(concert), s.membersKey(concert), s.decidedKey(concert), s.outboxKey(concert)}, s.seatKeys(concert)...), args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("settle: %w", err)
	}
	return n, nil
}

// HoldCount returns how many holds of a concert wait to be paid or expire.
func (s *Store) HoldCount(ctx context.Context, concert int64) (int64, error) {
	if l, err := s.layoutOf(ctx, concert); l != nil {
		return l.sum(func(sub *Store) (int64, error) { return sub.HoldCount(ctx, concert) })
	} else if err != nil {
		return 0, fmt.Errorf("holds: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.rdb.ZCard(ctx, s.holdsKey(concert)).Result()
	if err != nil {
		return 0, fmt.Errorf("holds: %w", err)
	}
	return n, nil
}
