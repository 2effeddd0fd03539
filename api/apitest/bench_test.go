package apitest

import (
	"net/http"
	"strings"
	"testing"
)

// BenchmarkCheck is the cost of validating one exchange (a 409 sold_out to
// a reservation), which is why Serves validates late and once per kind.
func BenchmarkCheck(b *testing.B) {
	if err := shared.load(); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"concertId":1,"memberId":2}`)
	req, _ := http.NewRequest("POST", "http://x/api/reservations/async", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp := &http.Response{StatusCode: 409, Header: http.Header{"Content-Type": {"application/json"}}}
	answer := []byte(`{"error":"sold_out","message":"concert 1: sold out"}`)
	for b.Loop() {
		if p := shared.check(Public, req, body, resp, answer); p != nil {
			b.Fatal(p)
		}
	}
}
