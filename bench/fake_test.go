package bench

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve runs h on 127.0.0.1:<free port> until the test ends and returns its
// base URL.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, Concurrency: 10_000}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// fakeSystem is an in-memory boxoffice: the gateway's strategies over a
// pretend Redis and MySQL, and an Env that audits them. Faults can be
// planted to check that the harness catches them.
type fakeSystem struct {
	// writerLag is how long an async reservation stays in flight.
	writerLag time.Duration
	// unsafe serves the unsafe strategy (read, pause, write: oversells).
	unsafe bool
	// unserved strategies answer 404 not_found, as those a gateway's
	// --strategies does not name.
	unserved map[string]bool
	// leakEvery > 0 drops every n-th async reservation after taking its
	// stock: a planted leak.
	leakEvery int
	// pool > 0 models the gateway's DB pool: pessimistic holds a connection
	// while waiting for the concert lock; member reads need one too.
	pool chan struct{}
	// hold is how long the DB strategies hold the concert lock.
	hold time.Duration

	mu          sync.Mutex
	concertLock sync.Mutex
	capacity    map[int]int64
	redisStock  map[int]int64
	dbRemaining map[int]int64
	redisHolds  map[[2]int]bool
	rows        map[[2]int]int // (concert, member) → active rows
	inFlight    int64
	accepted    int
	members     int
	resets      int
	writes      sync.WaitGroup
}

func newFakeSystem() *fakeSystem {
	f := &fakeSystem{}
	_ = f.Reset(context.Background(), 1, 10, 10)
	return f
}

func (f *fakeSystem) Reset(_ context.Context, concerts, capacity, members int) error {
	f.writes.Wait() // the writer of the previous run is done
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capacity, f.redisStock, f.dbRemaining = map[int]int64{}, map[int]int64{}, map[int]int64{}
	for c := 1; c <= concerts; c++ {
		f.capacity[c], f.redisStock[c], f.dbRemaining[c] = int64(capacity), int64(capacity), int64(capacity)
	}
	f.redisHolds, f.rows = map[[2]int]bool{}, map[[2]int]int{}
	f.inFlight, f.accepted, f.members = 0, 0, members
	f.resets++
	return nil
}

func (f *fakeSystem) Audit(_ context.Context, concerts int) (Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var c Counts
	for id := 1; id <= concerts; id++ {
		c.Capacity += f.capacity[id]
		c.RedisTaken += f.capacity[id] - f.redisStock[id]
		c.DBRemaining += f.dbRemaining[id]
	}
	for _, n := range f.rows {
		c.Rows += int64(n)
		if n > 1 {
			c.Duplicates++
		}
	}
	c.InFlight = f.inFlight
	return c, nil
}

func writeErr(ctx *fasthttp.RequestCtx, status int, code string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(map[string]string{"error": code, "message": code})
	ctx.SetBody(b)
}

// okIDs numbers the fake's reservations, so that each answer has an id of
// its own, as the gateway's ULIDs are.
var okIDs atomic.Int64

func writeOK(ctx *fasthttp.RequestCtx, status int, state string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"reservationId":"r` + strconv.FormatInt(okIDs.Add(1), 10) + `","status":"` + state + `"}`)
}

func (f *fakeSystem) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	switch {
	case path == "/healthz":
		ctx.SetBodyString("ok")
	case strings.HasPrefix(path, "/api/members/"):
		if f.pool != nil {
			f.pool <- struct{}{}
			defer func() { <-f.pool }()
		}
		id, err := strconv.Atoi(strings.TrimPrefix(path, "/api/members/"))
		f.mu.Lock()
		ok := err == nil && id >= 1 && id <= f.members
		f.mu.Unlock()
		if !ok {
			writeErr(ctx, 404, "not_found")
			return
		}
		ctx.SetBodyString(`{"id":` + strconv.Itoa(id) + `}`)
	case strings.HasPrefix(path, "/api/reservations/") && ctx.IsPost():
		f.reserve(ctx, strings.TrimPrefix(path, "/api/reservations/"))
	default:
		writeErr(ctx, 404, "not_found")
	}
}

func (f *fakeSystem) reserve(ctx *fasthttp.RequestCtx, strategy string) {
	if f.unserved[strategy] {
		writeErr(ctx, 404, "not_found")
		return
	}
	switch strategy {
	case strategyAsync, strategyPessimistic, strategyDistlock:
	case strategyUnsafe:
		if !f.unsafe {
			writeErr(ctx, 404, "not_found")
			return
		}
	default:
		writeErr(ctx, 404, "not_found")
		return
	}
	var body struct{ ConcertID, MemberID int }
	if err := json.Unmarshal(ctx.PostBody(), &body); err != nil || body.MemberID < 1 {
		writeErr(ctx, 400, "invalid")
		return
	}
	key := [2]int{body.ConcertID, body.MemberID}
	f.mu.Lock()
	_, exists := f.capacity[body.ConcertID]
	f.mu.Unlock()
	if !exists {
		writeErr(ctx, 404, "concert_not_found")
		return
	}
	switch strategy {
	case strategyAsync:
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case f.redisHolds[key]:
			writeErr(ctx, 409, "already_reserved")
			return
		case f.redisStock[body.ConcertID] <= 0:
			writeErr(ctx, 409, "sold_out")
			return
		}
		f.redisStock[body.ConcertID]--
		f.redisHolds[key] = true
		f.accepted++
		if f.leakEvery > 0 && f.accepted%f.leakEvery == 0 {
			writeOK(ctx, 202, "PENDING") // answered, then lost: the planted leak
			return
		}
		f.inFlight++
		f.writes.Add(1)
		time.AfterFunc(f.writerLag, func() {
			defer f.writes.Done()
			f.mu.Lock()
			defer f.mu.Unlock()
			f.rows[key]++
			f.dbRemaining[body.ConcertID]--
			f.inFlight--
		})
		writeOK(ctx, 202, "PENDING")
	case strategyPessimistic, strategyDistlock:
		if f.pool != nil && strategy == strategyPessimistic {
			f.pool <- struct{}{} // the connection is taken before the row lock
			defer func() { <-f.pool }()
		}
		f.concertLock.Lock()
		defer f.concertLock.Unlock()
		time.Sleep(f.hold)
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case f.rows[key] > 0:
			writeErr(ctx, 409, "already_reserved")
		case f.dbRemaining[body.ConcertID] <= 0:
			writeErr(ctx, 409, "sold_out")
		default:
			f.rows[key]++
			f.dbRemaining[body.ConcertID]--
			writeOK(ctx, 201, "HELD")
		}
	case strategyUnsafe:
		f.mu.Lock()
		left, dup := f.dbRemaining[body.ConcertID], f.rows[key] > 0
		f.mu.Unlock()
		if dup {
			writeErr(ctx, 409, "already_reserved")
			return
		}
		if left <= 0 {
			writeErr(ctx, 409, "sold_out")
			return
		}
		time.Sleep(10 * time.Millisecond) // the race window
		f.mu.Lock()
		f.rows[key]++
		f.dbRemaining[body.ConcertID] = left - 1 // lost update
		f.mu.Unlock()
		writeOK(ctx, 201, "HELD")
	}
}
