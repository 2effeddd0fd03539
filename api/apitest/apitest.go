// Package apitest holds the gateway's integration tests to api/openapi.yaml:
// an http.RoundTripper that validates each request and response exchanged
// with a gateway listener against the spec (kin-openapi's openapi3filter,
// which validates OpenAPI 3.1 documents with JSON Schema 2020-12), fails the
// test that owns the listener on a violation, and counts the exchanges per
// route, so that a route nobody exercises shows.
//
// A package's TestMain calls Main; a test that starts a gateway registers
// its listeners with Serves; clients built with their own transport wrap it
// in Transport (http.DefaultTransport is wrapped by Main).
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/boxoffice/boxoffice/api"
)

// Listener names one of the gateway's two listeners, as the spec tags their
// operations.
type Listener string

// The two listeners.
const (
	Public Listener = "public"
	Admin  Listener = "admin"
)

func init() {
	// The pprof index and the waiting room's page are HTML, its assets
	// JavaScript and CSS; openapi3filter decodes only the types it
	// registers, and the body's schema is a string.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/openmetrics-text", openapi3filter.PlainBodyDecoder)
}

// Spec loads and validates api/openapi.yaml.
func Spec() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	return doc, nil
}

// Operations returns the spec's operations on l, as "METHOD /path".
func Operations(doc *openapi3.T, l Listener) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if slices.Contains(op.Tags, string(l)) {
				out = append(out, method+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Answers returns an operation's responses as "status code" pairs: the
// `error` codes each response's schema names (the enum or const of its
// error property, itself or in an allOf), "(plain text)" for a text/plain
// answer, and "—" for a response without either (a success).
func Answers(op *openapi3.Operation) []string {
	var out []string
	for status, ref := range op.Responses.Map() {
		var codes []string
		for mime, mt := range ref.Value.Content {
			if mime == "text/plain" {
				codes = append(codes, "(plain text)")
				continue
			}
			codes = append(codes, errorEnum(mt.Schema)...)
		}
		if len(codes) == 0 {
			codes = []string{"—"}
		}
		for _, c := range codes {
			out = append(out, status+" "+c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func errorEnum(s *openapi3.SchemaRef) []string {
	if s == nil || s.Value == nil {
		return nil
	}
	var out []string
	if p := s.Value.Properties["error"]; p != nil && p.Value != nil {
		for _, v := range p.Value.Enum {
			out = append(out, fmt.Sprint(v))
		}
		if p.Value.Const != nil {
			out = append(out, fmt.Sprint(p.Value.Const))
		}
	}
	for _, sub := range s.Value.AllOf {
		out = append(out, errorEnum(sub)...)
	}
	return out
}

// listenerRouter matches the requests of one listener.
type listenerRouter struct {
	doc    *openapi3.T
	router routers.Router
}

// validator is the state shared by every Transport of the test binary.
type validator struct {
	once    sync.Once
	err     error
	doc     *openapi3.T
	routers map[Listener]listenerRouter

	mu         sync.Mutex
	hosts      map[string]*owner
	counts     map[string]int
	validated  int      // exchanges validated: one of each kind
	violations []string // those no test could be told of
}

// owner is the test a listener belongs to, for the duration of that test.
type owner struct {
	t        testing.TB
	listener Listener
	done     bool
	// pending are the exchanges to validate when t ends, one of each kind
	// (seen holds their keys).
	pending []exchange
	seen    map[string]bool
}

// exchange is one request and its response, bodies read.
type exchange struct {
	req      *http.Request
	reqBody  []byte
	resp     *http.Response
	respBody []byte
}

var shared = &validator{hosts: map[string]*owner{}, counts: map[string]int{}}

func (v *validator) load() error {
	v.once.Do(func() {
		v.doc, v.err = Spec()
		if v.err != nil {
			return
		}
		v.routers = map[Listener]listenerRouter{}
		for _, l := range []Listener{Public, Admin} {
			doc := listenerDoc(v.doc, l)
			r, err := gorillamux.NewRouter(doc)
			if err != nil {
				v.err = fmt.Errorf("router for the %s listener: %w", l, err)
				return
			}
			v.routers[l] = listenerRouter{doc: doc, router: r}
		}
	})
	return v.err
}

// listenerDoc is doc with only the paths served on l, and no servers: the
// tests' listeners are on ports of their own, and the router would match
// the servers' hosts.
func listenerDoc(doc *openapi3.T, l Listener) *openapi3.T {
	out := *doc
	out.Servers = nil
	out.Paths = openapi3.NewPaths()
	for path, item := range doc.Paths.Map() {
		served := false
		for _, op := range item.Operations() {
			served = served || slices.Contains(op.Tags, string(l))
		}
		if served {
			copied := *item
			copied.Servers = nil
			out.Paths.Set(path, &copied)
		}
	}
	return &out
}

// Serves registers addr (host:port) as listener l of a gateway that t
// started: exchanges with it are validated when t ends (before its cleanups
// stop the gateway or not: validation needs only what was exchanged), and a
// violation fails t.
//
// Not at once: kin-openapi compiles a JSON Schema 2020-12 validator for
// each body it validates: 0.4-0.8 ms an exchange, 3 ms with -race
// (BenchmarkCheck, on a busy machine), and validating inside the round trip
// took app's TestRush (2,000 concurrent reservations) from 4 s to 25 s, into
// Redis timeouts. And once per kind: exchanges that differ only in reservation
// ids, timestamps or the body of a refused request (which is not validated)
// get the same answer from the validator, so one of them is validated
// (app's TestRush and TestWriterKilledMidBatch: 5 of 5,002).
func Serves(t testing.TB, l Listener, addr string) {
	t.Helper()
	if err := shared.load(); err != nil {
		t.Fatal(err)
	}
	o := &owner{t: t, listener: l, seen: map[string]bool{}}
	shared.mu.Lock()
	shared.hosts[addr] = o
	shared.mu.Unlock()
	t.Cleanup(func() {
		shared.mu.Lock()
		o.done = true
		if shared.hosts[addr] == o {
			delete(shared.hosts, addr)
		}
		pending := o.pending
		o.pending = nil
		shared.mu.Unlock()
		for _, e := range pending {
			for _, p := range shared.validate(o.listener, e) {
				t.Errorf("api/openapi.yaml: %s", p)
			}
		}
	})
}

// Transport wraps base (http.DefaultTransport when nil) so that exchanges
// with a registered listener are validated.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{base: base}
}

type transport struct{ base http.RoundTripper }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	shared.mu.Lock()
	o := shared.hosts[req.URL.Host]
	shared.mu.Unlock()
	if o == nil {
		return t.base.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	// An event stream lives as long as the client wants: its status and
	// headers are validated, its body passed on unread.
	var respBody []byte
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		respBody, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		if err != nil {
			// A connection the server closed mid-answer: nothing to validate.
			return resp, nil
		}
	}
	// Copies: the test may change its response's header before the
	// exchange is validated.
	e := exchange{req: req.Clone(context.Background()), reqBody: reqBody,
		resp: &http.Response{StatusCode: resp.StatusCode, Header: resp.Header.Clone()}, respBody: respBody}
	label := shared.label(o.listener, e.req)
	key := kind(label, e)
	shared.mu.Lock()
	shared.counts[string(o.listener)+" "+label]++
	late, fresh := o.done, !o.seen[key]
	if fresh && !late {
		o.seen[key] = true
		o.pending = append(o.pending, e)
	}
	shared.mu.Unlock()
	if late {
		// After its test: no test to fail but the run.
		problems := shared.validate(o.listener, e)
		shared.mu.Lock()
		shared.violations = append(shared.violations, problems...)
		shared.mu.Unlock()
	}
	return resp, nil
}

var (
	ulidLike = regexp.MustCompile(`\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b`)
	// positive is a positive integer that fits an int64 (18 digits at
	// most), which every id and count schema of the spec allows alike.
	positive = regexp.MustCompile(`\b[1-9][0-9]{0,17}\b`)
	instant  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// kind is what the validator's answer on e depends on, with reservation
// ids and timestamps made alike (each stays an id or a timestamp): the
// route, the status, the headers the spec names, the response body, and
// for an accepted request its headers and its body, positive integers made
// alike too (app's TestWriterKilledMidBatch admits 3,000 members, which
// would otherwise be 3,000 kinds).
func kind(label string, e exchange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %d\n", e.req.Method, label, e.resp.StatusCode)
	for _, h := range []string{"Content-Type", "Location", "Idempotent-Replayed", "Retry-After", "Allow", "WWW-Authenticate"} {
		fmt.Fprintf(&b, "%s: %q\n", h, e.resp.Header.Values(h))
	}
	b.Write(e.respBody)
	if e.resp.StatusCode < 400 {
		fmt.Fprintf(&b, "\n%s\n", e.req.URL.RawQuery)
		for _, h := range []string{"Content-Type", "Idempotency-Key"} {
			fmt.Fprintf(&b, "%s: %q\n", h, e.req.Header.Values(h))
		}
		for _, h := range []string{"Authorization", "Boxoffice-Signature"} {
			fmt.Fprintf(&b, "%s: %t\n", h, e.req.Header.Get(h) != "")
		}
		b.Write(positive.ReplaceAll(e.reqBody, []byte("1")))
	}
	return instant.ReplaceAllString(ulidLike.ReplaceAllString(b.String(), "01ARZ3NDEKTSV4RRFFQ69G5FAV"), "2026-01-01T00:00:00Z")
}

// label is the route an exchange counts under in the report.
func (v *validator) label(l Listener, req *http.Request) string {
	lr := v.routers[l]
	r, _, err := lr.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return "(no such path)"
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if r, _ = routeOfPath(lr.router, req); r != nil {
			return "(other method) " + r.Path
		}
	case err == nil:
		return r.Method + " " + r.Path
	}
	return "(unroutable)"
}

// validate checks e and returns what in it the spec does not allow, each
// naming the exchange.
func (v *validator) validate(l Listener, e exchange) []string {
	v.mu.Lock()
	v.validated++
	v.mu.Unlock()
	problems := v.check(l, e.req, e.reqBody, e.resp, e.respBody)
	for i, p := range problems {
		problems[i] = fmt.Sprintf("%s %s → %d: %s", e.req.Method, e.req.URL.Path, e.resp.StatusCode, p)
	}
	return problems
}

// check validates one exchange and returns what in it the spec does not
// allow.
//
// The response is always validated. The request is validated only when the
// server accepted it (a status below 400): tests send malformed requests on
// purpose (bad JSON, wrong content type, oversized, bad ids, no token), and
// the spec describes how each is refused, which the response's validation
// checks; a request the server accepted but the spec refuses means one of
// the two is wrong.
func (v *validator) check(l Listener, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) (problems []string) {
	lr := v.routers[l]
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	r, params, err := lr.router.FindRoute(vreq)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		// A path outside the spec: the gateway's answer to any such path.
		return notFound(lr.doc, resp, respBody)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		// Validated against the 405 the path's own operation describes.
		if r, params = routeOfPath(lr.router, vreq); r == nil {
			return []string{"the spec has the path but no operation on it"}
		}
		if resp.StatusCode != http.StatusMethodNotAllowed {
			problems = append(problems, fmt.Sprintf("a method %s does not take was answered %d, not 405", r.Path, resp.StatusCode))
		}
		// Allow names every method the path takes (RFC 9110 §10.2.1).
		var taken []string
		for m := range r.PathItem.Operations() {
			taken = append(taken, m)
		}
		slices.Sort(taken)
		if allow, want := resp.Header.Get("Allow"), strings.Join(taken, ", "); allow != want {
			problems = append(problems, fmt.Sprintf("Allow: %q, the spec has %s", allow, want))
		}
	case err != nil:
		return []string{err.Error()}
	}
	opts := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		// Who may call is the server's to decide (tokens are verified by
		// its tests); the spec's part is that the scheme is named.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: r, Options: opts}
	if resp.StatusCode < 400 && r.Method == req.Method {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			problems = append(problems, "accepted a request the spec refuses: "+oneLine(err))
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		problems = append(problems, oneLine(err))
	}
	return problems
}

// routeOfPath finds the operation of req's path under another method.
func routeOfPath(router routers.Router, req *http.Request) (*routers.Route, map[string]string) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		other := req.Clone(context.Background())
		other.Method = m
		if r, params, err := router.FindRoute(other); err == nil {
			return r, params
		}
	}
	return nil, nil
}

// notFound checks the answer to a path the spec does not have: 404 with
// the Error schema and the code not_found.
func notFound(doc *openapi3.T, resp *http.Response, body []byte) []string {
	if resp.StatusCode != http.StatusNotFound {
		return []string{fmt.Sprintf("a path outside the spec was answered %d, not 404", resp.StatusCode)}
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return []string{"a 404 that is not JSON: " + err.Error()}
	}
	schema := doc.Components.Schemas["Error"].Value
	if err := schema.VisitJSON(value, openapi3.EnableJSONSchema2020()); err != nil {
		return []string{"a 404 that is not the Error schema: " + oneLine(err)}
	}
	if m, _ := value.(map[string]any); m["error"] != "not_found" {
		return []string{fmt.Sprintf("a 404 whose error is %v, not not_found", m["error"])}
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Main wraps http.DefaultTransport, runs the tests, then reports how many
// exchanges were validated per route of the spec (zero included), and fails
// the run on a violation no test could be told of (one that arrived after
// its test ended).
func Main(m *testing.M) int {
	http.DefaultTransport = Transport(http.DefaultTransport)
	code := m.Run()
	if err := shared.load(); err != nil {
		fmt.Fprintln(os.Stderr, "apitest:", err)
		return 1
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if len(shared.counts) > 0 {
		report(os.Stderr, shared.doc, shared.counts, shared.validated)
	}
	if len(shared.violations) > 0 {
		fmt.Fprintf(os.Stderr, "apitest: %d exchanges after their test ended broke api/openapi.yaml:\n", len(shared.violations))
		for _, p := range shared.violations {
			fmt.Fprintln(os.Stderr, "  ", p)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// report writes the exchanges validated per listener and route, the spec's
// operations that none exercised included.
func report(w io.Writer, doc *openapi3.T, counts map[string]int, validated int) {
	all := map[string]int{}
	for k, n := range counts {
		all[k] = n
	}
	used := map[Listener]bool{}
	for k := range counts {
		l, _, _ := strings.Cut(k, " ")
		used[Listener(l)] = true
	}
	for l := range used {
		for _, op := range Operations(doc, l) {
			all[string(l)+" "+op] += 0
		}
	}
	keys := make([]string, 0, len(all))
	total := 0
	for k, n := range all {
		keys = append(keys, k)
		total += n
	}
	slices.Sort(keys)
	fmt.Fprintf(w, "apitest: %d exchanges held to api/openapi.yaml (%d validated, one of each kind)\n", total, validated)
	for _, k := range keys {
		fmt.Fprintf(w, "  %6d  %s\n", all[k], k)
	}
}
