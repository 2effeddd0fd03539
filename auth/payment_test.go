package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
)

var paySecret = []byte("payments-0123456789abcdef0123456")

func newTestPayments(t *testing.T, now *time.Time) *Payments {
	t.Helper()
	p, err := NewPayments(paySecret, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return *now }
	return p
}

func TestPaymentsVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"reservationId":"01M83SBA092Y5TCEAAZVVFVWA0"}`)
	cases := []struct {
		name   string
		header string
		body   []byte
		want   string // in the error; "" for success
	}{
		{"valid", Sign(paySecret, body, now), body, ""},
		{"valid, clock a little ahead", Sign(paySecret, body, now.Add(time.Minute)), body, ""},
		{"valid among rotated signatures", Sign([]byte("old-secret-0123456789abcdef01234"), body, now) + ",v1=" + strings.Split(Sign(paySecret, body, now), "v1=")[1], body, ""},
		{"missing", "", body, "no Boxoffice-Signature"},
		{"malformed", "v1=abc", body, "want t="},
		{"bad time", "t=soon,v1=00", body, "unix time"},
		{"forged: another secret", Sign([]byte("not-the-secret-0123456789abcdef0"), body, now), body, "does not match"},
		{"forged: another body", Sign(paySecret, body, now), []byte(`{"reservationId":"01M83SBA092Y5TCEAAZVVFVWA1"}`), "does not match"},
		{"forged: timestamp moved", "t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + strings.Split(Sign(paySecret, body, now), "v1=")[1], body, "does not match"},
		{"forged: not hex", "t=" + strconv.FormatInt(now.Unix(), 10) + ",v1=zz", body, "does not match"},
		{"stale", Sign(paySecret, body, now.Add(-6*time.Minute)), body, "outside the 5m0s window"},
		{"from the future", Sign(paySecret, body, now.Add(6*time.Minute)), body, "outside"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestPayments(t, &now)
			_, err := p.Verify(c.header, c.body)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, boxoffice.ErrUnauthorized) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrUnauthorized mentioning %q", err, c.want)
			}
		})
	}
}

func TestPaymentsRefuseReplays(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newTestPayments(t, &now)
	body := []byte(`{"reservationId":"01M83SBA092Y5TCEAAZVVFVWA0"}`)
	h := Sign(paySecret, body, now)
	if _, err := p.Verify(h, body); err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Minute)
	if _, err := p.Verify(h, body); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("a replay within the window: err %v", err)
	}
	// Upper-case hex is the same signature.
	if _, err := p.Verify(strings.ToUpper(h[:2])+h[2:len(h)-64]+strings.ToUpper(h[len(h)-64:]), body); err == nil {
		t.Fatal("the same signature in upper case was accepted again")
	}
	// A new signature of the same body (the sender's own retry) is fine.
	r, err := p.Verify(Sign(paySecret, body, now), body)
	if err != nil {
		t.Fatal(err)
	}
	// Forgotten (the callback was not handled): the sender may retry it.
	r.Forget()
	if _, err := p.Verify(Sign(paySecret, body, now), body); err != nil {
		t.Fatalf("retry after Forget: %v", err)
	}
	// Past the window the timestamp refuses it, and the memory is freed.
	now = now.Add(10 * time.Minute)
	if _, err := p.Verify(h, body); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("past the window: err %v", err)
	}
	if _, err := p.Verify(Sign(paySecret, body, now), body); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	n := len(p.seen)
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d signatures remembered after the others left the window, want 1", n)
	}
}

// Memory is bounded: past maxSeen within the window, callbacks are refused
// (503, retried later), never forgotten.
func TestPaymentsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newTestPayments(t, &now)
	for i := range maxSeen {
		p.seen[fmt.Sprint(i)] = now.Add(time.Minute)
	}
	p.sweepAt = now.Add(time.Minute)
	body := []byte(`{}`)
	if _, err := p.Verify(Sign(paySecret, body, now), body); !errors.Is(err, boxoffice.ErrUnavailable) {
		t.Fatalf("full: err %v, want ErrUnavailable", err)
	}
}

func TestNewPaymentsRefuses(t *testing.T) {
	if _, err := NewPayments([]byte("short"), time.Minute); err == nil {
		t.Fatal("a short secret was accepted")
	}
	if _, err := NewPayments(paySecret, 0); err == nil {
		t.Fatal("a zero window was accepted")
	}
}
