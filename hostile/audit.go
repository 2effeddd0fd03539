package hostile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/boxoffice/boxoffice/bench"
)

// audit waits for the writer to drain (nothing in flight, the rows
// unchanged over two readings) and then checks, per concert, that Redis's
// seats taken, the rows and concerts.remaining agree with the 202s given
// on it, and that each 202's reservation has its active row: no attack
// cost a seat, and none was admitted unseen. ids are the 202s by concert.
func (h *harness) audit(ctx context.Context, ids [3][]string) (Audit, error) {
	var out Audit
	var c1, c2 bench.Counts
	var prev *bench.Counts
	err := waitFor(ctx, 2*time.Minute, func() error {
		a1, err := h.env.Audit(ctx, 1)
		if err != nil {
			return err
		}
		both, err := h.env.Audit(ctx, 2)
		if err != nil {
			return err
		}
		c1, c2 = a1, minus(both, a1)
		defer func() { prev = &both }()
		switch {
		case both.InFlight > 0:
			return fmt.Errorf("%d in flight", both.InFlight)
		case prev == nil || prev.Rows != both.Rows || prev.InFlight > 0:
			return fmt.Errorf("rows %d, waiting for a second reading", both.Rows)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("the writer did not drain: %w", err)
	}
	out.StockOK = true
	var all []string
	for i, c := range []bench.Counts{c1, c2} {
		concert := int64(i + 1)
		a := ConcertAudit{Concert: concert, Capacity: c.Capacity, RedisTaken: c.RedisTaken, Rows: c.Rows,
			Accepted: int64(len(ids[concert])), DBRemaining: c.DBRemaining, InFlight: c.InFlight, Duplicates: c.Duplicates}
		out.Concerts = append(out.Concerts, a)
		out.StockOK = out.StockOK && a.RedisTaken == a.Rows && a.Rows == a.Accepted && a.Capacity-a.DBRemaining == a.Rows && a.Duplicates == 0
		all = append(all, ids[concert]...)
	}
	st, err := h.env.Statuses(ctx, all)
	if err != nil {
		return out, fmt.Errorf("reading the 202s' rows: %w", err)
	}
	var active int64
	for _, id := range all {
		if st[id].Active() {
			active++
		} else {
			out.Lost++
		}
	}
	out.Unknown = c1.Rows + c2.Rows - active
	out.StockOK = out.StockOK && out.Lost == 0 && out.Unknown == 0
	return out, nil
}

// minus is a − b, field by field.
func minus(a, b bench.Counts) bench.Counts {
	return bench.Counts{Capacity: a.Capacity - b.Capacity, RedisTaken: a.RedisTaken - b.RedisTaken, Rows: a.Rows - b.Rows,
		InFlight: a.InFlight - b.InFlight, Duplicates: a.Duplicates - b.Duplicates, DBRemaining: a.DBRemaining - b.DBRemaining}
}

// waitFor polls f every 250 ms until it returns nil, d passes or ctx ends.
func waitFor(ctx context.Context, d time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if sleep(ctx, 250*time.Millisecond) != nil {
			return fmt.Errorf("not within %s: %w", d, err)
		}
	}
}

// signedJWT matches a compact JWS whose header and claims are JSON objects.
var signedJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}`)

// loggedCredentials counts what the gateway's log holds that would let
// its reader act as someone: a member token that verifies under the
// gateway's secret, or either secret itself.
func (h *harness) loggedCredentials() (int64, error) {
	b, err := os.ReadFile(h.gw.LogFile())
	if err != nil {
		return 0, err
	}
	var n int64
	for _, tok := range signedJWT.FindAll(b, -1) {
		parts := bytes.Split(tok, []byte("."))
		want := b64(hs256(h.secret)(bytes.Join(parts[:2], []byte("."))))
		if string(parts[2]) == want {
			n++
		}
	}
	n += int64(bytes.Count(b, h.secret) + bytes.Count(b, h.payment))
	return n, nil
}
