package bench

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// roomRun is one run of bench room.
type roomRun struct {
	o      roomOptions
	env    RoomEnv
	stderr io.Writer
	res    *RoomResult
	logs   string

	gateway *perfProc
	writer  *perfProc
	started []*perfProc
	addr    string // the gateway's public host:port
	pid     int    // the gateway's process, whose RSS and CPU are read
	// configure puts the room in front of the concert, opening at opensAt
	// (setRoom: `boxoffice room set`).
	configure func(ctx context.Context) error
	hc        *fasthttp.HostClient

	opensAt time.Time
	t0      time.Time // the first join

	joined, joinErrs       atomic.Int64
	polls, pollErrs        atomic.Int64
	events, streamErrs     atomic.Int64
	streamDrops            atomic.Int64
	connected, streamsPeak atomic.Int64
	// waiting are the streams connected and not admitted; heard those of
	// them that have received sold_out.
	waiting, heard atomic.Int64
	admittedSeen   atomic.Int64
	lastAdmitted   atomic.Int64 // the room's counter as GET /api/queue last said
	lastJoined     atomic.Int64
	lastState      atomic.Value // string

	streams []*streamView // by member − 1, for members ≤ --streams

	mu       sync.Mutex
	bought   map[int64]bool
	passes   map[int64]string // a few members' passes, for the wrong-pass test
	buys     roomBuys
	reserveC map[string]int64
	confirmC map[string]int64
	joinC    map[string]int64 // failed joins by answer
	joinWhy  []string         // the first failed join's message of each answer
	buyWG    sync.WaitGroup
	negOnce  sync.Once
	drops    map[string]int64 // why streams broke, and at what age

	polling pollQueue
	// opening is the room's real opening time once set (under mu): until
	// then a poller told "waiting" waits in preWaiting.
	opening    time.Time
	preWaiting []int64
}

// opened records the opening time and schedules the pollers waiting for
// it, spread over the second after it.
func (rr *roomRun) opened(at time.Time) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.opening = at
	for _, m := range rr.preWaiting {
		rr.polling.push(pollItem{at: at.Add(time.Duration(rand.Int64N(int64(time.Second)))), m: m})
	}
	rr.preWaiting = nil
}

func (rr *roomRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rr.res.Notes = append(rr.res.Notes, msg)
	fmt.Fprintln(rr.stderr, "note: "+msg)
}

func (rr *roomRun) say(format string, args ...any) {
	fmt.Fprintf(rr.stderr, "room: "+format+"\n", args...)
}

func (rr *roomRun) start(name string, args []string) (*perfProc, error) {
	p, err := startProc(rr.logs, name, rr.o.Bin, args)
	if err == nil {
		rr.started = append(rr.started, p)
	}
	return p, err
}

func (rr *roomRun) stopAll() {
	for i := len(rr.started) - 1; i >= 0; i-- {
		rr.started[i].stop(15 * time.Second)
	}
}

// gatewayArgs: members from the body (no tokens to mint for 100,000
// members), no per-address limits (everything comes from 127.0.0.1), no
// per-member limit (a poller asks /me again), the run's hold.
func (rr *roomRun) gatewayArgs(httpAddr, adminAddr string) []string {
	args := []string{"gateway", "--trust-body-member", "--address-rate", "0", "--max-conns-per-address", "0", "--member-rate", "0",
		"--hold-ttl", rr.o.HoldTTL.String(), "--http-addr", httpAddr, "--admin-addr", adminAddr}
	return append(args, strings.Fields(rr.o.GatewayFlags)...)
}

// startSystem seeds the concert and its members, takes any old room away,
// and starts a writer and a gateway on free loopback ports.
func (rr *roomRun) startSystem(ctx context.Context) error {
	o := rr.o
	rr.say("starting: migrate, seed %d seats and %d members, writer, gateway (logs in %s)", o.Capacity, o.Arrivals, rr.logs)
	if err := runOnce(ctx, rr.logs, o.Bin, "migrate"); err != nil {
		return err
	}
	if err := runOnce(ctx, rr.logs, o.Bin, "seed", "--concerts", "1", "--capacity", strconv.Itoa(o.Capacity), "--members", strconv.Itoa(o.Arrivals), "--reset"); err != nil {
		return err
	}
	// A room left by an earlier run on this prefix and database would keep
	// its queue; off forgets it (and fails harmlessly when there is none).
	_ = runOnce(ctx, rr.logs, o.Bin, "room", "off", "--concert", strconv.Itoa(roomConcert))
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	// The hold's end travels in each event: the writer needs no --hold-ttl.
	wargs := append([]string{"writer", "--metrics-addr", metrics}, strings.Fields(o.WriterFlags)...)
	if rr.writer, err = rr.start("writer", wargs); err != nil {
		return err
	}
	if err := waitHTTP(ctx, rr.writer, "http://"+metrics+"/healthz", time.Minute); err != nil {
		return err
	}
	httpAddr, adminAddr, err := twoAddrs()
	if err != nil {
		return err
	}
	rr.res.GatewayArgs = rr.gatewayArgs("<addr>", "<addr>")
	rr.res.WriterArgs = append([]string{"writer", "--metrics-addr", "<addr>"}, strings.Fields(o.WriterFlags)...)
	if rr.gateway, err = rr.start("gateway", rr.gatewayArgs(httpAddr, adminAddr)); err != nil {
		return err
	}
	if err := waitHTTP(ctx, rr.gateway, "http://"+httpAddr+"/readyz", time.Minute); err != nil {
		return err
	}
	rr.addr, rr.pid, rr.configure = httpAddr, rr.gateway.pid(), rr.setRoom
	return nil
}

// setRoom puts the room in front of the concert with `boxoffice room set`,
// opening at rr.opensAt.
func (rr *roomRun) setRoom(ctx context.Context) error {
	o := rr.o
	return runOnce(ctx, rr.logs, o.Bin, "room", "set", "--concert", strconv.Itoa(roomConcert),
		"--opens-at", rr.opensAt.UTC().Format(time.RFC3339Nano), "--rate", strconv.Itoa(o.Rate),
		"--max-active", strconv.Itoa(o.MaxActive), "--pass-ttl", o.PassTTL.String())
}

// run: the system, then the rest.
func (rr *roomRun) run(ctx context.Context) error {
	if err := rr.startSystem(ctx); err != nil {
		return err
	}
	return rr.drive(ctx)
}

// drive runs the room against the gateway at rr.addr (process rr.pid): the
// room set, the load, the drain, the records, the audits.
func (rr *roomRun) drive(ctx context.Context) error {
	o := rr.o
	// MaxConnWaitTimeout: a request waits for one of the 1,024 connections
	// rather than failing on the client's side ("no free connections":
	// 6,050 joins and 2,305 reservations of a run when 1,000 admitted
	// buyers, the pollers and the joins all asked at once).
	rr.hc = &fasthttp.HostClient{Addr: rr.addr, Name: "boxoffice-bench-room", MaxConns: 1024, MaxConnWaitTimeout: o.Timeout,
		ReadTimeout: o.Timeout, WriteTimeout: o.Timeout, MaxIdleConnDuration: 30 * time.Second, MaxResponseBodySize: 1 << 20}
	rr.res.Gateway.Pid = rr.pid
	rr.bought, rr.passes = map[int64]bool{}, map[int64]string{}
	rr.reserveC, rr.confirmC, rr.joinC = map[string]int64{}, map[string]int64{}, map[string]int64{}
	rr.buys.Capacity = int64(o.Capacity)
	rr.lastState.Store("")
	rr.streams = make([]*streamView, o.Streams)
	for i := range rr.streams {
		rr.streams[i] = &streamView{}
	}

	// The room is set first with an opening far off, so that every
	// pre-open join lands before it however slow the machine is, and set
	// again, --open-delay ahead, once they all have and the streams are up.
	rr.opensAt = time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := rr.configure(ctx); err != nil {
		return err
	}
	// The gateway learns of the room from Redis: wait until it serves it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := rr.roomState()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the gateway does not serve the room: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	loadCtx, stopLoad := context.WithTimeout(ctx, o.MaxTime)
	defer stopLoad()
	streamCtx, closeStreams := context.WithCancel(loadCtx)
	defer closeStreams()

	if kb, err := rssKB(rr.pid); err == nil {
		rr.res.Gateway.RSSMBBefore = float64(kb) / 1024
	}
	smp := rr.startSampler(loadCtx)
	prog := rr.startProgress()
	var streamWG, pollWG sync.WaitGroup
	pollWG.Go(func() { rr.runPollers(loadCtx) })

	rr.t0 = time.Now()
	rr.say("pre-open: %d joins at %.0f/s", o.PreOpen, o.JoinRate)
	rr.joins(loadCtx, streamCtx, &streamWG, 1, o.PreOpen)
	preStreams := int64(min(o.PreOpen, o.Streams))
	for deadline := time.Now().Add(30 * time.Second); rr.connected.Load() < preStreams && time.Now().Before(deadline) && loadCtx.Err() == nil; {
		time.Sleep(50 * time.Millisecond)
	}
	if rr.connected.Load() < preStreams {
		rr.note("%d of the %d pre-open streams were connected 30 s after the last pre-open join", rr.connected.Load(), preStreams)
	}
	rr.opensAt = time.Now().Add(o.OpenDelay).Truncate(time.Millisecond)
	if err := rr.configure(ctx); err != nil {
		return err
	}
	rr.opened(rr.opensAt)
	rr.say("pre-open joined in %.1fs; the room opens at %s", time.Since(rr.t0).Seconds(), rr.opensAt.Format("15:04:05.000"))
	// The streams are open and idle (a keep-alive every 15 s): what they
	// cost the gateway by themselves, over the wait for the opening.
	idleFrom := time.Now()
	cpuIdle0, _ := cpuTime(rr.pid)
	sleepUntil(loadCtx, rr.opensAt.Add(-100*time.Millisecond))
	cpuIdle1, _ := cpuTime(rr.pid)
	if w := time.Since(idleFrom); w > 0 {
		rr.res.Gateway.CPUCoresIdleStreams, rr.res.Gateway.IdleWindowS = (cpuIdle1-cpuIdle0).Seconds()/w.Seconds(), w.Seconds()
	}
	if kb, err := rssKB(rr.pid); err == nil {
		g := &rr.res.Gateway
		g.RSSMBStreamsOpen, g.StreamsOpen = float64(kb)/1024, rr.connected.Load()
		if g.StreamsOpen > 0 {
			g.KBPerStream = (g.RSSMBStreamsOpen - g.RSSMBBefore) * 1024 / float64(g.StreamsOpen)
		}
	}
	sleepUntil(loadCtx, rr.opensAt)

	saleFrom := time.Now()
	rr.say("open: %d joins at %.0f/s", o.Arrivals-o.PreOpen, o.JoinRate)
	postDone := make(chan struct{})
	go func() {
		defer close(postDone)
		rr.joins(loadCtx, streamCtx, &streamWG, o.PreOpen+1, o.Arrivals)
	}()
	rr.waitEnd(loadCtx, postDone)
	saleEnd := time.Now()
	cpuSale, _ := cpuTime(rr.pid)
	rr.res.Gateway.CPUCoresSale, rr.res.Gateway.SaleWindowS = (cpuSale-cpuIdle1).Seconds()/saleEnd.Sub(saleFrom).Seconds(), saleEnd.Sub(saleFrom).Seconds()
	if loadCtx.Err() != nil && ctx.Err() == nil {
		rr.note("the load stopped at --max-time %s", o.MaxTime)
	}
	stopLoad()
	<-postDone
	closeStreams()
	streamWG.Wait()
	pollWG.Wait()
	rr.buyWG.Wait()
	prog.end()
	smp.end()
	time.Sleep(time.Second) // the gateway notices the closed streams
	if kb, err := rssKB(rr.pid); err == nil {
		rr.res.Gateway.RSSMBAfter = float64(kb) / 1024
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return rr.judge(ctx)
}

// waitEnd returns when the sale is over: sold out and every waiting stream
// told (or --sold-out-wait after it), or everyone joined and admitted and
// every buyer done, or the context ends.
func (rr *roomRun) waitEnd(ctx context.Context, postDone <-chan struct{}) {
	var soldOutSeen time.Time
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := rr.roomState()
		if err != nil {
			continue
		}
		select {
		case <-postDone:
		default:
			continue // the arrivals are not all in yet
		}
		if st.State == "sold_out" {
			if soldOutSeen.IsZero() {
				soldOutSeen = time.Now()
			}
			if rr.heard.Load() >= rr.waiting.Load() || time.Since(soldOutSeen) > rr.o.SoldOutWait {
				return
			}
			continue
		}
		soldOutSeen = time.Time{}
		if st.Joined > 0 && st.Admitted >= st.Joined && rr.admittedSeen.Load() >= st.Joined {
			return
		}
	}
}

// roomInfo is GET /api/queue/{id}.
type roomInfo struct {
	State    string `json:"state"`
	Joined   int64  `json:"joined"`
	Admitted int64  `json:"admitted"`
	Waiting  int64  `json:"waiting"`
}

func (rr *roomRun) roomState() (roomInfo, error) {
	var info roomInfo
	status, body, err := rr.call(fasthttp.MethodGet, "/api/queue/"+strconv.Itoa(roomConcert), nil, "")
	if err != nil {
		return info, err
	}
	if status != http.StatusOK {
		return info, fmt.Errorf("GET /api/queue: %d %s", status, errorCode(body))
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return info, err
	}
	rr.lastState.Store(info.State)
	rr.lastAdmitted.Store(info.Admitted)
	rr.lastJoined.Store(info.Joined)
	return info, nil
}

// call sends one request and returns the status and a copy of the body.
func (rr *roomRun) call(method, path string, body []byte, pass string) (int, []byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + rr.addr + path)
	req.Header.SetMethod(method)
	if pass != "" {
		req.Header.Set("X-Queue-Pass", pass)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := rr.hc.DoTimeout(req, resp, rr.o.Timeout); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

func memberBody(m int64) []byte {
	return []byte(`{"memberId":` + strconv.FormatInt(m, 10) + `}`)
}

// roomStatus is a member's status (join, /me, stream).
type roomStatus struct {
	Status               string   `json:"status"`
	State                string   `json:"state"`
	Position             *int64   `json:"position"`
	Ahead                *int64   `json:"ahead"`
	EstimatedWaitSeconds *float64 `json:"estimatedWaitSeconds"`
	Pass                 string   `json:"pass"`
}

// joinSlots bounds the joins in flight: at 5,000/s it leaves each 50 ms
// before the schedule slips (a join is one Lua call).
const joinSlots = 256

// joins joins members from..to at --join-rate (each due at its instant,
// joinSlots at a time at most): the first --streams of them then open a stream,
// the others are polled.
func (rr *roomRun) joins(ctx, streamCtx context.Context, streamWG *sync.WaitGroup, from, to int) {
	if to < from {
		return
	}
	slots := make(chan struct{}, joinSlots)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	for m := from; m <= to; m++ {
		due := start.Add(time.Duration(float64(m-from) * float64(time.Second) / rr.o.JoinRate))
		if !sleepUntil(ctx, due) {
			return
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			rr.join(streamCtx, streamWG, int64(m))
		})
	}
}

func (rr *roomRun) join(streamCtx context.Context, streamWG *sync.WaitGroup, m int64) {
	status, body, err := rr.call(fasthttp.MethodPost, "/api/queue/"+strconv.Itoa(roomConcert), memberBody(m), "")
	if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
		rr.joinErrs.Add(1)
		code := answerCode(status, body, err)
		rr.mu.Lock()
		if rr.joinC[code] == 0 {
			rr.joinWhy = append(rr.joinWhy, fmt.Sprintf("%s: %s", code, errorMessage(body, err)))
		}
		rr.joinC[code]++
		rr.mu.Unlock()
		return
	}
	rr.joined.Add(1)
	if m <= int64(rr.o.Streams) {
		streamWG.Go(func() { rr.stream(streamCtx, m, rr.streams[m-1]) })
		return
	}
	var st roomStatus
	if json.Unmarshal(body, &st) != nil {
		rr.joinErrs.Add(1)
		return
	}
	rr.onPoll(m, st)
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// stream holds member m's SSE stream open until it is admitted or expired,
// or ctx ends, recording what it heard when. A raw connection and
// net/http's response reader: one goroutine and a small buffer per stream
// (a Transport would add two goroutines and 8 KiB of buffers to each of
// 10,000). The source address is spread over 127.0.0.2–200 so that 10,000
// streams do not run one address out of ports.
//
// A stream that breaks before its end is opened again after 3 s, as
// EventSource does (the gateway's retry:), at most streamRetries times.
func (rr *roomRun) stream(ctx context.Context, m int64, v *streamView) {
	for try := 0; ; try++ {
		if rr.streamOnce(ctx, m, v) || try == streamRetries || !sleepUntil(ctx, time.Now().Add(streamRetry)) {
			return
		}
		rr.streamDrops.Add(1)
	}
}

// EventSource's reconnection: the contract's retry: 3000.
const (
	streamRetry   = 3 * time.Second
	streamRetries = 5
)

// streamOnce is one connection of a stream; true when the stream is over
// (admitted, expired, or ctx ended), false when it broke.
func (rr *roomRun) streamOnce(ctx context.Context, m int64, v *streamView) bool {
	began := time.Now()
	d := net.Dialer{Timeout: rr.o.Timeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+m%199))}}
	conn, err := d.DialContext(ctx, "tcp", rr.addr)
	if err != nil {
		if ctx.Err() == nil {
			rr.streamErrs.Add(1)
		}
		return ctx.Err() != nil
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := "GET /api/queue/" + strconv.Itoa(roomConcert) + "/stream?memberId=" + strconv.FormatInt(m, 10) +
		" HTTP/1.1\r\nHost: " + rr.addr + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		rr.streamErrs.Add(1)
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil)
	if err != nil {
		if ctx.Err() == nil {
			rr.streamErrs.Add(1)
		}
		return ctx.Err() != nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		rr.streamErrs.Add(1)
		return false
	}
	connected := false
	defer func() {
		if connected {
			rr.connected.Add(-1)
			if v.Admitted.IsZero() {
				rr.waiting.Add(-1)
				if !v.SoldOut.IsZero() {
					rr.heard.Add(-1)
				}
			}
		}
	}()
	over := false
	err = readSSE(bufio.NewReaderSize(resp.Body, 1024), func(event string, data []byte) bool {
		if event != "status" {
			return true
		}
		now := time.Now()
		rr.events.Add(1)
		if !connected {
			connected = true
			if v.Connected.IsZero() {
				v.Connected = now
			}
			n := rr.connected.Add(1)
			for p := rr.streamsPeak.Load(); n > p && !rr.streamsPeak.CompareAndSwap(p, n); p = rr.streamsPeak.Load() {
			}
			rr.waiting.Add(1)
			if !v.SoldOut.IsZero() { // heard it before a reconnection
				rr.heard.Add(1)
			}
		}
		switch status := jsonString(data, "status"); status {
		case "admitted":
			v.Admitted = now
			rr.waiting.Add(-1)
			if !v.SoldOut.IsZero() {
				rr.heard.Add(-1)
			}
			rr.admitted(m, jsonString(data, "pass"))
			over = true
			return false
		case "sold_out":
			if v.SoldOut.IsZero() {
				v.SoldOut = now
				rr.heard.Add(1)
			}
		case "expired":
			over = true
			return false
		}
		return true
	})
	if !over && err != nil && ctx.Err() == nil {
		rr.dropped(err, time.Since(began))
	}
	return over || err == nil || ctx.Err() != nil
}

// dropped records why a stream broke and how old it was, for the notes.
func (rr *roomRun) dropped(err error, age time.Duration) {
	why := "error"
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		why = "closed by the gateway"
	case errors.Is(err, syscall.ECONNRESET):
		why = "reset"
	default:
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			why = "timeout"
		}
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.drops == nil {
		rr.drops = map[string]int64{}
	}
	rr.drops[fmt.Sprintf("%s after %ds", why, int(age.Seconds()))]++
}

// readSSE reads a text/event-stream and calls fn with each event's type
// ("message" when none is given) and data (lines joined by \n) until fn
// returns false or the stream ends. Comments (": keepalive") and retry:
// and id: lines are skipped.
func readSSE(r *bufio.Reader, fn func(event string, data []byte) bool) error {
	var event string
	var data []byte
	var has bool
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		switch {
		case len(line) == 0:
			if has {
				if event == "" {
					event = "message"
				}
				if !fn(event, data) {
					return nil
				}
			}
			event, data, has = "", data[:0], false
		case line[0] == ':':
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				event = string(value)
			case "data":
				if has {
					data = append(data, '\n')
				}
				data, has = append(data, value...), true
			}
		}
	}
}

// readLine is one line without its \n or \r\n, however long.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// jsonString finds "key":"value" in a flat JSON object without decoding
// it: a stream event arrives for each of 10,000 streams at every change, and
// decoding each took more CPU than the rest of the client. Falls back to
// decoding when the compact form is not there.
func jsonString(b []byte, key string) string {
	pat := `"` + key + `":"`
	if i := bytes.Index(b, []byte(pat)); i >= 0 {
		rest := b[i+len(pat):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
			return string(rest[:j])
		}
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

// onPoll acts on a poller's status: buy when admitted, stop when there is
// nothing more to wait for, else ask again when it is worth asking.
func (rr *roomRun) onPoll(m int64, st roomStatus) {
	now := time.Now()
	switch st.Status {
	case "admitted":
		rr.admitted(m, st.Pass)
	case "sold_out", "expired":
	case "waiting":
		// Pre-open: nothing moves before the draw; ask again just after
		// the opening, once it is known (see opening).
		rr.mu.Lock()
		defer rr.mu.Unlock()
		if rr.opening.IsZero() {
			rr.preWaiting = append(rr.preWaiting, m)
			return
		}
		rr.polling.push(pollItem{at: later(rr.opening, now).Add(time.Duration(rand.Int64N(int64(time.Second)))), m: m})
	default:
		wait := time.Second
		if st.EstimatedWaitSeconds != nil {
			wait = time.Duration(*st.EstimatedWaitSeconds / 2 * float64(time.Second))
		}
		rr.polling.push(pollItem{at: now.Add(min(max(wait, 250*time.Millisecond), 5*time.Second)), m: m})
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// runPollers polls the due members' /me, at most --poll-rate a second,
// until ctx ends.
func (rr *roomRun) runPollers(ctx context.Context) {
	const workers = 32
	due := make(chan int64)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for m := range due {
				rr.polls.Add(1)
				status, body, err := rr.call(fasthttp.MethodGet, "/api/queue/"+strconv.Itoa(roomConcert)+"/me?memberId="+strconv.FormatInt(m, 10), nil, "")
				var st roomStatus
				if err != nil || status != http.StatusOK || json.Unmarshal(body, &st) != nil {
					rr.pollErrs.Add(1)
					rr.polling.push(pollItem{at: time.Now().Add(time.Second), m: m})
					continue
				}
				rr.onPoll(m, st)
			}
		})
	}
	defer wg.Wait()
	defer close(due)
	// Tokens every 10 ms: a finer ticker would cost more than the polls.
	const every = 10 * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	var tokens float64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tokens = math.Min(tokens+rr.o.PollRate*every.Seconds(), math.Max(1, rr.o.PollRate*every.Seconds()))
		for tokens >= 1 {
			it, ok := rr.polling.popDue(time.Now())
			if !ok {
				break
			}
			select {
			case due <- it.m:
				tokens--
			case <-ctx.Done():
				return
			}
		}
	}
}

// pollItem is a member to poll at a time.
type pollItem struct {
	at time.Time
	m  int64
}

// pollQueue is a min-heap of pollItems by time, safe for concurrent use.
type pollQueue struct {
	mu sync.Mutex
	h  pollHeap
}

func (q *pollQueue) push(it pollItem) {
	q.mu.Lock()
	heap.Push(&q.h, it)
	q.mu.Unlock()
}

func (q *pollQueue) popDue(now time.Time) (pollItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 || q.h[0].at.After(now) {
		return pollItem{}, false
	}
	return heap.Pop(&q.h).(pollItem), true
}

type pollHeap []pollItem

func (h pollHeap) Len() int           { return len(h) }
func (h pollHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h pollHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pollHeap) Push(x any)        { *h = append(*h, x.(pollItem)) }
func (h *pollHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// holdsOnly reports whether member m is one of the --hold share who
// reserve but never pay (a fixed hash, so the same members each run).
func (rr *roomRun) holdsOnly(m int64) bool {
	return float64((uint64(m)*2654435761)%1000) < rr.o.Hold*1000
}

// admitted is a member told they were admitted: reserve once with the pass,
// then confirm (the payment callback; the gateway trusts the body, so it
// needs no signature) unless the member is one who never pays.
func (rr *roomRun) admitted(m int64, pass string) {
	rr.mu.Lock()
	if rr.bought[m] {
		rr.mu.Unlock()
		return
	}
	rr.bought[m] = true
	if len(rr.passes) < 8 && pass != "" {
		rr.passes[m] = pass
	}
	rr.mu.Unlock()
	rr.admittedSeen.Add(1)
	rr.buyWG.Go(func() {
		rr.negOnce.Do(rr.withoutPass)
		body := []byte(`{"concertId":` + strconv.Itoa(roomConcert) + `,"memberId":` + strconv.FormatInt(m, 10) + `}`)
		status, resp, err := rr.call(fasthttp.MethodPost, "/api/reservations/async", body, pass)
		code := answerCode(status, resp, err)
		rr.mu.Lock()
		rr.reserveC[code]++
		if status >= 200 && status < 300 {
			rr.buys.Accepted++
			rr.buys.Members = append(rr.buys.Members, m)
		}
		rr.mu.Unlock()
		if status < 200 || status > 299 || rr.holdsOnly(m) {
			return
		}
		// The payment service's callback, retried as it would be after a
		// 503 or no answer (the gateway forgets a failed one's signature).
		id := reservationID(resp)
		for try := 1; ; try++ {
			status, resp, err = rr.call(fasthttp.MethodPost, "/api/reservations/"+id+"/confirm", []byte(`{"reservationId":"`+id+`"}`), "")
			code = answerCode(status, resp, err)
			rr.mu.Lock()
			rr.confirmC[code]++
			if status == http.StatusOK {
				rr.buys.Confirmed++
			}
			rr.mu.Unlock()
			if (err == nil && status < 500) || try == confirmTries {
				return
			}
			time.Sleep(confirmBackoff)
		}
	})
}

// A confirm answered 5xx or not at all is sent again, this often, this far
// apart: well within the run's --hold-ttl.
const (
	confirmTries   = 4
	confirmBackoff = 500 * time.Millisecond
)

// negatives are the reservations sent without a valid pass, each way.
const negatives = 5

// withoutPass sends, once seats are being sold, a few reservations with no
// pass and a few with another member's, for members at the back of the
// queue: each must be 403 not_admitted and take no seat.
func (rr *roomRun) withoutPass() {
	rr.mu.Lock()
	var other string
	for _, p := range rr.passes {
		other = p
	}
	rr.mu.Unlock()
	for i := range negatives {
		m := int64(rr.o.Arrivals - i) // the last arrivals: never admitted this early
		body := []byte(`{"concertId":` + strconv.Itoa(roomConcert) + `,"memberId":` + strconv.FormatInt(m, 10) + `}`)
		for _, pass := range []string{"", other} {
			status, resp, err := rr.call(fasthttp.MethodPost, "/api/reservations/async", body, pass)
			refused := status == http.StatusForbidden && errorCode(resp) == "not_admitted"
			rr.mu.Lock()
			if pass == "" {
				rr.buys.NoPass++
				if refused {
					rr.buys.NoPassRefused++
				}
			} else {
				rr.buys.WrongPass++
				if refused {
					rr.buys.WrongPassRefused++
				}
			}
			if err == nil && status >= 200 && status < 300 {
				rr.buys.BadAccepted++
			}
			rr.mu.Unlock()
		}
	}
}

// answerCode is "202", "409/sold_out", "conn/timeout" and the like.
func answerCode(status int, body []byte, err error) string {
	if err != nil {
		return "conn/" + connErrorKind(err)
	}
	if status >= 200 && status < 300 {
		return strconv.Itoa(status)
	}
	return strconv.Itoa(status) + "/" + errorCode(body)
}

// roomSampler records a RoomSecond each second.
type roomSampler struct {
	stop, done chan struct{}
}

func (rr *roomRun) startSampler(ctx context.Context) *roomSampler {
	s := &roomSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		pid := rr.pid
		prevCPU, _ := cpuTime(pid)
		prevAt := time.Now()
		for {
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			info, err := rr.roomState()
			if err != nil {
				info.State = "?"
			}
			sec := RoomSecond{T: len(rr.res.Series) + 1, Joined: info.Joined, Admitted: info.Admitted, Waiting: info.Waiting, State: info.State, Streams: rr.connected.Load()}
			if kb, err := rssKB(pid); err == nil {
				sec.RSSMB = float64(kb) / 1024
				rr.res.Gateway.RSSMBPeak = math.Max(rr.res.Gateway.RSSMBPeak, sec.RSSMB)
			}
			now := time.Now()
			if c, err := cpuTime(pid); err == nil {
				sec.CPUCores = (c - prevCPU).Seconds() / now.Sub(prevAt).Seconds()
				prevCPU = c
			}
			prevAt = now
			rr.res.Series = append(rr.res.Series, sec)
		}
	}()
	return s
}

func (s *roomSampler) end() {
	close(s.stop)
	<-s.done
}

// startProgress shows the run's counters on stderr (nil with --quiet).
func (rr *roomRun) startProgress() *progress {
	if rr.o.Quiet {
		return nil
	}
	w := rr.stderr
	tty := isTerminal(w)
	every := progressPlain
	if tty {
		every = progressTTY
	}
	p := &progress{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		show := func(final bool) {
			state, _ := rr.lastState.Load().(string)
			rr.mu.Lock()
			acc := rr.buys.Accepted
			rr.mu.Unlock()
			line := fmt.Sprintf("room %6.1fs  joined %-7d admitted %-6d %-9s streams %-6d heard sold out %-6d polls %-7d reserved %-5d err %d",
				time.Since(rr.t0).Seconds(), rr.joined.Load(), rr.lastAdmitted.Load(), orDash(state), rr.connected.Load(), rr.heard.Load(), rr.polls.Load(), acc,
				rr.joinErrs.Load()+rr.pollErrs.Load()+rr.streamErrs.Load())
			switch {
			case tty && final:
				fmt.Fprintf(w, "\r%s\x1b[K\n", line)
			case tty:
				fmt.Fprintf(w, "\r%s\x1b[K", line)
			default:
				fmt.Fprintln(w, line)
			}
		}
		for {
			select {
			case <-p.stop:
				show(true)
				return
			case <-t.C:
				show(false)
			}
		}
	}()
	return p
}

// judge waits for the writer, reads the room's records and runs the audits.
func (rr *roomRun) judge(ctx context.Context) error {
	r := rr.res
	r.Joined, r.JoinErrors, r.Polls, r.PollErrors = rr.joined.Load(), rr.joinErrs.Load(), rr.polls.Load(), rr.pollErrs.Load()
	r.StreamEvents, r.StreamErrors, r.StreamsPeak = rr.events.Load(), rr.streamErrs.Load(), rr.streamsPeak.Load()
	r.StreamDrops = rr.streamDrops.Load()
	r.Buys, r.ReserveCodes, r.ConfirmCodes, r.JoinErrorCodes = rr.buys, rr.reserveC, rr.confirmC, rr.joinC
	counts, drained := rr.drain(ctx)
	if !drained {
		rr.note("the writer had not caught up after --drain-timeout %s", rr.o.DrainTimeout)
	}
	// Every confirmed reservation must be a row; an accepted one never
	// confirmed (--hold, or a confirm that failed) may have expired.
	a := audit(counts, rr.buys.Confirmed)
	r.Audit = &a
	rec, err := rr.env.RoomRecords(ctx, roomConcert)
	if err != nil {
		return fmt.Errorf("the room's records: %w", err)
	}
	if d := flagDuration(rr.o.GatewayFlags, "queue-tick"); d > 0 {
		rec.Tick = d // the environment knows the default only
	}
	r.Drawn, r.Admitted, r.PassesIssued = rec.Drawn, rec.Admitted, len(rec.Issued)
	r.Steps, r.AdmittedPerS, r.MeanStepMs = admissionPace(rec.Cohorts, int64(rr.o.Capacity))
	// The join rate over the post-open joins (the pre-open ones, when
	// there are none): the wait for the opening is not the joins' time.
	var first, last time.Time
	var n int
	for _, t := range rec.Tickets {
		if !t.PreOpen && t.Member <= int64(rr.o.PreOpen) {
			r.PreOpenLate++
		}
		if t.Position > rec.Drawn && t.Position <= rec.Admitted {
			r.PostOpenAdmit++
		}
		if t.PreOpen != (rr.o.Arrivals == rr.o.PreOpen) {
			continue
		}
		n++
		if first.IsZero() || t.JoinedAt.Before(first) {
			first = t.JoinedAt
		}
		last = later(last, t.JoinedAt)
	}
	if el := last.Sub(first).Seconds(); el > 0 {
		r.JoinPerS = float64(n) / el
	}
	if !rec.SoldOutAt.IsZero() {
		v := ms(rec.SoldOutAt.Sub(rec.OpensAt))
		r.SoldOutAfterOpenMs = &v
	}
	views := make([]streamView, len(rr.streams))
	for i, v := range rr.streams {
		views[i] = *v
	}
	r.SoldOut = soldOutReach(rec.SoldOutAt, views)
	r.Checks = append(auditRoom(rec), auditReservations(rr.buys, counts, rec)...)
	r.Checks = append(r.Checks, auditSoldOut(rec, r.SoldOut))
	if !a.OK {
		r.Checks = append(r.Checks, RoomCheck{Name: "stock and rows", Detail: strings.Join(a.Problems, "; ")})
	} else {
		r.Checks = append(r.Checks, RoomCheck{Name: "stock and rows", OK: true, Detail: fmt.Sprintf("%d rows, %d taken in Redis, no leak, no duplicate", counts.Rows, counts.RedisTaken)})
	}
	for _, why := range rr.joinWhy {
		rr.note("a join failed: %s", why)
	}
	if len(rr.drops) > 0 {
		rr.note("streams that broke: %v", rr.drops)
	}
	r.OK = true
	for _, c := range r.Checks {
		r.OK = r.OK && c.OK
	}
	if r.PostOpenAdmit == 0 && rr.o.Arrivals > rr.o.PreOpen {
		rr.note("no post-open arrival was admitted (the seats went to the pre-open draw): their FIFO audit checks positions, not admissions")
	}
	return nil
}

// drain waits until nothing is in flight (the writer has every accepted
// reservation) and returns the last counts.
func (rr *roomRun) drain(ctx context.Context) (Counts, bool) {
	deadline := time.Now().Add(rr.o.DrainTimeout)
	for {
		c, err := rr.env.Audit(ctx, 1)
		if err == nil && c.InFlight == 0 {
			return c, true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return c, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// flagDuration is the value of --name (or -name, = or a space) in a
// space-separated list of flags; 0 when absent or not a duration.
func flagDuration(flags, name string) time.Duration {
	f := strings.Fields(flags)
	for i, a := range f {
		a = strings.TrimLeft(a, "-")
		var v string
		if k, val, ok := strings.Cut(a, "="); ok && k == name {
			v = val
		} else if a == name && i+1 < len(f) {
			v = f[i+1]
		} else {
			continue
		}
		d, _ := time.ParseDuration(v)
		return d
	}
	return 0
}

// admissionPace is the serving counter's pace on its run-up: from its
// first step to the first that reached upTo positions (the seats; its last
// step when it never did): the steps, positions per second and the mean
// gap between steps. Past the seats the counter waits for passes to expire
// or seats to come back, which says nothing of its pace.
func admissionPace(cohorts []RoomCohort, upTo int64) (steps int, perS, gapMs float64) {
	cs := slices.SortedFunc(slices.Values(cohorts), func(a, b RoomCohort) int { return a.At.Compare(b.At) })
	if i := slices.IndexFunc(cs, func(c RoomCohort) bool { return c.UpTo >= upTo }); i >= 0 {
		cs = cs[:i+1]
	}
	if len(cs) < 2 {
		return len(cs), 0, 0
	}
	first, last := cs[0], cs[len(cs)-1]
	el := last.At.Sub(first.At)
	if el <= 0 {
		return len(cs), 0, 0
	}
	return len(cs), float64(last.UpTo-first.UpTo) / el.Seconds(), ms(el) / float64(len(cs)-1)
}

// errorMessage is an error body's "message" (bounded), or the transport error.
func errorMessage(body []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return "(no message)"
	}
	return e.Message[:min(len(e.Message), 200)]
}
