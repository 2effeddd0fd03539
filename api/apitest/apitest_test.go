package apitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder is a test that keeps what it was told to fail with, and whose
// cleanups run when end is called.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) end() string {
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Each exchange is held to the spec: what the spec allows passes, and each
// kind of drift is a violation of the test that owns the listener.
func TestTransportFindsDrift(t *testing.T) {
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	cases := []struct {
		name          string
		method, path  string
		ctype, body   string
		status        int
		header        map[string]string
		answer        string
		wantViolation string // "" for none
	}{
		{"admitted", "POST", "/api/reservations/async", "application/json", `{"concertId":1,"memberId":2}`,
			202, map[string]string{"Location": "/api/reservations/" + id}, `{"reservationId":"` + id + `","status":"PENDING"}`, ""},
		{"malformed request refused as described", "POST", "/api/reservations/async", "application/json", `{"concertId":"x"}`,
			400, nil, `{"error":"invalid_request","message":"concertId must be a positive integer"}`, ""},
		{"accepted a request the spec refuses", "POST", "/api/reservations/async", "application/json", `{"concertId":1,"seats":2}`,
			202, map[string]string{"Location": "/api/reservations/" + id}, `{"reservationId":"` + id + `","status":"PENDING"}`, "accepted a request the spec refuses"},
		{"a field the spec does not have", "POST", "/api/reservations/async", "application/json", `{"concertId":1}`,
			202, map[string]string{"Location": "/api/reservations/" + id}, `{"reservationId":"` + id + `","status":"PENDING","seat":"A1"}`, "doesn't match schema"},
		{"no Location", "POST", "/api/reservations/async", "application/json", `{"concertId":1}`,
			202, nil, `{"reservationId":"` + id + `","status":"PENDING"}`, "Location"},
		{"an error code the status does not have", "POST", "/api/reservations/async", "application/json", `{"concertId":1}`,
			409, nil, `{"error":"overloaded","message":"busy"}`, "doesn't match schema"},
		{"a status the spec does not have", "GET", "/api/concerts/1", "", "",
			418, nil, `{"error":"teapot","message":"no"}`, "status is not supported"},
		{"401 without WWW-Authenticate", "GET", "/api/reservations/" + id, "", "",
			401, nil, `{"error":"unauthorized","message":"no token"}`, "WWW-Authenticate"},
		{"another method, answered as described", "GET", "/api/reservations/async", "", "",
			405, map[string]string{"Allow": "POST"}, `{"error":"method_not_allowed","message":"use POST"}`, ""},
		{"another method, wrong Allow", "PUT", "/api/reservations/async", "", "",
			405, map[string]string{"Allow": "GET"}, `{"error":"method_not_allowed","message":"use POST"}`, "Allow"},
		{"an unknown path, 404", "GET", "/api/nothing", "", "",
			404, nil, `{"error":"not_found","message":"no such path"}`, ""},
		{"an unknown path served", "GET", "/api/waitlist/1", "", "",
			200, nil, `{"position":1}`, "outside the spec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				for k, v := range c.header {
					rw.Header().Set(k, v)
				}
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(c.status)
				fmt.Fprint(rw, c.answer)
			}))
			defer srv.Close()
			rec := &recorder{TB: t}
			Serves(rec, Public, strings.TrimPrefix(srv.URL, "http://"))
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := (&http.Client{Transport: Transport(nil)}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := rec.end()
			switch {
			case c.wantViolation == "" && got != "":
				t.Errorf("violations of an exchange the spec allows:\n%s", got)
			case c.wantViolation != "" && !strings.Contains(got, c.wantViolation):
				t.Errorf("violation %q not reported; got %q", c.wantViolation, got)
			}
		})
	}
}

// Exchanges that differ only in reservation ids, timestamps, or the body of
// a refused request are one kind; any other difference is another.
func TestKind(t *testing.T) {
	ex := func(status int, reqBody, respBody string) exchange {
		req, _ := http.NewRequest("POST", "http://x/api/reservations/async", nil)
		req.Header.Set("Content-Type", "application/json")
		return exchange{req: req, reqBody: []byte(reqBody), resp: &http.Response{StatusCode: status, Header: http.Header{}}, respBody: []byte(respBody)}
	}
	const label = "POST /api/reservations/async"
	same := []struct {
		name string
		a, b exchange
	}{
		{"other ids", ex(202, `{"concertId":1}`, `{"reservationId":"01M8T2T7Y5CJV4YHQQSRK13WCQ","status":"PENDING"}`),
			ex(202, `{"concertId":1}`, `{"reservationId":"01M8T2MBA1WJ9EKH70GP4VGQRD","status":"PENDING"}`)},
		{"other times", ex(200, ``, `{"createdAt":"2026-12-02T00:35:09.109Z"}`), ex(200, ``, `{"createdAt":"2026-12-02T00:36:10Z"}`)},
		{"accepted, other members", ex(202, `{"concertId":1,"memberId":17}`, `{}`), ex(202, `{"concertId":1,"memberId":2}`, `{}`)},
		{"refused, other bodies", ex(409, `{"concertId":1,"memberId":1}`, `{"error":"sold_out"}`), ex(409, `{"concertId":1,"memberId":2}`, `{"error":"sold_out"}`)},
	}
	for _, c := range same {
		if kind(label, c.a) != kind(label, c.b) {
			t.Errorf("%s: two kinds", c.name)
		}
	}
	other := []struct {
		name string
		a, b exchange
	}{
		{"accepted, other bodies", ex(202, `{"concertId":1}`, `{}`), ex(202, `{"concertId":1,"seats":2}`, `{}`)},
		{"accepted, a zero id", ex(202, `{"concertId":1}`, `{}`), ex(202, `{"concertId":0}`, `{}`)},
		{"accepted, a negative id", ex(202, `{"concertId":1}`, `{}`), ex(202, `{"concertId":-1}`, `{}`)},
		{"accepted, an id past int64", ex(202, `{"concertId":1}`, `{}`), ex(202, `{"concertId":99999999999999999999}`, `{}`)},
		{"other status", ex(202, ``, `{"status":"PENDING"}`), ex(202, ``, `{"status":"HELD"}`)},
		{"other code", ex(409, ``, `{"error":"sold_out"}`), ex(409, ``, `{"error":"already_reserved"}`)},
		{"not a ULID", ex(202, ``, `{"reservationId":"01M8T2T7Y5CJV4YHQQSRK13WCQ"}`), ex(202, ``, `{"reservationId":"r-1-7"}`)},
	}
	for _, c := range other {
		if kind(label, c.a) == kind(label, c.b) {
			t.Errorf("%s: one kind", c.name)
		}
	}
}
