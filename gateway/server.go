// Package gateway is the HTTP front of boxoffice: a fasthttp server that admits
// reservations through one of several strategies (the async product path and
// the lock-based designs it is compared with) and serves reads, health and
// metrics.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/api"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/room"
)

// Strategy is one way of taking a seat.
type Strategy interface {
	Reserve(ctx context.Context, req ReserveRequest) (Reservation, error)
}

// Route is a strategy served at POST /api/reservations/{Name}.
type Route struct {
	Name     string
	Strategy Strategy
	// Success is the status of an admitted request: 202 when the row is
	// written later (async), 201 when it is written before answering.
	Success int
	// endpoint is its entry of Endpoints, built once (NewServer) rather
	// than per request.
	endpoint Endpoint
}

// Server is the gateway's HTTP server.
type Server struct {
	routes    map[string]Route
	reads     *Reads
	lifecycle *Lifecycle
	// rankings serves GET /api/rankings; nil answers 404.
	rankings *Rankings
	// rooms are the waiting rooms (nil: none); a concert with one sells
	// only to members with its pass.
	rooms *room.Service
	// streams is cancelled first at Shutdown: the rooms' event streams
	// would otherwise hold their connections open to its deadline.
	streams     context.Context
	stopStreams context.CancelFunc
	// members verifies the bearer token of member requests; nil trusts
	// the body's memberId (--trust-body-member) and checks no owner.
	members *auth.Verifier
	// payments verifies confirm callbacks; nil leaves confirm to anyone
	// when members is nil too, and to nobody otherwise.
	payments *auth.Payments
	ready    func(ctx context.Context) map[string]error
	metrics  *Metrics
	log      *slog.Logger
	base     context.Context
	cancel   context.CancelFunc
	// shards are children of base that request contexts hang from:
	// WithTimeout registers each child in its parent's map under the
	// parent's mutex, and with 2,000 requests in flight one shared parent's
	// lock showed in the CPU profile.
	shards       [16]context.Context
	cancelShards [16]context.CancelFunc
	next         atomic.Uint32
	srv          *fasthttp.Server
	// readiness is the last result of the background checks (WatchReady)
	// that the public /readyz answers from: a probe costs no Redis or
	// Kafka call and shows no internal error text.
	readiness atomic.Pointer[readiness]
	// requestTimeout bounds one request's work end to end.
	requestTimeout time.Duration
	limit          *limiter
	// admitting counts reservations being admitted, for maxAdmissions.
	admitting     atomic.Int64
	maxAdmissions int64
	// noop serves NoopPath (noop.go).
	noop bool
	// maxSeats bounds the numbered seats of one request.
	maxSeats int
}

// Options configure a Server.
type Options struct {
	Routes         []Route
	Reads          *Reads
	Lifecycle      *Lifecycle
	Rankings       *Rankings
	Rooms          *room.Service
	Members        *auth.Verifier
	Payments       *auth.Payments
	Ready          func(ctx context.Context) map[string]error
	Metrics        *Metrics
	Log            *slog.Logger
	MaxBody        int
	RequestTimeout time.Duration
	Limits         Limits
	Edge           Edge
	// Noop serves POST /api/noop (--noop-endpoint, benchmarks only).
	Noop bool
	// MaxSeatsPerOrder bounds the numbered seats of one request
	// (--max-seats-per-order; 0: DefaultMaxSeatsPerOrder).
	MaxSeatsPerOrder int
}

// NewServer builds the server; Serve starts it.
func NewServer(o Options) *Server {
	base, cancel := context.WithCancel(context.Background())
	s := &Server{routes: map[string]Route{}, reads: o.Reads, lifecycle: o.Lifecycle, rankings: o.Rankings, rooms: o.Rooms, members: o.Members, payments: o.Payments, ready: o.Ready, metrics: o.Metrics, log: o.Log,
		base: base, cancel: cancel, requestTimeout: o.RequestTimeout, limit: newLimiter(o.Limits), maxAdmissions: int64(o.Edge.MaxAdmissions), noop: o.Noop}
	for _, r := range o.Routes {
		r.endpoint = reserveEndpoint(r.Name)
		s.routes[r.Name] = r
	}
	s.maxSeats = o.MaxSeatsPerOrder
	if s.maxSeats <= 0 {
		s.maxSeats = DefaultMaxSeatsPerOrder
	}
	s.streams, s.stopStreams = context.WithCancel(base)
	for i := range s.shards {
		s.shards[i], s.cancelShards[i] = context.WithCancel(base)
	}
	if s.requestTimeout == 0 {
		s.requestTimeout = 10 * time.Second
	}
	edge := o.Edge
	if edge.HeaderTimeout <= 0 {
		edge.HeaderTimeout = 10 * time.Second
	}
	if edge.IdleTimeout <= 0 {
		edge.IdleTimeout = 60 * time.Second
	}
	go s.limit.sweepEvery(10*time.Second, base.Done())
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		Name:               "boxoffice",
		MaxRequestBodySize: o.MaxBody,
		Concurrency:        edge.MaxConns,
		MaxConnsPerIP:      edge.MaxConnsPerAddress,
		ReadTimeout:        edge.HeaderTimeout,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        edge.IdleTimeout,
		ReduceMemoryUsage:  edge.ReduceIdleMemory,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			var small *fasthttp.ErrSmallBuffer
			var netErr net.Error
			switch {
			case errors.Is(err, fasthttp.ErrBodyTooLarge):
				writeError(ctx, fmt.Errorf("%w: limit is %d bytes", errBodyTooLarge, o.MaxBody))
			case errors.As(err, &small):
				writeError(ctx, fmt.Errorf("%w: %v", errHeaderTooLarge, err))
			case errors.As(err, &netErr) && netErr.Timeout():
				writeError(ctx, fmt.Errorf("%w: the request took over %s to arrive", errReadTimeout, edge.HeaderTimeout))
			default:
				writeError(ctx, fmt.Errorf("%w: %v", boxoffice.ErrInvalid, err))
			}
		},
		// fasthttp's parse errors quote the request's first bytes, which
		// hold its Authorization header: the hostile suite found valid
		// member tokens in the log and in 400 bodies without this.
		SecureErrorLogMessage: true,
		Logger:                &slogPrintf{l: o.Log},
	}
	return s
}

// admit counts a reservation in for its admission, or refuses it at once
// when MaxAdmissions are under way: queueing behind them (the coalescer's
// batch, the producer's input) would only make every answer late. done
// counts it out.
func (s *Server) admit() (done func(), err error) {
	if s.maxAdmissions <= 0 {
		return func() {}, nil
	}
	if s.admitting.Add(1) > s.maxAdmissions {
		s.admitting.Add(-1)
		return nil, s.overloaded()
	}
	return func() { s.admitting.Add(-1) }, nil
}

func (s *Server) overloaded() error {
	return fmt.Errorf("%w: %d reservations are being admitted; retry shortly", errOverloaded, s.maxAdmissions)
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(enduringListener{Listener: ln, log: &slogPrintf{l: s.log}})
}

// enduringListener waits out a full file table (EMFILE, ENFILE) instead of
// failing: fasthttp stops serving on any accept error that is not a
// timeout, and a flood of connections past the open-file limit (20,000
// here; bench perf's loads left that many behind) ended the gateway.
type enduringListener struct {
	net.Listener
	log *slogPrintf
}

func (l enduringListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			return c, err
		}
		l.log.Printf("accept: %v; waiting %s for connections to close (see --max-conns and ulimit -n)", err, delay)
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
}

// Shutdown stops accepting, waits for open requests, then cancels leftovers.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopStreams()
	err := s.srv.ShutdownWithContext(ctx)
	s.cancel()
	for _, c := range s.cancelShards {
		c()
	}
	return err
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	route, strategy := s.dispatch(ctx)
	code := strconv.Itoa(ctx.Response.StatusCode())
	errCode := ""
	if ctx.Response.StatusCode() >= 400 {
		errCode, _ = ctx.UserValue(errorCodeKey).(string)
	}
	s.metrics.requests.WithLabelValues(route, strategy, code, errCode).Inc()
	s.metrics.duration.WithLabelValues(route, strategy).Observe(time.Since(start).Seconds())
}

// Endpoint is one route of the public listener: a method on a path, the
// path written as api/openapi.yaml writes it ({id} stands for a segment).
type Endpoint struct {
	Method string
	Path   string
	// Label is the route label of the metrics.
	Label string
}

// The public listener's routes. dispatch answers each through its entry
// (the method it allows, its label), and a test holds Endpoints and
// api/openapi.yaml to the same list and probes each on a server.
var (
	healthzEndpoint     = Endpoint{"GET", "/healthz", "healthz"}
	readyzEndpoint      = Endpoint{"GET", "/readyz", "readyz"}
	openAPIEndpoint     = Endpoint{"GET", "/api/openapi.yaml", "openapi"}
	noopEndpoint        = Endpoint{"POST", NoopPath, "noop"}
	reservationEndpoint = Endpoint{"GET", "/api/reservations/{id}", "reservation"}
	confirmEndpoint     = Endpoint{"POST", "/api/reservations/{id}/confirm", "confirm"}
	cancelEndpoint      = Endpoint{"POST", "/api/reservations/{id}/cancel", "cancel"}
	concertEndpoint     = Endpoint{"GET", "/api/concerts/{id}", "concert"}
	seatsEndpoint       = Endpoint{"GET", "/api/concerts/{id}/seats", "seats"}
	memberEndpoint      = Endpoint{"GET", "/api/members/{id}", "member"}
	rankingsEndpoint    = Endpoint{"GET", "/api/rankings", "rankings"}
)

// Strategies are the names a strategy can be served under, at
// POST /api/reservations/{name} (Route.Name); which are served is the
// Options' Routes.
var Strategies = []string{"async", "pessimistic", "distlock", "unsafe"}

func reserveEndpoint(name string) Endpoint {
	return Endpoint{"POST", "/api/reservations/" + name, "reserve"}
}

// Endpoints returns every route the public listener can serve; which it
// does serve depends on the Options (Routes, Lifecycle, Noop).
func Endpoints() []Endpoint {
	out := []Endpoint{healthzEndpoint, readyzEndpoint, openAPIEndpoint, noopEndpoint}
	for _, name := range Strategies {
		out = append(out, reserveEndpoint(name))
	}
	return append(out, reservationEndpoint, confirmEndpoint, cancelEndpoint, concertEndpoint, seatsEndpoint, memberEndpoint, rankingsEndpoint,
		queueEndpoint, joinEndpoint, queueMeEndpoint, queueStreamEndpoint, pageEndpoint, assetEndpoint)
}

// dispatch routes a request and returns the route and strategy labels.
func (s *Server) dispatch(ctx *fasthttp.RequestCtx) (route, strategy string) {
	path := string(ctx.Path())
	switch {
	case path == healthzEndpoint.Path:
		if allow(ctx, healthzEndpoint) {
			writeJSON(ctx, http.StatusOK, map[string]string{"status": "ok"})
		}
		return healthzEndpoint.Label, ""
	case path == readyzEndpoint.Path:
		if allow(ctx, readyzEndpoint) {
			s.readyz(ctx)
		}
		return readyzEndpoint.Label, ""
	case path == openAPIEndpoint.Path:
		if allow(ctx, openAPIEndpoint) {
			s.openAPI(ctx)
		}
		return openAPIEndpoint.Label, ""
	case path == noopEndpoint.Path && s.noop:
		if allow(ctx, noopEndpoint) {
			s.noopAnswer(ctx)
		}
		return noopEndpoint.Label, ""
	case strings.HasPrefix(path, "/api/reservations/"):
		rest := strings.TrimPrefix(path, "/api/reservations/")
		if r, ok := s.routes[rest]; ok {
			if allow(ctx, r.endpoint) {
				s.reserve(ctx, r)
			}
			return "reserve", r.Name
		}
		if slices.Contains(Strategies, rest) {
			writeError(ctx, fmt.Errorf("strategy %q is not enabled on this gateway: %w", rest, boxoffice.ErrNotFound))
			return "reserve", rest
		}
		id, action, sub := strings.Cut(rest, "/")
		if !sub {
			if allow(ctx, reservationEndpoint) {
				s.getReservation(ctx, id)
			}
			return reservationEndpoint.Label, ""
		}
		if action == "confirm" && s.lifecycle != nil {
			if allow(ctx, confirmEndpoint) {
				s.transition(ctx, id, action)
			}
			return confirmEndpoint.Label, ""
		}
		if action == "cancel" && s.lifecycle != nil {
			if allow(ctx, cancelEndpoint) {
				s.transition(ctx, id, action)
			}
			return cancelEndpoint.Label, ""
		}
		writeError(ctx, fmt.Errorf("no such path: %w", boxoffice.ErrNotFound))
		return reservationEndpoint.Label, ""
	case strings.HasPrefix(path, "/api/concerts/"):
		rest := strings.TrimPrefix(path, "/api/concerts/")
		if id, ok := strings.CutSuffix(rest, "/seats"); ok {
			if allow(ctx, seatsEndpoint) {
				s.getSeats(ctx, id)
			}
			return seatsEndpoint.Label, ""
		}
		if allow(ctx, concertEndpoint) {
			s.getConcert(ctx, rest)
		}
		return concertEndpoint.Label, ""
	case path == rankingsEndpoint.Path && s.rankings != nil:
		if allow(ctx, rankingsEndpoint) {
			s.getRankings(ctx)
		}
		return rankingsEndpoint.Label, ""
	case strings.HasPrefix(path, "/api/members/"):
		if allow(ctx, memberEndpoint) {
			s.getMember(ctx, strings.TrimPrefix(path, "/api/members/"))
		}
		return memberEndpoint.Label, ""
	}
	if label, ok := s.dispatchQueue(ctx, path); ok {
		return label, ""
	}
	writeError(ctx, fmt.Errorf("no such path: %w", boxoffice.ErrNotFound))
	return "unknown", ""
}

// allow answers 405 with an Allow header unless the method is e's.
func allow(ctx *fasthttp.RequestCtx, e Endpoint) bool {
	if string(ctx.Method()) == e.Method {
		return true
	}
	ctx.Response.Header.Set("Allow", e.Method)
	writeError(ctx, fmt.Errorf("%w: use %s", errMethod, e.Method))
	return false
}

// openAPI serves api/openapi.yaml, behind the address's bucket like every
// other /api/ path.
func (s *Server) openAPI(ctx *fasthttp.RequestCtx) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetContentType(api.ContentType)
	ctx.SetStatusCode(http.StatusOK)
	ctx.Response.SetBodyRaw(api.OpenAPI)
}

func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.shards[s.next.Add(1)%uint32(len(s.shards))], s.requestTimeout)
}

// member is the verified member who sent the request, or 0 when the
// gateway trusts the body (no verifier).
func (s *Server) member(ctx *fasthttp.RequestCtx) (int64, error) {
	if s.members == nil {
		return 0, nil
	}
	token := auth.Bearer(string(ctx.Request.Header.Peek("Authorization")))
	if token == "" {
		return 0, fmt.Errorf("%w: no bearer token (Authorization: Bearer <token>)", boxoffice.ErrUnauthorized)
	}
	return s.members.Member(token)
}

// limitedMember is member behind both abuse limits: the address's bucket
// first (before the token's signature is checked), then the member's.
func (s *Server) limitedMember(ctx *fasthttp.RequestCtx) (int64, error) {
	if err := s.limit.address(ctx); err != nil {
		return 0, err
	}
	member, err := s.member(ctx)
	if err != nil {
		return 0, err
	}
	return member, s.limit.member(member)
}

func (s *Server) reserve(ctx *fasthttp.RequestCtx, r Route) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	// Shed before the token's signature and the body are checked: under
	// overload every refusal's CPU is taken from the admissions.
	if s.maxAdmissions > 0 && s.admitting.Load() >= s.maxAdmissions {
		writeError(ctx, s.overloaded())
		return
	}
	member, err := s.member(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	req, err := parseReserve(ctx, s.maxSeats)
	if err != nil {
		writeError(ctx, err)
		return
	}
	switch {
	case member == 0 && req.MemberID == 0:
		writeError(ctx, boxoffice.Invalidf("memberId is required"))
		return
	case member != 0 && req.MemberID == 0:
		req.MemberID = member
	case member != 0 && req.MemberID != member:
		writeError(ctx, fmt.Errorf("%w: memberId %d is not the member of the token", boxoffice.ErrForbidden, req.MemberID))
		return
	}
	if err := s.limit.member(req.MemberID); err != nil {
		writeError(ctx, err)
		return
	}
	roomed := s.rooms.Required(req.ConcertID)
	if roomed {
		if err := s.rooms.CheckPass(req.ConcertID, req.MemberID, string(ctx.Request.Header.Peek(PassHeader))); err != nil {
			writeError(ctx, err)
			return
		}
	}
	done, err := s.admit()
	if err != nil {
		writeError(ctx, err)
		return
	}
	defer done()
	rctx, cancel := s.requestContext()
	defer cancel()
	res, err := r.Strategy.Reserve(rctx, req)
	if err != nil {
		if status, _ := httpError(err); status >= 500 {
			s.log.Warn("reserve failed", "strategy", r.Name, "concert", req.ConcertID, "member", req.MemberID, "err", err)
		}
		writeError(ctx, err)
		return
	}
	ctx.Response.Header.Set("Location", "/api/reservations/"+res.ID)
	if roomed && !res.Replayed {
		s.rooms.Used(req.ConcertID)
	}
	if len(res.Seats) > 0 && !res.Replayed {
		s.metrics.SeatsHeld(res.Seats)
	}
	if res.Replayed {
		ctx.Response.Header.Set("Idempotent-Replayed", "true")
	}
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(r.Success)
	// The hot path's body, built by hand: ULIDs, statuses and seat ids
	// (validated, or made by the script from the map) need no escaping.
	ctx.Response.AppendBodyString(`{"reservationId":"` + res.ID + `","status":"` + string(res.Status))
	if len(res.Seats) > 0 {
		ctx.Response.AppendBodyString(`","seats":["` + strings.Join(res.Seats, `","`) + `"]}`)
	} else {
		ctx.Response.AppendBodyString(`"}`)
	}
}

func (s *Server) transition(ctx *fasthttp.RequestCtx, id, action string) {
	var do func(ctx context.Context) (Reservation, error)
	var receipt auth.Receipt
	if action == "confirm" {
		var err error
		if receipt, err = s.paid(ctx, id); err != nil {
			writeError(ctx, err)
			return
		}
		do = func(ctx context.Context) (Reservation, error) { return s.lifecycle.Confirm(ctx, id) }
	} else {
		member, err := s.limitedMember(ctx)
		if err != nil {
			writeError(ctx, err)
			return
		}
		do = func(ctx context.Context) (Reservation, error) { return s.lifecycle.Cancel(ctx, id, member) }
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	res, err := do(rctx)
	if err != nil {
		status, _ := httpError(err)
		if status >= 500 {
			s.log.Warn(action+" failed", "id", id, "err", err)
			// Not done: the payment service retries with the same signature.
			receipt.Forget()
		}
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, http.StatusOK, map[string]string{"reservationId": res.ID, "status": string(res.Status)})
}

// paid checks that a confirm is the payment service's signed callback for
// this reservation: its signature (auth.SignatureHeader) over a body naming
// the reservation. Without a payment secret, confirm is open only on a
// gateway that trusts the body for everything else too.
func (s *Server) paid(ctx *fasthttp.RequestCtx, id string) (auth.Receipt, error) {
	if s.payments == nil {
		if s.members != nil {
			return auth.Receipt{}, fmt.Errorf("%w: confirm is the payment service's signed callback, and this gateway has no --payment-secret", boxoffice.ErrForbidden)
		}
		return auth.Receipt{}, nil
	}
	body := ctx.PostBody()
	receipt, err := s.payments.Verify(string(ctx.Request.Header.Peek(auth.SignatureHeader)), body)
	if err != nil {
		return receipt, err
	}
	// The path is not signed: the body says which reservation was paid, so
	// a signed callback for one reservation cannot confirm another.
	var paid struct {
		ReservationID string `json:"reservationId"`
	}
	if err := json.Unmarshal(body, &paid); err != nil || paid.ReservationID != id {
		return receipt, fmt.Errorf("%w: the signed body's reservationId is not %s", boxoffice.ErrForbidden, id)
	}
	return receipt, nil
}

// notYours is what a member is told about a reservation or a member that is
// someone else's: the same 404 as for one that does not exist, so that an
// id does not confirm that it exists.
func notYours(what string) error {
	return fmt.Errorf("%s: %w", what, boxoffice.ErrNotFound)
}

func (s *Server) getReservation(ctx *fasthttp.RequestCtx, id string) {
	member, err := s.limitedMember(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	v, err := s.reads.Reservation(rctx, id)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if member != 0 && v.MemberID != member {
		writeError(ctx, notYours("reservation "+id))
		return
	}
	writeJSON(ctx, http.StatusOK, v)
}

func (s *Server) getConcert(ctx *fasthttp.RequestCtx, raw string) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	id, err := parseID("concert id", raw)
	if err != nil {
		writeError(ctx, err)
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	v, err := s.reads.Concert(rctx, id)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, http.StatusOK, v)
}

func (s *Server) getRankings(ctx *fasthttp.RequestCtx) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	w, limit, err := parseRankingQuery(ctx.QueryArgs())
	if err != nil {
		writeError(ctx, err)
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	v, err := s.rankings.Top(rctx, w, limit)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, http.StatusOK, v)
}

func (s *Server) getSeats(ctx *fasthttp.RequestCtx, raw string) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	id, err := parseID("concert id", raw)
	if err != nil {
		writeError(ctx, err)
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	body, err := s.reads.Seats(rctx, id)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(http.StatusOK)
	ctx.Response.SetBody(body)
}

func (s *Server) getMember(ctx *fasthttp.RequestCtx, raw string) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	member, err := s.member(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	id, err := parseID("member id", raw)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if member != 0 && id != member {
		writeError(ctx, notYours("member "+raw))
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	v, err := s.reads.Member(rctx, id)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, http.StatusOK, v)
}

// readiness is one round of the readiness checks.
type readiness struct {
	ok bool
	at time.Time
}

// readyStale is how old the last round may be before the public /readyz
// says unavailable: a check stuck on a frozen Redis must not leave a
// stale "ready" up for ever.
const readyStale = 5 * time.Second

// Ready runs every readiness check now and returns the status and each
// check's result, error text included: for the admin listener only.
func (s *Server) Ready(ctx context.Context) (int, map[string]string) {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out := map[string]string{}
	status := http.StatusOK
	for name, err := range s.ready(rctx) {
		out[name] = "ok"
		if err != nil {
			out[name] = err.Error()
			status = http.StatusServiceUnavailable
		}
	}
	return status, out
}

// WatchReady runs the readiness checks at once and then every interval
// until ctx ends, for the public /readyz to answer from.
func (s *Server) WatchReady(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		status, _ := s.Ready(ctx)
		s.readiness.Store(&readiness{ok: status == http.StatusOK, at: time.Now()})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readyz is the public probe: 200 or 503 with a one-word status, from the
// last background round; the detail is on the admin listener.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	r := s.readiness.Load()
	switch {
	case r == nil:
		writeJSON(ctx, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
	case !r.ok || time.Since(r.at) > readyStale:
		writeJSON(ctx, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	default:
		writeJSON(ctx, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func parseID(what, raw string) (int64, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, boxoffice.Invalidf("%s must be a positive integer, got %q", what, raw)
	}
	return id, nil
}

// errorCodeKey carries the error code of a response to the metrics.
const errorCodeKey = "boxoffice.error"

// writeError writes {"error": code, "message": ...} with the mapped status.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	status, code := httpError(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error"
	}
	ctx.SetUserValue(errorCodeKey, code)
	if status == http.StatusUnauthorized {
		// RFC 6750 §3: a 401 names the scheme that would have worked.
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="boxoffice"`)
	}
	var limited rateLimited
	switch {
	case errors.As(err, &limited):
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(limited.retryAfter()))
	case errors.Is(err, errOverloaded):
		// An admission takes milliseconds; a second is long enough for
		// the ones under way to finish.
		ctx.Response.Header.Set("Retry-After", "1")
	}
	body := map[string]any{"error": code, "message": msg}
	var seats *boxoffice.SeatsError
	if errors.As(err, &seats) {
		body["seats"] = seats.Seats
	}
	var doubt inDoubt
	if errors.As(err, &doubt) {
		body["reservationId"] = doubt.id
		ctx.Response.Header.Set("Location", "/api/reservations/"+doubt.id)
	}
	writeJSON(ctx, status, body)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	if err := json.NewEncoder(ctx.Response.BodyWriter()).Encode(v); err != nil {
		ctx.SetStatusCode(http.StatusInternalServerError)
	}
	if status >= 400 && ctx.UserValue(errorCodeKey) == nil {
		ctx.SetUserValue(errorCodeKey, "internal")
	}
}

// slogPrintf adapts slog to fasthttp's Logger. fasthttp logs each request it
// cannot parse, before any limit applies (the hostile suite's 1,000
// malformed requests from one address wrote 1,000 WARN lines), so it writes
// at most a line a second and counts the lines it left out.
type slogPrintf struct {
	l *slog.Logger
	// next is the unix time (ns) before which lines are counted, not written.
	next    atomic.Int64
	dropped atomic.Int64
}

func (s *slogPrintf) Printf(format string, args ...any) {
	now := time.Now().UnixNano()
	next := s.next.Load()
	if now < next || !s.next.CompareAndSwap(next, now+int64(time.Second)) {
		s.dropped.Add(1)
		return
	}
	msg := fmt.Sprintf(format, args...)
	if n := s.dropped.Swap(0); n > 0 {
		s.l.Warn(msg, "similar_lines_left_out", n)
		return
	}
	s.l.Warn(msg)
}
