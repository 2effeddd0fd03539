package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/boxoffice/boxoffice"
)

// SignatureHeader carries a payment callback's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of t + "." + body>", the way payment
// providers sign their webhooks. Several v1 values may be given (a sender
// rotating its secret signs with both); one must match.
const SignatureHeader = "Boxoffice-Signature"

// maxSeen bounds the signatures remembered for replay detection. Only
// callbacks that verified are remembered, so only the holder of the secret
// can fill it: 100,000 within a 5-minute window is over 300 confirmations a
// second, and about 10 MB.
const maxSeen = 100_000

// Payments verifies the payment service's signed callbacks. It is safe for
// concurrent use.
type Payments struct {
	secret []byte
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	// seen maps a signature accepted within the window to when it leaves it.
	seen map[string]time.Time
	// sweepAt is when seen is next pruned of what left the window.
	sweepAt time.Time
}

// NewPayments returns a verifier of callbacks signed with secret whose
// timestamp is within window of now (either way: the sender's clock may be
// ahead).
func NewPayments(secret []byte, window time.Duration) (*Payments, error) {
	if len(secret) < minSecret {
		return nil, fmt.Errorf("payment secret is %d bytes; use at least %d (e.g. openssl rand -hex 32)", len(secret), minSecret)
	}
	if window <= 0 {
		return nil, fmt.Errorf("payment window must be positive, got %s", window)
	}
	return &Payments{secret: secret, window: window, now: time.Now, seen: map[string]time.Time{}}, nil
}

// Sign returns the SignatureHeader value of body at t, as the payment
// service computes it.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (the SignatureHeader value) against body and
// remembers the signature, so that the same one is refused until it leaves
// the window. It returns a Receipt to Forget the signature by if the
// callback could not be handled (the sender retries it as it was). Every
// refusal is boxoffice.ErrUnauthorized.
func (p *Payments) Verify(header string, body []byte) (Receipt, error) {
	if header == "" {
		return Receipt{}, fmt.Errorf("%w: no %s header: confirm is the payment service's signed callback", boxoffice.ErrUnauthorized, SignatureHeader)
	}
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: %s: %w", boxoffice.ErrUnauthorized, SignatureHeader, err)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: %s: t is not a unix time", boxoffice.ErrUnauthorized, SignatureHeader)
	}
	now := p.now()
	at := time.Unix(unix, 0)
	if d := now.Sub(at); d > p.window || d < -p.window {
		return Receipt{}, fmt.Errorf("%w: %s: the timestamp is outside the %s window", boxoffice.ErrUnauthorized, SignatureHeader, p.window)
	}
	want := mac(p.secret, ts, body)
	var match string
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			match = s
			break
		}
	}
	if match == "" {
		return Receipt{}, fmt.Errorf("%w: %s does not match the body", boxoffice.ErrUnauthorized, SignatureHeader)
	}
	// The key is the MAC, which covers the timestamp and the body.
	key := strings.ToLower(match)
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.After(p.sweepAt) {
		for k, until := range p.seen {
			if now.After(until) {
				delete(p.seen, k)
			}
		}
		p.sweepAt = now.Add(p.window / 10)
	}
	if until, ok := p.seen[key]; ok && !now.After(until) {
		return Receipt{}, fmt.Errorf("%w: %s was already used (a replay)", boxoffice.ErrUnauthorized, SignatureHeader)
	}
	if len(p.seen) >= maxSeen {
		// Forgetting one would let it be replayed; refusing lets the sender
		// retry once older ones leave the window.
		return Receipt{}, fmt.Errorf("payment callbacks: %d signatures within the window: %w", maxSeen, boxoffice.ErrUnavailable)
	}
	// Remembered until the timestamp leaves the window: after that the
	// window check refuses it.
	p.seen[key] = at.Add(p.window)
	return Receipt{p: p, key: key}, nil
}

// Receipt is an accepted signature.
type Receipt struct {
	p   *Payments
	key string
}

// Forget lets the signature be used again: the callback it came with was
// not handled (a 503), and the sender's retry carries the same one.
func (r Receipt) Forget() {
	if r.p == nil {
		return
	}
	r.p.mu.Lock()
	delete(r.p.seen, r.key)
	r.p.mu.Unlock()
}

// parseSignature splits "t=…,v1=…[,v1=…]"; unknown keys are ignored (a later
// scheme may add some).
func parseSignature(h string) (ts string, sigs []string, err error) {
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, errors.New("want t=<unix>,v1=<hex>")
	}
	return ts, sigs, nil
}
