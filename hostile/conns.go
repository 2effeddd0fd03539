package hostile

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// held is one connection of a connection attack.
type held struct {
	conn     net.Conn
	opened   time.Time
	closedAt atomic.Int64 // unix ns when the server closed it; 0 while open
	// answer is the response the server sent on it, if any ("" none).
	answer atomic.Value // string
	sent   atomic.Int32 // trickled bytes so far
}

func (c *held) closed() bool { return c.closedAt.Load() != 0 }

// connAttack opens n connections from 127.0.0.10 … 127.0.0.254 and keeps
// them as the server leaves them: each first writes prime, then, with
// trickle, one byte of trickle at once and one more every trickleEvery. A reader per connection
// notes the responses and when the server closed it. After the last one is
// ready, it waits timeout + 2 s and counts those still open; it reports
// the gateway's RSS before, at its peak and after.
func (h *harness) connAttack(ctx context.Context, res *Phase, n int, prime, trickle []byte, timeout time.Duration) error {
	const trickleEvery = 2 * time.Second
	hosts := connLastHost - connFirst + 1
	if per := (n + hosts - 1) / hosts; per > h.o.Edge.MaxConnsPerAddress {
		res.Notes = append(res.Notes, fmt.Sprintf("%d connections per address, above --max-conns-per-address %d: some are refused", per, h.o.Edge.MaxConnsPerAddress))
	}
	rss := &RSS{}
	res.RSS = rss
	var err error
	if rss.BeforeMiB, err = rssMiB(h.gw.Pid()); err != nil {
		return err
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v, err := rssMiB(h.gw.Pid()); err == nil && v > rss.PeakMiB {
				rss.PeakMiB = v
			}
			if sleep(sampleCtx, 250*time.Millisecond) != nil {
				return
			}
		}
	}()

	var (
		mu       sync.Mutex
		conns    []*held
		dialErrs = map[string]int64{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 256)
	)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			conn, err := dialer(connFirst+i%hosts).DialContext(dctx, "tcp", h.target)
			if err != nil {
				mu.Lock()
				dialErrs["conn/"+connError(err)]++
				mu.Unlock()
				return
			}
			c := &held{conn: conn, opened: time.Now()}
			first := prime
			if trickle != nil {
				first = append(append([]byte(nil), prime...), trickle[0])
				c.sent.Store(1)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(first); err != nil {
				c.closedAt.Store(time.Now().UnixNano())
			}
			go c.read()
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	ready := time.Now()
	res.Sent = int64(len(conns))
	for _, v := range dialErrs {
		res.Sent += v
	}
	// One goroutine trickles for all: a byte per connection per tick.
	trickled := make(chan struct{})
	trickleCtx, stopTrickle := context.WithCancel(ctx)
	go func() {
		defer close(trickled)
		if trickle == nil {
			return
		}
		for sleep(trickleCtx, trickleEvery) == nil {
			for _, c := range conns {
				k := int(c.sent.Load())
				if c.closed() || k >= len(trickle) {
					continue
				}
				_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.conn.Write(trickle[k : k+1]); err == nil {
					c.sent.Add(1)
				}
			}
		}
	}()
	checkAt := ready.Add(timeout + 2*time.Second)
	waitErr := sleep(ctx, time.Until(checkAt))
	stopTrickle()
	<-trickled
	var open int64
	var lifetimes []time.Duration
	for _, c := range conns {
		a, _ := c.answer.Load().(string)
		key := a
		switch {
		case !c.closed():
			open++
			key = strings.TrimPrefix(key+" then open", " then ")
		default:
			lifetimes = append(lifetimes, time.Duration(c.closedAt.Load()-c.opened.UnixNano()))
			key = strings.TrimPrefix(key+" then closed", " then ")
		}
		res.Statuses[key]++
	}
	for k, v := range dialErrs {
		res.Statuses[k] += v
	}
	res.OpenAfter = &open
	if open > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d of %d connections still open %s after the last was opened (timeout %s + 2 s)", open, len(conns), timeout+2*time.Second, timeout))
	}
	if len(lifetimes) > 0 {
		slices.Sort(lifetimes)
		res.Notes = append(res.Notes, fmt.Sprintf("closed by the server after %.1f s (median), %.1f s (max)",
			lifetimes[len(lifetimes)/2].Seconds(), lifetimes[len(lifetimes)-1].Seconds()))
	}
	for _, c := range conns {
		c.conn.Close()
	}
	_ = sleep(ctx, time.Second)
	stopSampling()
	<-sampled
	rss.AfterMiB, _ = rssMiB(h.gw.Pid())
	res.Notes = append(res.Notes, fmt.Sprintf("gateway RSS %.0f → %.0f (peak) → %.0f MiB", rss.BeforeMiB, rss.PeakMiB, rss.AfterMiB))
	return waitErr
}

// read notes each response the server sends and the moment it closes.
func (c *held) read() {
	rd := bufio.NewReader(c.conn)
	for {
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			if c.closedAt.Load() == 0 {
				c.closedAt.Store(time.Now().UnixNano())
			}
			return
		}
		a := readAnswer(resp)
		prev, _ := c.answer.Load().(string)
		if prev == "" {
			c.answer.Store(a.key())
		}
	}
}

// slowHeader is a request whose headers never end: one byte of it every
// two seconds is a slowloris.
func slowHeader() []byte {
	return []byte("POST /api/reservations/async HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 400))
}

// slowBody is the headers of a reservation whose body of n bytes is yet
// to come, and that body: one byte of it every two seconds is a
// slowloris on the body.
func slowBody(token string, n int) (headers, body []byte) {
	b := `{"concertId":1` + strings.Repeat(" ", n-len(`{"concertId":1}`)) + `}`
	return rawRequest("POST", "/api/reservations/async", []string{"Content-Type: application/json", "Authorization: Bearer " + token, "Content-Length: " + strconv.Itoa(n)}, nil), []byte(b)
}

// idleRequest is one complete request; the connection then stays idle.
var idleRequest = []byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
