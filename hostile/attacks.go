package hostile

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/boxoffice/boxoffice/auth"
)

// phase is one attack.
type phase struct {
	name, attack string
	run          func(ctx context.Context, h *harness, res *Phase) error
}

// phases, in the order they run. The baseline has no attack: the
// well-behaved client's latency alone, to compare the others with.
var phases = []phase{
	{"baseline", "none: the well-behaved client alone", func(ctx context.Context, h *harness, res *Phase) error {
		res.Expected = "-"
		return nil
	}},
	{"slowloris", "connections sending one header byte every 2 s", slowloris},
	{"slow-body", "reservations whose headers arrive at once and whose body comes one byte every 2 s", slowBodyAttack},
	{"slow-second", "keep-alive connections: one request, then the next one's header a byte every 2 s", slowSecond},
	{"idle", "keep-alive connections, one request each, then idle", idle},
	{"input", "malformed bodies, numbers, headers, paths and methods (valid tokens)", input},
	{"tokens", "forged, expired, alg none, HS/RS-confused and misused member tokens", tokens},
	{"payment", "forged, stale and replayed payment callbacks", payment},
	{"callback-flood", "one address (127.0.0.2) flooding the confirm callback with forged signatures", callbackFlood},
	{"member-loop", "one member reserving in a tight loop", memberLoop},
	{"address-flood", "one address (127.0.0.2) flooding GET /api/concerts/1, each request naming a random X-Forwarded-For and X-Real-IP", addressFlood},
	{"junk-flood", "one address (127.0.0.2) sending malformed requests, which fasthttp answers before any limit", junkFlood},
	{"address-conns", "more connections from one address (127.0.0.3) than --max-conns-per-address", addressConns},
	{"overload", "a burst of concurrent reservations past --max-admissions", overload},
}

// Names are the phases, in the order they run.
func Names() []string {
	var out []string
	for _, p := range phases {
		out = append(out, p.name)
	}
	return out
}

func phaseNamed(name string) *phase {
	for i := range phases {
		if phases[i].name == name {
			return &phases[i]
		}
	}
	return nil
}

func (h *harness) reserveURL() string { return "http://" + h.target + "/api/reservations/async" }

// token mints a valid token of member.
func (h *harness) token(member int64) string {
	t, err := auth.Mint(h.secret, member, time.Hour, time.Now())
	if err != nil {
		panic(err) // our secret is long enough, member positive
	}
	return t
}

// check records one request against the answers it may get: an exact key
// ("400/invalid_request"), a status with any body ("431/*") or "4xx" (any
// client error). Anything else — a 5xx, a 2xx not listed — fails the case.
func (res *Phase) check(name string, a answer, want ...string) bool {
	got := a.key()
	ok := false
	for _, w := range want {
		switch {
		case w == got:
			ok = true
		case strings.HasSuffix(w, "/*") && a.err == nil && strings.TrimSuffix(w, "/*") == strconv.Itoa(a.status):
			ok = true
		case w == "4xx" && a.err == nil && a.status >= 400 && a.status < 500:
			ok = true
		}
	}
	res.Sent++
	res.Statuses[got]++
	res.Cases = append(res.Cases, Case{Name: name, Expected: strings.Join(want, " or "), Got: got, Pass: ok, Message: a.message()})
	return ok
}

func slowloris(ctx context.Context, h *harness, res *Phase) error {
	t := h.o.Edge.HeaderTimeout
	res.Expected = fmt.Sprintf("closed within --header-timeout %s; 0 open at %s", t, t+2*time.Second)
	return h.connAttack(ctx, res, h.o.Slowloris, nil, slowHeader(), t)
}

func slowBodyAttack(ctx context.Context, h *harness, res *Phase) error {
	t := h.o.Edge.HeaderTimeout
	res.Expected = fmt.Sprintf("408, closed within --header-timeout %s; 0 open at %s; no seat taken", t, t+2*time.Second)
	headers, body := slowBody(h.token(h.members.take()), 200)
	n := max(1, h.o.Slowloris/10)
	if err := h.connAttack(ctx, res, n, headers, body, t); err != nil {
		return err
	}
	res.unexpected("%d connections: %s", exactly("408/request_timeout then closed"))
	return nil
}

func slowSecond(ctx context.Context, h *harness, res *Phase) error {
	t := h.o.Edge.HeaderTimeout
	res.Expected = fmt.Sprintf("200, then closed within --header-timeout %s of the second request's first byte (not --idle-timeout); 0 open at %s", t, t+2*time.Second)
	if err := h.connAttack(ctx, res, max(1, h.o.Slowloris/10), idleRequest, slowHeader(), t); err != nil {
		return err
	}
	res.unexpected("%d connections: %s", exactly("200 then closed"))
	return nil
}

func idle(ctx context.Context, h *harness, res *Phase) error {
	t := h.o.Edge.IdleTimeout
	res.Expected = fmt.Sprintf("200, then closed within --idle-timeout %s; 0 open at %s", t, t+2*time.Second)
	if err := h.connAttack(ctx, res, h.o.Idle, idleRequest, nil, t); err != nil {
		return err
	}
	res.unexpected("%d connections: %s", func(k string) bool {
		return strings.HasPrefix(k, "200 ") || strings.HasPrefix(k, "conn/") || strings.HasPrefix(k, "429/text") || strings.HasPrefix(k, "503/text")
	})
	return nil
}

// rawRequest is a request's bytes, headers as given (each "Name: value").
func rawRequest(method, path string, headers []string, body []byte) []byte {
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
	for _, hd := range headers {
		b.WriteString(hd + "\r\n")
	}
	if body != nil {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return []byte(b.String())
}

func input(ctx context.Context, h *harness, res *Phase) error {
	res.Expected = "each its 4xx (400 invalid_request, 404, 405, 413, 415, 431); never 5xx, never 202"
	junk := make([]byte, 512)
	rand.Read(junk)
	deep := strings.Repeat("[", 400) + strings.Repeat("]", 400)
	bodies := []struct{ name, body, want string }{
		{"invalid UTF-8 in a key", "{\"concertId\":1,\"memb\xffrId\":1}", "400/invalid_request"},
		{"invalid UTF-8 before the object", "\xff\xfe{\"concertId\":1}", "400/invalid_request"},
		{"invalid UTF-8 as the concert id", "{\"concertId\":\"\xc3\x28\"}", "400/invalid_request"},
		{"512 random bytes", string(junk), "400/invalid_request"},
		{"concertId 1e400", `{"concertId":1e400}`, "400/invalid_request"},
		{"concertId 99999999999999999999999", `{"concertId":99999999999999999999999}`, "400/invalid_request"},
		{"memberId 99999999999999999999999", `{"concertId":1,"memberId":99999999999999999999999}`, "400/invalid_request"},
		{"concertId -1", `{"concertId":-1}`, "400/invalid_request"},
		{"concertId 1.5", `{"concertId":1.5}`, "400/invalid_request"},
		{"concertId 1e2", `{"concertId":1e2}`, "400/invalid_request"},
		{"concertId null", `{"concertId":null}`, "400/invalid_request"},
		{"concertId max int64 (no such concert)", `{"concertId":9223372036854775807}`, "404/concert_not_found"},
		{"400 nested arrays", deep, "400/invalid_request"},
		{"data after the object", `{"concertId":1} {"concertId":1}`, "400/invalid_request"},
		{"a NUL after the number", "{\"concertId\":1\x00}", "400/invalid_request"},
		{"empty body", "", "400/invalid_request"},
		{"body over --max-body", `{"concertId":1,"x":"` + strings.Repeat("a", 4096) + `"}`, "413/body_too_large"},
	}
	for _, b := range bodies {
		hd := []string{"Content-Type: application/json", "Authorization: Bearer " + h.token(h.members.take())}
		res.check(b.name, raw(ctx, singlesHost, h.target, rawRequest("POST", "/api/reservations/async", hd, []byte(b.body))), b.want)
	}
	auth := func() string { return "Authorization: Bearer " + h.token(h.members.take()) }
	body := []byte(`{"concertId":1}`)
	many := make([]string, 2000)
	for i := range many {
		many[i] = fmt.Sprintf("X-H-%d: v", i)
	}
	heads := []struct {
		name    string
		method  string
		path    string
		headers []string
		body    []byte
		want    []string
	}{
		{"no Content-Type", "POST", "/api/reservations/async", []string{auth()}, body, []string{"415/unsupported_media_type"}},
		{"Content-Type text/plain", "POST", "/api/reservations/async", []string{auth(), "Content-Type: text/plain"}, body, []string{"415/unsupported_media_type"}},
		{"a 64 KiB header", "POST", "/api/reservations/async", []string{auth(), "Content-Type: application/json", "X-Big: " + strings.Repeat("a", 64<<10)}, body, []string{"431/*", "400/*"}},
		{"2,000 headers", "POST", "/api/reservations/async", append([]string{auth(), "Content-Type: application/json"}, many...), body, []string{"431/*", "400/*"}},
		{"a 16 KiB bearer token", "POST", "/api/reservations/async", []string{"Authorization: Bearer " + strings.Repeat("e", 16<<10), "Content-Type: application/json"}, body, []string{"431/*", "400/*", "401/unauthorized"}},
		{"Content-Length -1", "POST", "/api/reservations/async", []string{auth(), "Content-Type: application/json", "Content-Length: -1"}, nil, []string{"400/*"}},
		{"Content-Length 99999999999999999999", "POST", "/api/reservations/async", []string{auth(), "Content-Type: application/json", "Content-Length: 99999999999999999999"}, nil, []string{"400/*", "413/*"}},
		{"two Content-Lengths", "POST", "/api/reservations/async", []string{auth(), "Content-Type: application/json", "Content-Length: 15", "Content-Length: 3"}, nil, []string{"400/*"}},
		{"a NUL in a header name", "POST", "/api/reservations/async", []string{auth(), "Content-Type: application/json", "X\x00Y: z"}, body, []string{"400/*"}},
		{"path ../../etc/passwd", "GET", "/api/reservations/../../etc/passwd", []string{auth()}, nil, []string{"404/not_found"}},
		{"path ..%2f..%2fetc%2fpasswd", "GET", "/api/reservations/..%2f..%2fetc%2fpasswd", []string{auth()}, nil, []string{"404/not_found"}},
		{"path /api/reservations/%00", "GET", "/api/reservations/%00", []string{auth()}, nil, []string{"404/not_found", "400/invalid_request"}},
		{"path /api/reservations/async%00", "POST", "/api/reservations/async%00", []string{auth(), "Content-Type: application/json"}, body, []string{"404/not_found", "405/method_not_allowed", "400/invalid_request"}},
		{"path /api/concerts/%00", "GET", "/api/concerts/%00", nil, nil, []string{"400/invalid_request", "404/not_found"}},
		{"path /api/concerts/1e400", "GET", "/api/concerts/1e400", nil, nil, []string{"400/invalid_request"}},
		{"path /api/concerts/99999999999999999999", "GET", "/api/concerts/99999999999999999999", nil, nil, []string{"400/invalid_request"}},
		{"a 3 KiB path", "GET", "/api/reservations/" + strings.Repeat("A", 3<<10), []string{auth()}, nil, []string{"404/not_found", "400/invalid_request"}},
		{"a 16 KiB path", "GET", "/api/reservations/" + strings.Repeat("A", 16<<10), []string{auth()}, nil, []string{"431/*", "414/*", "400/*"}},
		{"method FOO", "FOO", "/api/reservations/async", []string{auth(), "Content-Type: application/json"}, body, []string{"405/method_not_allowed"}},
		{"method DELETE", "DELETE", "/api/reservations/async", []string{auth()}, nil, []string{"405/method_not_allowed"}},
		{"method TRACE", "TRACE", "/api/reservations/async", nil, nil, []string{"405/method_not_allowed"}},
		{"method CONNECT", "CONNECT", "127.0.0.1:443", nil, nil, []string{"400/*", "404/not_found", "405/method_not_allowed"}},
	}
	for _, c := range heads {
		res.check(c.name, raw(ctx, singlesHost, h.target, rawRequest(c.method, c.path, c.headers, c.body)), c.want...)
	}
	// Not HTTP at all: a TLS ClientHello's first bytes.
	hello := []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 64) + "\r\n\r\n")
	res.check("a TLS ClientHello", raw(ctx, singlesHost, h.target, hello), "400/*", "conn/closed", "conn/reset")
	return nil
}

func tokens(ctx context.Context, h *harness, res *Phase) error {
	res.Expected = "401 for every bad token, 403 for another member's memberId, 404 for another member's reservation; the valid RS256 token 202"
	c := newClient(singlesHost, 4, 10*time.Second)
	now := time.Now()
	reserve := func(name string, header map[string]string, body string, want ...string) answer {
		a := do(ctx, c, http.MethodPost, h.reserveURL(), body, header)
		res.check(name, a, want...)
		return a
	}
	claims := func(sub any) map[string]any {
		return map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	m := func() string { return strconv.FormatInt(h.members.take(), 10) }
	hsHeader := map[string]any{"alg": "HS256", "typ": "JWT"}
	other := randomSecret()
	forged, _ := auth.Mint(other, h.members.take(), time.Hour, now)
	expired, _ := auth.Mint(h.secret, h.members.take(), time.Hour, now.Add(-2*time.Hour))
	future, _ := auth.Mint(h.secret, h.members.take(), time.Hour, now.Add(time.Hour))
	valid := h.token(h.members.take())
	body := `{"concertId":1}`
	cases := []struct {
		name   string
		header map[string]string
	}{
		{"no token", nil},
		{"Basic credentials", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
		{"an empty bearer", map[string]string{"Authorization": "Bearer "}},
		{"a token that is no JWT", bearer("abc.def.ghi")},
		{"signed with another secret", bearer(forged)},
		{"its claims changed (sub of another member)", bearer(tamper(valid, claims(m())))},
		{"expired an hour ago", bearer(expired)},
		{"not valid for another hour (nbf)", bearer(future)},
		{"alg none", bearer(jwtOf(map[string]any{"alg": "none", "typ": "JWT"}, claims(m()), nil))},
		{"alg None", bearer(jwtOf(map[string]any{"alg": "None", "typ": "JWT"}, claims(m()), nil))},
		{"alg NONE with a signature", bearer(jwtOf(map[string]any{"alg": "NONE"}, claims(m()), hs256(h.secret)))},
		{"HS256 keyed with the RSA public key (HS/RS confusion)", bearer(jwtOf(hsHeader, claims(m()), hs256(h.pubPEM)))},
		{"HS512 with the real secret", bearer(jwtOf(map[string]any{"alg": "HS512", "typ": "JWT"}, claims(m()), hs512(h.secret)))},
		{"RS256 header over an HS256 signature", bearer(jwtOf(map[string]any{"alg": "RS256"}, claims(m()), hs256(h.secret)))},
		{"sub not a number", bearer(jwtOf(hsHeader, claims("abc"), hs256(h.secret)))},
		{"sub 0", bearer(jwtOf(hsHeader, claims("0"), hs256(h.secret)))},
		{"sub -7", bearer(jwtOf(hsHeader, claims("-7"), hs256(h.secret)))},
		{"sub 99999999999999999999", bearer(jwtOf(hsHeader, claims("99999999999999999999"), hs256(h.secret)))},
		{"sub as a JSON number", bearer(jwtOf(hsHeader, claims(42), hs256(h.secret)))},
		{"no sub", bearer(jwtOf(hsHeader, map[string]any{"exp": now.Add(time.Hour).Unix()}, hs256(h.secret)))},
		{"no exp", bearer(jwtOf(hsHeader, map[string]any{"sub": m()}, hs256(h.secret)))},
	}
	for _, tc := range cases {
		reserve(tc.name, tc.header, body, "401/unauthorized")
	}
	// The identity provider's key works, so the confusion above was refused
	// for what it is, not because RS256 is off.
	rs := jwtOf(map[string]any{"alg": "RS256", "typ": "JWT"}, claims(m()), rs256(h.rsaKey))
	if a := reserve("a valid RS256 token (the control)", bearer(rs), body, "202"); a.status == http.StatusAccepted {
		res.ids = append(res.ids, reservedID(a))
	}
	reserve("body memberId not the token's", bearer(h.token(h.members.take())), fmt.Sprintf(`{"concertId":1,"memberId":%d}`, h.members.take()), "403/forbidden")

	// Member A's reservation, which B must not see or cancel.
	a, b := h.members.take(), h.members.take()
	key := "hostile-" + strconv.FormatInt(a, 10)
	ans := reserve("member A reserves with an Idempotency-Key (the control)", map[string]string{"Authorization": "Bearer " + h.token(a), "Idempotency-Key": key}, body, "202")
	if ans.status != http.StatusAccepted {
		return fmt.Errorf("member A's reservation: %s", ans.key())
	}
	id := reservedID(ans)
	res.ids = append(res.ids, id)
	h.held, h.heldBy = id, a
	url := "http://" + h.target + "/api/reservations/" + id
	res.check("B reads A's reservation", do(ctx, c, http.MethodGet, url, "", bearer(h.token(b))), "404/not_found")
	res.check("B cancels A's reservation", do(ctx, c, http.MethodPost, url+"/cancel", "", bearer(h.token(b))), "404/not_found")
	res.check("B reads A's reservation with a forged token of A", do(ctx, c, http.MethodGet, url, "", bearer(forged)), "401/unauthorized")
	res.check("nobody reads A's reservation", do(ctx, c, http.MethodGet, url, "", nil), "401/unauthorized")
	if reuse := reserve("B sends A's Idempotency-Key", map[string]string{"Authorization": "Bearer " + h.token(b), "Idempotency-Key": key}, body, "422/idempotency_key_reused"); strings.Contains(string(reuse.body), id) {
		res.Problems = append(res.Problems, "B's answer to A's Idempotency-Key names A's reservation")
	}
	res.check("A reads A's reservation (the control)", do(ctx, c, http.MethodGet, url, "", bearer(h.token(a))), "200")
	return nil
}

// waitStatus polls the reservation (as its member) until it has status.
func (h *harness) waitStatus(ctx context.Context, c *http.Client, id string, member int64, status string, within time.Duration) error {
	url := "http://" + h.target + "/api/reservations/" + id
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		a := do(ctx, c, http.MethodGet, url, "", bearer(h.token(member)))
		if a.status == http.StatusOK && strings.Contains(string(a.body), `"status":"`+status+`"`) {
			return nil
		}
		last = a.key() + " " + strings.TrimSpace(string(a.body))
		// Under the member rate (5/s): a poll is the member's own request.
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("reservation %s not %s within %s (last: %s)", id, status, within, last)
}

func payment(ctx context.Context, h *harness, res *Phase) error {
	res.Expected = "401 for a missing, forged, stale or replayed signature, 403 for another reservation's body; the valid callback 200 once"
	if h.held == "" {
		return fmt.Errorf("no reservation to confirm (the tokens phase makes it)")
	}
	c := newClient(singlesHost, 4, 10*time.Second)
	if err := h.waitStatus(ctx, c, h.held, h.heldBy, "HELD", 30*time.Second); err != nil {
		return err
	}
	url := "http://" + h.target + "/api/reservations/" + h.held + "/confirm"
	body := `{"reservationId":"` + h.held + `"}`
	now := time.Now()
	sig := func(secret []byte, b string, t time.Time) map[string]string {
		return map[string]string{auth.SignatureHeader: auth.Sign(secret, []byte(b), t)}
	}
	confirm := func(name string, header map[string]string, b string, want ...string) {
		res.check(name, do(ctx, c, http.MethodPost, url, b, header), want...)
	}
	confirm("no signature", nil, body, "401/unauthorized")
	confirm("the member's token instead", bearer(h.token(h.heldBy)), body, "401/unauthorized")
	confirm("signed with another secret", sig(randomSecret(), body, now), body, "401/unauthorized")
	confirm("a malformed signature", map[string]string{auth.SignatureHeader: "t=abc,v1=zz"}, body, "401/unauthorized")
	confirm("signed 10 minutes ago", sig(h.payment, body, now.Add(-10*time.Minute)), body, "401/unauthorized")
	confirm("signed 10 minutes ahead", sig(h.payment, body, now.Add(10*time.Minute)), body, "401/unauthorized")
	confirm("the signature of another body", sig(h.payment, `{"reservationId":"x"}`, now), body, "401/unauthorized")
	other := `{"reservationId":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}`
	confirm("a valid signature over another reservation's body", sig(h.payment, other, now), other, "403/forbidden")
	valid := sig(h.payment, body, now)
	confirm("the valid callback (the control)", valid, body, "200")
	confirm("the same callback again (a replay)", valid, body, "401/unauthorized")
	header := valid[auth.SignatureHeader]
	t, v1, _ := strings.Cut(header, ",")
	confirm("the replay with its MAC in upper case", map[string]string{auth.SignatureHeader: t + "," + strings.ToUpper(v1)}, body, "401/unauthorized")
	confirm("the replay with another v1 before it", map[string]string{auth.SignatureHeader: t + ",v1=00," + v1}, body, "401/unauthorized")
	return h.waitStatus(ctx, c, h.held, h.heldBy, "CONFIRMED", 10*time.Second)
}

func callbackFlood(ctx context.Context, h *harness, res *Phase) error {
	n := max(1000, 5*h.o.Edge.AddressBurst)
	res.Expected = "401 unauthorized for each: the callback is the payment service's, outside the address limit (README), so never 429"
	if h.held == "" {
		return fmt.Errorf("no reservation to aim at (the tokens phase makes it)")
	}
	c := newClient(floodHost, 8, 10*time.Second)
	url := "http://" + h.target + "/api/reservations/" + h.held + "/confirm"
	body := `{"reservationId":"` + h.held + `"}`
	forger := randomSecret()
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for range next {
				a := do(ctx, c, http.MethodPost, url, body, map[string]string{auth.SignatureHeader: auth.Sign(forger, []byte(body), time.Now())})
				mu.Lock()
				res.Sent++
				res.Statuses[a.key()]++
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	res.Notes = append(res.Notes, fmt.Sprintf("%d in %.1f s", n, time.Since(start).Seconds()))
	res.unexpected("%d × %s", exactly("401/unauthorized"))
	return nil
}

func memberLoop(ctx context.Context, h *harness, res *Phase) error {
	e := h.o.Edge
	n := 6 * e.MemberBurst
	res.Expected = fmt.Sprintf("one 202, then 409 already_reserved, then 429 rate_limited with Retry-After once past the burst (%d)", e.MemberBurst)
	c := newClient(loopHost, 1, 10*time.Second)
	member := h.members.take()
	token := bearer(h.token(member))
	start := time.Now()
	for range n {
		a := do(ctx, c, http.MethodPost, h.reserveURL(), `{"concertId":1}`, token)
		h.limited(res, a, "202", "409/already_reserved")
		if a.status == http.StatusAccepted {
			res.ids = append(res.ids, reservedID(a))
		}
	}
	h.withinRate(res, e.MemberRate, e.MemberBurst, time.Since(start))
	if n := res.Statuses["202"]; n != 1 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d × 202, want 1 (one member, one seat)", n))
	}
	return nil
}

// limited counts an answer of a rate-limit attack: ok are the answers
// before the limit; past it 429 rate_limited with a Retry-After of
// positive seconds.
func (h *harness) limited(res *Phase, a answer, ok ...string) {
	res.Sent++
	k := a.key()
	res.Statuses[k]++
	if k == "429/rate_limited" {
		if s, err := strconv.Atoi(a.retryAfter); err != nil || s <= 0 {
			if res.Statuses["429 without Retry-After"] == 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("429 rate_limited with Retry-After %q, want positive seconds", a.retryAfter))
			}
			res.Statuses["429 without Retry-After"]++
		}
		return
	}
	for _, o := range ok {
		if k == o {
			return
		}
	}
	res.Problems = append(res.Problems, fmt.Sprintf("answer %s", k))
}

// withinRate checks that the answers not limited are no more than a token
// bucket of rate and burst lets through in elapsed, and that some were.
func (h *harness) withinRate(res *Phase, rate float64, burst int, elapsed time.Duration) {
	limitedN := res.Statuses["429/rate_limited"]
	passed := res.Sent - limitedN
	most := int64(float64(burst)+rate*elapsed.Seconds()) + 1
	res.Notes = append(res.Notes, fmt.Sprintf("%d let through in %.1f s (a bucket of %g/s, burst %d, allows %d)", passed, elapsed.Seconds(), rate, burst, most))
	if limitedN == 0 {
		res.Problems = append(res.Problems, "no 429 rate_limited")
	}
	if passed > most {
		res.Problems = append(res.Problems, fmt.Sprintf("%d answered past the limit, want at most %d", passed, most))
	}
}

func addressFlood(ctx context.Context, h *harness, res *Phase) error {
	e := h.o.Edge
	n := max(1000, 5*e.AddressBurst)
	res.Expected = fmt.Sprintf("200 within the address's burst (%d) and rate (%g/s), then 429 rate_limited with Retry-After", e.AddressBurst, e.AddressRate)
	c := newClient(floodHost, 8, 10*time.Second)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan struct{})
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for range next {
				// A client naming another address is still its peer's:
				// no --client-ip-header is trusted by default.
				spoof := fmt.Sprintf("10.%d.%d.%d", mrand.IntN(256), mrand.IntN(256), mrand.IntN(256))
				a := do(ctx, c, http.MethodGet, "http://"+h.target+"/api/concerts/1", "", map[string]string{"X-Forwarded-For": spoof, "X-Real-IP": spoof})
				mu.Lock()
				h.limited(res, a, "200")
				mu.Unlock()
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	h.withinRate(res, e.AddressRate, e.AddressBurst, time.Since(start))
	return nil
}

func junkFlood(ctx context.Context, h *harness, res *Phase) error {
	n := max(200, 5*h.o.Edge.AddressBurst)
	res.Expected = "400 invalid_request for each (never 5xx); how many the address limit let through, and the log lines they cost, are reported"
	before, err := logLines(h.gw.LogFile())
	if err != nil {
		return err
	}
	// Two Content-Lengths: refused while the headers are read, before
	// the handler and so before any rate limit.
	junk := rawRequest("POST", "/api/reservations/async", []string{"Content-Type: application/json", "Content-Length: 15", "Content-Length: 3"}, nil)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for range next {
				a := raw(ctx, floodHost, h.target, junk)
				mu.Lock()
				res.Sent++
				res.Statuses[a.key()]++
				mu.Unlock()
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	after, err := logLines(h.gw.LogFile())
	if err != nil {
		return err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d log lines written by the gateway for %d requests", after-before, n))
	res.unexpected("%d × %s", exactly("400/invalid_request", "429/rate_limited"))
	return nil
}

// logLines counts the lines of a log file.
func logLines(path string) (int64, error) {
	b, err := os.ReadFile(path)
	return int64(strings.Count(string(b), "\n")), err
}

func addressConns(ctx context.Context, h *harness, res *Phase) error {
	limit := h.o.Edge.MaxConnsPerAddress
	n := limit + max(36, limit/2)
	res.Expected = fmt.Sprintf("%d connections served (200), the other %d refused (429, fasthttp's text)", limit, n-limit)
	conns := make([]net.Conn, n)
	for i := range conns {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := dialer(connsHost).DialContext(dctx, "tcp", h.target)
		cancel()
		if err != nil {
			res.Statuses["conn/"+connError(err)]++
			res.Sent++
			continue
		}
		conns[i] = conn
	}
	// All are open before any asks, so the server sees n at once.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, conn := range conns {
		if conn == nil {
			continue
		}
		wg.Go(func() {
			a := exchange(conn, idleRequest)
			mu.Lock()
			res.Sent++
			res.Statuses[a.key()]++
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, conn := range conns {
		if conn != nil {
			conn.Close()
		}
	}
	served := res.Statuses["200"]
	refused := res.Sent - served
	if served != int64(limit) || refused != int64(n-limit) {
		res.Problems = append(res.Problems, fmt.Sprintf("%d served and %d refused, want %d and %d", served, refused, limit, n-limit))
	}
	for k := range res.Statuses {
		if k != "200" && k != "429/text" && !strings.HasPrefix(k, "conn/") {
			res.Problems = append(res.Problems, "answer "+k)
		}
	}
	return nil
}

// exchange writes a request on an open connection and reads its answer.
func exchange(conn net.Conn, request []byte) answer {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = conn.Write(request) }()
	return readOne(conn)
}

func overload(ctx context.Context, h *harness, res *Phase) error {
	e := h.o.Edge
	n := h.o.Overload
	res.Expected = fmt.Sprintf("202 up to --max-admissions (%d) in flight, the rest 503 overloaded with Retry-After; nothing else", e.MaxAdmissions)
	// Every connection open and every token minted before the burst, so
	// that the requests arrive together.
	type shot struct {
		conn    net.Conn
		request []byte
	}
	shots := make([]shot, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	var mu sync.Mutex
	for i := range shots {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			conn, err := dialer(overFirst+i%overHosts).DialContext(dctx, "tcp", h.target)
			if err != nil {
				mu.Lock()
				res.Sent++
				res.Statuses["conn/"+connError(err)]++
				mu.Unlock()
				return
			}
			hd := []string{"Content-Type: application/json", "Authorization: Bearer " + h.token(h.members.take())}
			shots[i] = shot{conn, rawRequest("POST", "/api/reservations/async", hd, []byte(`{"concertId":1}`))}
		})
	}
	wg.Wait()
	go0 := make(chan struct{})
	start := time.Now()
	for _, s := range shots {
		if s.conn == nil {
			continue
		}
		wg.Go(func() {
			defer s.conn.Close()
			<-go0
			a := exchange(s.conn, s.request)
			mu.Lock()
			defer mu.Unlock()
			res.Sent++
			res.Statuses[a.key()]++
			switch a.key() {
			case "202":
				res.ids = append(res.ids, reservedID(a))
			case "503/overloaded":
				if s, err := strconv.Atoi(a.retryAfter); err != nil || s <= 0 {
					res.Statuses["503 without Retry-After"]++
				}
			}
		})
	}
	close(go0)
	wg.Wait()
	res.Notes = append(res.Notes, fmt.Sprintf("the burst was answered in %.2f s", time.Since(start).Seconds()))
	if res.Statuses["503/overloaded"] == 0 {
		res.Problems = append(res.Problems, "no 503 overloaded: --max-admissions was never reached")
	}
	if k := res.Statuses["503 without Retry-After"]; k > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d × 503 overloaded without a Retry-After of positive seconds", k))
	}
	res.unexpected("%d × %s", exactly("202", "503/overloaded", "503 without Retry-After"))
	return nil
}

// unexpected adds a problem, worded by format (count, answer), for each
// answer the phase got that allowed does not accept.
func (p *Phase) unexpected(format string, allowed func(answer string) bool) {
	for k, v := range p.Statuses {
		if !allowed(k) {
			p.Problems = append(p.Problems, fmt.Sprintf(format, v, k))
		}
	}
}

// exactly accepts the answers named.
func exactly(answers ...string) func(string) bool {
	return func(k string) bool { return slices.Contains(answers, k) }
}
