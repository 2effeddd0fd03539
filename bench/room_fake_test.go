package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRoom is a waiting room that keeps the contract (issue 17) in memory,
// the bench's side of it only: joins, /me, the stream, the serving counter,
// reservations with a pass, confirm. It lets the room's load and audits run
// without the services; app's test runs them against the real thing.
type fakeRoom struct {
	mu        sync.Mutex
	opensAt   time.Time
	rate      int
	tick      time.Duration
	capacity  int64
	sold      int64
	confirmed int64
	drawn     bool
	pre       []int64 // members who joined before opening, in arrival order
	post      []int64
	pos       map[int64]int64
	ticket    map[int64]*RoomTicket
	admitted  int64
	cohorts   []RoomCohort
	issued    map[int64]time.Time
	soldOutAt time.Time
	reserved  map[int64]bool
	// cheat, when set, admits everyone at once (a room that breaks the rate).
	cheat bool
}

func newFakeRoom(capacity int64, rate int) *fakeRoom {
	return &fakeRoom{rate: rate, tick: 20 * time.Millisecond, capacity: capacity, pos: map[int64]int64{},
		ticket: map[int64]*RoomTicket{}, issued: map[int64]time.Time{}, reserved: map[int64]bool{}}
}

// run advances the counter every tick until ctx ends.
func (f *fakeRoom) run(ctx context.Context) {
	t := time.NewTicker(f.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.step(now)
		}
	}
}

func (f *fakeRoom) step(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opensAt.IsZero() || now.Before(f.opensAt) {
		return
	}
	if !f.drawn {
		f.drawn = true
		for i, k := range rand.Perm(len(f.pre)) {
			m := f.pre[i]
			f.pos[m] = int64(k + 1)
			f.ticket[m].Position = int64(k + 1)
		}
	}
	joined := int64(len(f.pre) + len(f.post))
	if f.sold >= f.capacity || f.admitted >= joined {
		return
	}
	n := int64(float64(f.rate) * f.tick.Seconds())
	if f.cheat {
		n = joined
	}
	f.admitted = min(joined, f.admitted+n)
	f.cohorts = append(f.cohorts, RoomCohort{UpTo: f.admitted, At: now, ExpiresAt: now.Add(time.Minute)})
}

func (f *fakeRoom) state() string {
	switch {
	case f.opensAt.IsZero() || time.Now().Before(f.opensAt) || !f.drawn:
		return "scheduled"
	case f.confirmed >= f.capacity:
		return "sold_out"
	case f.sold >= f.capacity:
		return "paused"
	}
	return "open"
}

// status is m's status JSON, the pass issued if admitted (with f.mu held).
func (f *fakeRoom) status(m int64) []byte {
	st := map[string]any{"concertId": 1, "memberId": m, "state": f.state(), "position": nil, "ahead": nil, "estimatedWaitSeconds": nil}
	p, drawn := f.pos[m]
	switch {
	case !drawn:
		st["status"] = "waiting"
	case p <= f.admitted:
		st["status"], st["pass"] = "admitted", fmt.Sprintf("pass-%d", m)
		if _, ok := f.issued[m]; !ok {
			f.issued[m] = time.Now()
		}
	case f.state() == "sold_out":
		st["status"] = "sold_out"
	default:
		st["status"], st["position"], st["ahead"] = "queued", p, p-f.admitted-1
		st["estimatedWaitSeconds"] = float64(p-f.admitted) / float64(f.rate)
	}
	b, _ := json.Marshal(st)
	return b
}

func member(r *http.Request) int64 {
	if q := r.URL.Query().Get("memberId"); q != "" {
		m, _ := strconv.ParseInt(q, 10, 64)
		return m
	}
	var b struct {
		MemberID int64 `json:"memberId"`
	}
	json.NewDecoder(r.Body).Decode(&b)
	return b.MemberID
}

func (f *fakeRoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, e string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":%q,"message":"fake"}`, e)
	}
	switch path := r.URL.Path; {
	case path == "/api/queue/1" && r.Method == http.MethodGet:
		f.mu.Lock()
		joined := int64(len(f.pre) + len(f.post))
		fmt.Fprintf(w, `{"concertId":1,"state":%q,"joined":%d,"admitted":%d,"waiting":%d}`, f.state(), joined, f.admitted, joined-f.admitted)
		f.mu.Unlock()
	case path == "/api/queue/1" && r.Method == http.MethodPost:
		m := member(r)
		f.mu.Lock()
		if _, ok := f.ticket[m]; !ok {
			t := &RoomTicket{Member: m, JoinedAt: time.Now()}
			if !f.drawn {
				f.pre = append(f.pre, m)
				t.PreOpen, t.Seq = true, int64(len(f.pre))
			} else {
				f.post = append(f.post, m)
				t.Seq = int64(len(f.post))
				t.Position = int64(len(f.pre) + len(f.post))
				f.pos[m] = t.Position
			}
			f.ticket[m] = t
			w.WriteHeader(http.StatusCreated)
		}
		w.Write(f.status(m))
		f.mu.Unlock()
	case path == "/api/queue/1/me":
		m := member(r)
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.ticket[m]; !ok {
			fail(http.StatusNotFound, "not_queued")
			return
		}
		w.Write(f.status(m))
	case path == "/api/queue/1/stream":
		m := member(r)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 3000\n\n")
		var last []byte
		for {
			f.mu.Lock()
			st := f.status(m)
			f.mu.Unlock()
			if !bytes.Equal(st, last) {
				fmt.Fprintf(w, "event: status\ndata: %s\n\n", st)
				w.(http.Flusher).Flush()
				last = st
				if s := jsonString(st, "status"); s == "admitted" || s == "expired" {
					return
				}
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	case path == "/api/reservations/async":
		m := member(r)
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("X-Queue-Pass") != fmt.Sprintf("pass-%d", m) {
			fail(http.StatusForbidden, "not_admitted")
			return
		}
		if f.sold >= f.capacity {
			fail(http.StatusConflict, "sold_out")
			return
		}
		f.sold++
		f.reserved[m] = true
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"reservationId":"r%d","status":"PENDING"}`, m)
	case strings.HasSuffix(path, "/confirm"):
		f.mu.Lock()
		defer f.mu.Unlock()
		f.confirmed++
		if f.confirmed >= f.capacity && f.soldOutAt.IsZero() {
			f.soldOutAt = time.Now()
		}
		fmt.Fprint(w, `{"status":"CONFIRMED"}`)
	default:
		fail(http.StatusNotFound, "not_found")
	}
}

// fakeRoom as a RoomEnv.
func (f *fakeRoom) Reset(context.Context, int, int, int) error { return nil }
func (f *fakeRoom) Audit(context.Context, int) (Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Counts{Capacity: f.capacity, RedisTaken: f.sold, Rows: f.sold, DBRemaining: f.capacity - f.sold}, nil
}
func (f *fakeRoom) RoomRecords(context.Context, int64) (RoomRecords, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := RoomRecords{OpensAt: f.opensAt, Rate: f.rate, MaxActive: 1 << 30, PassTTL: time.Minute, Tick: f.tick,
		Drawn: int64(len(f.pre)), Admitted: f.admitted, SoldOutAt: f.soldOutAt, Cohorts: f.cohorts, Issued: map[int64]time.Time{}}
	for _, t := range f.ticket {
		r.Tickets = append(r.Tickets, *t)
	}
	for m, t := range f.issued {
		r.Issued[m] = t
	}
	return r, nil
}

// runFakeRoom drives a fakeRoom with bench room's load at a small size.
func runFakeRoom(t *testing.T, f *fakeRoom, o roomOptions) *RoomResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	defer srv.Close()
	go f.run(ctx)
	res := &RoomResult{Checks: []RoomCheck{}}
	rr := &roomRun{o: o, env: f, stderr: testWriter{t}, res: res, addr: ln.Addr().String(), pid: os.Getpid()}
	rr.configure = func(context.Context) error {
		f.mu.Lock()
		f.opensAt = rr.opensAt
		f.mu.Unlock()
		return nil
	}
	if err := rr.drive(ctx); err != nil {
		t.Fatal(err)
	}
	return res
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeRate admits the 300 pre-open arrivals over 3 s: slow enough that
// the 150 seats sell before the counter has reached them all even when the
// buyers lag on a loaded machine, so some streams are left waiting for the
// sold out.
const fakeRate = 100

func smallRoom() roomOptions {
	o := roomDefaults()
	o.Arrivals, o.PreOpen, o.Rate, o.Capacity, o.Streams = 800, 300, fakeRate, 150, 300
	o.JoinRate, o.OpenDelay, o.PollRate, o.SoldOutWait, o.Quiet = 2000, time.Second, 2000, 3*time.Second, true
	return o
}

// The room's load against a fake room that keeps the contract: every audit
// holds, the seats sell, sold out reaches every waiting stream, passes are
// refused when missing or someone else's.
func TestRoomLoadOnAFakeRoom(t *testing.T) {
	f := newFakeRoom(150, fakeRate)
	res := runFakeRoom(t, f, smallRoom())
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	if res.Buys.Accepted != 150 || res.Joined != 800 || res.StreamsPeak < 300 {
		t.Errorf("accepted %d, joined %d, streams %d", res.Buys.Accepted, res.Joined, res.StreamsPeak)
	}
	if res.SoldOut.Waiters == 0 || res.SoldOut.Never != 0 {
		t.Errorf("sold out reach %+v", res.SoldOut)
	}
	if res.Buys.NoPass != negatives || res.Buys.WrongPass != negatives {
		t.Errorf("passes tested %+v", res.Buys)
	}
	dir := t.TempDir()
	if err := writeRoomCharts(dir, res); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"queue.svg", "queue.png", "gateway.svg", "gateway.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	var b bytes.Buffer
	printRoom(&b, res)
	if !strings.Contains(b.String(), "every audit held") {
		t.Errorf("table:\n%s", b.String())
	}
}

// A room that admits everyone at once fails the rate audit.
func TestRoomLoadCatchesACheatingRoom(t *testing.T) {
	f := newFakeRoom(150, fakeRate)
	f.cheat = true
	res := runFakeRoom(t, f, smallRoom())
	for _, c := range res.Checks {
		if c.Name == auditRate && c.OK {
			t.Errorf("%s held: %s", c.Name, c.Detail)
		}
	}
}

// With no streams, the pre-open arrivals learn of their admission by
// polling /me after the opening (which is set only once they have joined).
func TestRoomLoadWithPollersOnly(t *testing.T) {
	o := smallRoom()
	o.Streams = 0
	res := runFakeRoom(t, newFakeRoom(150, fakeRate), o)
	for _, c := range res.Checks {
		if !c.OK && c.Name != "sold out reached every waiter" {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	if res.Buys.Accepted != 150 || res.Polls == 0 {
		t.Errorf("accepted %d after %d polls", res.Buys.Accepted, res.Polls)
	}
}
