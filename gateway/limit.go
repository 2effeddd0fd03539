package gateway

import (
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"
)

// Rate is one token bucket's setting: PerSecond requests on average, Burst
// at once. A zero PerSecond turns the limit off.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Limits are the abuse limits of the public API (429 rate_limited).
type Limits struct {
	// Member is per member (the token's, else the body's memberId) on
	// /api/reservations/*: reserve, cancel and reads.
	Member Rate
	// Address is per client address (an IPv4 address, an IPv6 /64) on
	// every /api/ path but the payment service's confirm callback.
	Address Rate
	// ClientIPHeader, when set, is a header that the proxy in front
	// overwrites with the client's address (X-Real-IP, or X-Forwarded-For
	// whose last entry is the one the proxy saw); unset, the connection's
	// peer is the client. A header no proxy overwrites is the client's to
	// forge, so it is off by default.
	ClientIPHeader string
}

// Edge bounds what a client may hold of the server: connections, time and
// memory, and admissions in flight (503 overloaded past MaxAdmissions).
type Edge struct {
	// MaxConns is the most connections served at once (fasthttp's
	// Concurrency); beyond it a connection is answered 503 and closed.
	MaxConns int
	// MaxConnsPerAddress is the most connections from one peer address;
	// beyond it fasthttp answers 429 and closes.
	MaxConnsPerAddress int
	// HeaderTimeout bounds reading a request from its first byte (headers
	// and the body, which --max-body keeps small): a client sending one
	// byte every few seconds is cut off after it.
	HeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for that long.
	IdleTimeout time.Duration
	// ReduceIdleMemory gives back an idle connection's buffers (fasthttp's
	// ReduceMemoryUsage), for more CPU per request.
	ReduceIdleMemory bool
	// MaxAdmissions is the most reservations being admitted at once; past
	// it a reservation is answered 503 overloaded at once instead of
	// queueing behind the others (0: no limit).
	MaxAdmissions int
}

// buckets is a token bucket per key, made on first use and dropped by sweep
// once it is full again, so a rush of 250,000 members keeps only the buckets
// of those who asked in the last few seconds.
type buckets[K comparable] struct {
	limit  rate.Limit
	burst  int
	seed   maphash.Seed
	shards [32]bucketShard[K]
}

type bucketShard[K comparable] struct {
	mu sync.Mutex
	m  map[K]*rate.Limiter
}

// newBuckets returns nil for a zero rate: no limit.
func newBuckets[K comparable](r Rate) *buckets[K] {
	if r.PerSecond <= 0 {
		return nil
	}
	b := &buckets[K]{limit: rate.Limit(r.PerSecond), burst: max(r.Burst, 1), seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].m = map[K]*rate.Limiter{}
	}
	return b
}

// take takes one token of key's bucket; when there is none it takes nothing
// and says how long until there is one.
func (b *buckets[K]) take(key K, now time.Time) (ok bool, wait time.Duration) {
	if b == nil {
		return true, 0
	}
	sh := &b.shards[maphash.Comparable(b.seed, key)%uint64(len(b.shards))]
	sh.mu.Lock()
	lim := sh.m[key]
	if lim == nil {
		lim = rate.NewLimiter(b.limit, b.burst)
		sh.m[key] = lim
	}
	sh.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops the buckets that are full again: forgetting one changes
// nothing for its key. It returns how many are left.
func (b *buckets[K]) sweep(now time.Time) int {
	if b == nil {
		return 0
	}
	left := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for k, lim := range sh.m {
			if lim.TokensAt(now) >= float64(b.burst) {
				delete(sh.m, k)
			}
		}
		left += len(sh.m)
		sh.mu.Unlock()
	}
	return left
}

// limiter applies Limits.
type limiter struct {
	members   *buckets[int64]
	addresses *buckets[netip.Addr]
	ipHeader  string
}

func newLimiter(l Limits) *limiter {
	return &limiter{members: newBuckets[int64](l.Member), addresses: newBuckets[netip.Addr](l.Address), ipHeader: l.ClientIPHeader}
}

// sweepEvery drops full buckets until done is closed.
func (l *limiter) sweepEvery(every time.Duration, done <-chan struct{}) {
	if l.members == nil && l.addresses == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			l.members.sweep(now)
			l.addresses.sweep(now)
		}
	}
}

// address takes a token of the client address's bucket.
func (l *limiter) address(ctx *fasthttp.RequestCtx) error {
	if l.addresses == nil {
		return nil
	}
	ok, wait := l.addresses.take(l.clientAddr(ctx), time.Now())
	if ok {
		return nil
	}
	return rateLimited{what: "this address", wait: wait}
}

// member takes a token of member's bucket.
func (l *limiter) member(member int64) error {
	if l.members == nil || member == 0 {
		return nil
	}
	ok, wait := l.members.take(member, time.Now())
	if ok {
		return nil
	}
	return rateLimited{what: "member " + strconv.FormatInt(member, 10), wait: wait}
}

// clientAddr is the client's address as a bucket key: an IPv6 client is its
// /64, the block one host is usually given.
func (l *limiter) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	var a netip.Addr
	if l.ipHeader != "" {
		v := string(ctx.Request.Header.Peek(l.ipHeader))
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			v = v[i+1:]
		}
		a, _ = netip.ParseAddr(strings.TrimSpace(v))
	}
	if !a.IsValid() {
		if tcp, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
			a, _ = netip.AddrFromSlice(tcp.IP)
		}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// rateLimited is a 429: the bucket of what is empty for wait.
type rateLimited struct {
	what string
	wait time.Duration
}

func (e rateLimited) Unwrap() error { return errRateLimited }

func (e rateLimited) Error() string {
	return "too many requests from " + e.what + "; retry after " + strconv.Itoa(e.retryAfter()) + " s"
}

// retryAfter is Retry-After's whole seconds, at least 1.
func (e rateLimited) retryAfter() int {
	return max(1, int(math.Ceil(e.wait.Seconds())))
}
