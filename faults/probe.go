package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/boxoffice/boxoffice/app"
)

// The probes reserve seats of a concert of their own (the one after the
// rush's, cluster.probeConcert), so that they never take a seat of the rush
// they watch.
const (
	probeCapacity = 1_000_000
	// probeMembers is where the probes' member ids start, far above the rush's.
	probeMembers = 10_000_000
	// probeRound is how many reservations a round sends at once. The
	// gateway keys each event by its new id, so the partition of a probe is
	// chance: 16 reach all 4 partitions 96% of the time, and a round only
	// succeeds when every partition is being written again.
	probeRound = 16
	// probePause is the pause between two failed rounds.
	probePause = 200 * time.Millisecond
)

// prober measures recovery end to end: a round of reservations through the
// live gateways, each answered 202 and each then found as a row in MySQL.
type prober struct {
	c   *cluster
	env *app.BenchEnv
	hc  *http.Client

	mu  sync.Mutex
	ids []string // every 202 a probe got
}

func newProber(c *cluster, env *app.BenchEnv) *prober {
	return &prober{c: c, env: env, hc: &http.Client{Timeout: 5 * time.Second}}
}

// acceptedIDs are the ids of every 202 the probes got.
func (p *prober) acceptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids...)
}

// round sends probeRound reservations at once and, when all got 202, waits
// up to rowWait for all their rows. ok is true when both held.
func (p *prober) round(ctx context.Context, rowWait time.Duration) (ok bool, err error) {
	gws := p.c.liveGateways()
	if len(gws) == 0 {
		return false, fmt.Errorf("no gateway running")
	}
	ids := make([]string, probeRound)
	errs := make([]error, probeRound)
	var wg sync.WaitGroup
	for i := range probeRound {
		addr := gws[i%len(gws)].addr
		member := p.c.probeMember.Add(1)
		wg.Go(func() { ids[i], errs[i] = p.reserve(ctx, addr, member) })
	}
	wg.Wait()
	var got []string
	for _, id := range ids {
		if id != "" {
			got = append(got, id)
		}
	}
	p.mu.Lock()
	p.ids = append(p.ids, got...)
	p.mu.Unlock()
	for _, err := range errs {
		if err != nil {
			return false, err
		}
	}
	err = waitUntil(ctx, rowWait, "probe rows", func() error {
		st, err := p.env.Statuses(ctx, got)
		if err != nil {
			return err
		}
		for _, id := range got {
			if !st[id].Active() {
				return fmt.Errorf("%d of %d probe rows written", len(st), len(got))
			}
		}
		return nil
	})
	return err == nil, err
}

// reserve sends one reservation and returns its id when answered 202.
func (p *prober) reserve(ctx context.Context, addr string, member int64) (string, error) {
	body := `{"concertId":` + strconv.Itoa(p.c.probeConcert()) + `,"memberId":` + strconv.FormatInt(member, 10) + `}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/reservations/async", bytes.NewBufferString(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("probe: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var r struct {
		ReservationID string `json:"reservationId"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.ReservationID == "" {
		return "", fmt.Errorf("probe: 202 without a reservation id: %s", b)
	}
	return r.ReservationID, nil
}

// recover runs rounds until one succeeds or within passes, and returns how
// long after from the successful round's last row was seen.
func (p *prober) recover(ctx context.Context, from time.Time, within time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		ok, err := p.round(ctx, time.Until(from.Add(within)))
		if ok {
			return time.Since(from), nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no round of %d probes got 202 and its rows within %s of the fault's end (last: %v)", probeRound, within, last)
		case <-time.After(probePause):
		}
	}
}
