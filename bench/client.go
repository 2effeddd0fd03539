package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice/auth"
)

// client sends requests to the targets of a run: one gateway, or several
// (gateways without a load balancer in front), taken in turn.
type client struct {
	hosts   []host
	next    atomic.Uint64 // round-robin over hosts
	timeout time.Duration
	// tokens[m] is member m's Authorization header value, minted before
	// the load (mintTokens); nil sends no token (a gateway started with
	// --trust-body-member).
	tokens []string
}

// host is one target.
type host struct {
	hc   *fasthttp.HostClient
	base string // scheme://host[:port], no trailing slash
}

// newClient returns a client for targets (already validated) that keeps up to
// maxConns connections open to each: one per request that may be outstanding,
// so a request never waits for a connection inside the client, where its wait
// would be invisible.
func newClient(targets []string, maxConns int, timeout time.Duration) (*client, error) {
	c := &client{timeout: timeout}
	for _, target := range targets {
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		addr := u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
		c.hosts = append(c.hosts, host{
			hc: &fasthttp.HostClient{
				Addr:                addr,
				Name:                "boxoffice-bench",
				IsTLS:               u.Scheme == "https",
				MaxConns:            maxConns + 4, // + probes and health checks
				ReadTimeout:         timeout,
				WriteTimeout:        timeout,
				MaxIdleConnDuration: 30 * time.Second,
				// Answers are a few hundred bytes; a huge one is a wrong target.
				MaxResponseBodySize: 1 << 20,
			},
			base: u.Scheme + "://" + u.Host,
		})
	}
	if len(c.hosts) == 0 {
		return nil, errors.New("no target")
	}
	return c, nil
}

// close closes the client's connections once a run is over: perf runs one
// scenario after another in one process, and each left up to --max-inflight
// open sockets behind until the gateway's idle timeout, which ran the
// harness out of file descriptors (every request of its fifth load failed).
func (c *client) close() {
	for i := range c.hosts {
		c.hosts[i].hc.CloseIdleConnections()
	}
}

// warm opens up to n connections to each target before a measured load (n
// health checks at once), so that neither side spends the first seconds of
// the load dialling and accepting: every strategy starts from the same open
// connections.
func (c *client) warm(n int) {
	var wg sync.WaitGroup
	for i := range c.hosts {
		for range n {
			wg.Go(func() { c.rawTo(&c.hosts[i], request{method: fasthttp.MethodGet, path: "/healthz"}, false) })
		}
	}
	wg.Wait()
}

// pick is the target of the next request of a load.
func (c *client) pick() *host {
	if len(c.hosts) == 1 {
		return &c.hosts[0]
	}
	return &c.hosts[(c.next.Add(1)-1)%uint64(len(c.hosts))]
}

// request is one HTTP call of a load.
type request struct {
	method  string
	path    string
	body    []byte
	concert int // 0 when the request is not about a concert
	member  int // whose token it carries; 0: none
}

func reservation(strategy string, concert, member int) request {
	b := make([]byte, 0, 48)
	b = append(b, `{"concertId":`...)
	b = strconv.AppendInt(b, int64(concert), 10)
	b = append(b, `,"memberId":`...)
	b = strconv.AppendInt(b, int64(member), 10)
	b = append(b, '}')
	return request{method: fasthttp.MethodPost, path: "/api/reservations/" + strategy, body: b, concert: concert, member: member}
}

func memberRead(member int) request {
	return request{method: fasthttp.MethodGet, path: "/api/members/" + strconv.Itoa(member), member: member}
}

// do sends r to the next target and classifies the answer. With wantID it
// also returns the reservation id of a 2xx answer (the body's
// reservationId), which costs a copy of the body; without it only error
// bodies are read, as before.
func (c *client) do(r request, wantID bool) (kind outcome, code, id string) {
	status, body, err := c.rawTo(c.pick(), r, wantID)
	kind, code = classify(status, body, err)
	if wantID && kind == accepted {
		id = reservationID(body)
	}
	return kind, code, id
}

// raw sends r to the first target and returns the status and a copy of the
// error body.
func (c *client) raw(r request) (int, []byte, error) { return c.rawTo(&c.hosts[0], r, false) }

// rawTo sends r to h and returns the status and a copy of the body: of an
// error always, of a success only with okBody.
func (c *client) rawTo(h *host, r request, okBody bool) (int, []byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(h.base + r.path)
	req.Header.SetMethod(r.method)
	if r.member > 0 && r.member < len(c.tokens) {
		req.Header.Set("Authorization", c.tokens[r.member])
	}
	if r.body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(r.body)
	}
	if err := h.hc.DoTimeout(req, resp, c.timeout); err != nil {
		return 0, nil, err
	}
	var body []byte
	if s := resp.StatusCode(); okBody || s < 200 || s > 299 {
		body = append(body, resp.Body()...)
	}
	return resp.StatusCode(), body, nil
}

// reservationID is the "reservationId" of a success body, or "" when it has
// none (a byte search: the gateway writes the field itself, first).
func reservationID(body []byte) string {
	const field = `"reservationId":"`
	i := bytes.Index(body, []byte(field))
	if i < 0 {
		return ""
	}
	rest := body[i+len(field):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 64 {
		return ""
	}
	return string(rest[:j])
}

// outcome is how a response counts.
type outcome uint8

const (
	// accepted is any 2xx.
	accepted outcome = iota
	// rejected is 409: sold out or already reserved, a normal business answer.
	rejected
	// failed is everything else: other statuses and transport errors.
	failed
)

// maxCodeLen bounds an error code taken from a response body, so that a
// misbehaving server cannot fill the report with long strings.
const maxCodeLen = 40

// classify maps an answer to its outcome and code. A 409's code is the body's
// "error" field ("sold_out"); an error's code is "status/error"
// ("503/unavailable") or "conn/kind" ("conn/timeout") for transport errors.
func classify(status int, body []byte, err error) (outcome, string) {
	if err != nil {
		return failed, "conn/" + connErrorKind(err)
	}
	switch {
	case status >= 200 && status <= 299:
		return accepted, ""
	case status == fasthttp.StatusConflict:
		return rejected, errorCode(body)
	default:
		return failed, strconv.Itoa(status) + "/" + errorCode(body)
	}
}

// errorCode is the sanitised "error" field of a JSON error body, or "unknown".
func errorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return "unknown"
	}
	out := make([]byte, 0, len(e.Error))
	for i := 0; i < len(e.Error) && len(out) < maxCodeLen; i++ {
		switch ch := e.Error[i]; {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '_', ch == '-', ch == '.':
			out = append(out, ch)
		case ch >= 'A' && ch <= 'Z':
			out = append(out, ch+'a'-'A')
		default:
			out = append(out, '_')
		}
	}
	return string(out)
}

// connErrorKind names a transport error in a word.
func connErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_conns"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "body_too_large"
	default:
		return "error"
	}
}

// check is a one-off call to the first target, outside the measured load
// (probes).
func (c *client) check(r request) (status int, code string, err error) {
	return c.checkOn(&c.hosts[0], r)
}

// checkOn is a one-off call to h.
func (c *client) checkOn(h *host, r request) (status int, code string, err error) {
	status, body, err := c.rawTo(h, r, false)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s%s: %w", r.method, h.base, r.path, err)
	}
	if status < 200 || status > 299 {
		code = errorCode(body)
	}
	return status, code, nil
}

// maxTokens bounds the members a run mints tokens for (about 200 bytes
// each): the ramp's 1,000,000 fit in some 200 MB.
const maxTokens = 2_000_000

// mintTokens returns each member's Authorization header value ("Bearer
// <HS256 token>"), indexed by member id 1..members, good for the longest
// run. Minted once, before the load, so that signing is not measured; the
// gateway's verifying is.
func mintTokens(secret []byte, members int, now time.Time) ([]string, error) {
	if members > maxTokens {
		return nil, fmt.Errorf("--auth-secret: tokens for at most %d members, not %d", maxTokens, members)
	}
	out := make([]string, members+1)
	for m := 1; m <= members; m++ {
		tok, err := auth.Mint(secret, int64(m), maxRunTime+time.Hour, now)
		if err != nil {
			return nil, err
		}
		out[m] = "Bearer " + tok
	}
	return out, nil
}
