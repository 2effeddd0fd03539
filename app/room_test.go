package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/room"
	"github.com/boxoffice/boxoffice/servicetest"
)

const testQueueSecret = "a-waiting-room-secret-of-32-bytes-or-more"

// setRoom runs boxoffice room set for concert and waits until the gateway
// serves the room (it reads the rooms every second).
func (s *system) setRoom(concert int64, opensAt string, rate, maxActive int, passTTL time.Duration) {
	s.t.Helper()
	cfg := s.cfg
	cfg.RoomConcert, cfg.RoomOpensAt, cfg.RoomRate, cfg.RoomMaxActive, cfg.RoomPassTTL = concert, opensAt, rate, maxActive, passTTL
	if err := app.Room(context.Background(), cfg, "set", io.Discard); err != nil {
		s.t.Fatal(err)
	}
	servicetest.Eventually(s.t, 10*time.Second, "the gateway serves the room", func() (bool, error) {
		r := s.do("GET", fmt.Sprintf("/api/queue/%d", concert), "", nil, nil)
		return r.Status == 200, fmt.Errorf("GET /api/queue/%d: %d", concert, r.Status)
	})
}

func (s *system) join(concert, member int64) reply {
	return s.do("POST", fmt.Sprintf("/api/queue/%d", concert), "application/json", fmt.Appendf(nil, `{"memberId":%d}`, member), nil)
}

func (s *system) me(concert, member int64) reply {
	return s.do("GET", fmt.Sprintf("/api/queue/%d/me?memberId=%d", concert, member), "", nil, nil)
}

// waitQueueStatus polls /me until the member's status is want.
func (s *system) waitQueueStatus(concert, member int64, want string, d time.Duration) reply {
	s.t.Helper()
	var r reply
	servicetest.Eventually(s.t, d, fmt.Sprintf("member %d %s", member, want), func() (bool, error) {
		r = s.me(concert, member)
		return r.Body["status"] == want, fmt.Errorf("status %v (%d %v)", r.Body["status"], r.Status, r.Body)
	})
	return r
}

func (s *system) reserveWithPass(concert, member int64, pass string) reply {
	return s.reserveWith(concert, member, "X-Queue-Pass", pass)
}

func position(r reply) int64 {
	p, _ := r.Body["position"].(float64)
	return int64(p)
}

// stream reads a member's event stream (not through apitest's transport,
// which reads a body to its end) into a channel, closed when it ends.
func (s *system) stream(concert, member int64) (<-chan room.Status, func()) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/queue/%d/stream?memberId=%d", s.url, concert, member), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		s.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan room.Status, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "status":
				var st room.Status
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err == nil {
					out <- st
				}
			}
		}
	}()
	s.t.Cleanup(cancel)
	return out, cancel
}

// until reads statuses until one has status want, and returns them all.
func until(t *testing.T, events <-chan room.Status, want string, d time.Duration) []room.Status {
	t.Helper()
	var seen []room.Status
	deadline := time.After(d)
	for {
		select {
		case st, ok := <-events:
			if !ok {
				t.Fatalf("stream ended before %s; saw %+v", want, seen)
			}
			seen = append(seen, st)
			if st.Status == want {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %s on the stream within %s; saw %+v", want, d, seen)
		}
	}
}

func roomConfig(t *testing.T) config.Config {
	cfg := servicetest.Config(t)
	cfg.QueueSecret = testQueueSecret
	cfg.QueueTick = 50 * time.Millisecond
	return cfg
}

// The whole path: a concert behind a room refuses reservations without a
// pass while the one beside it sells as before; arrivals before the opening
// are drawn into some order of their own, later ones queue first come first
// served; the counter admits at the rate; a pass buys once, for its member
// only; the stream follows a member to admission and ends there.
func TestRoomEndToEnd(t *testing.T) {
	cfg := roomConfig(t)
	cfg.Concerts, cfg.Capacity, cfg.Members = 2, 5, 50
	s := newSystem(t, cfg, true)
	s.setRoom(1, "+3s", 4, 100, time.Minute)

	if r := s.reserveWithPass(1, 1, ""); r.Status != 403 || r.code() != "not_admitted" {
		t.Fatalf("reserve without a pass: %d %v, want 403 not_admitted", r.Status, r.Body)
	}
	if r := s.reserve(2, 1, ""); r.Status != 202 {
		t.Fatalf("reserve on the concert without a room: %d %v, want 202 as before", r.Status, r.Body)
	}
	for m := int64(1); m <= 5; m++ {
		r := s.join(1, m)
		if r.Status != 201 || r.Body["status"] != room.Waiting || r.Body["position"] != nil {
			t.Fatalf("pre-open join of %d: %d %v, want 201 waiting with no position", m, r.Status, r.Body)
		}
	}
	again := s.join(1, 1)
	if again.Status != 200 || again.Body["status"] != room.Waiting {
		t.Fatalf("joining again: %d %v, want 200 and the same ticket", again.Status, again.Body)
	}
	if r := s.me(1, 49); r.Status != 404 || r.code() != "not_queued" {
		t.Fatalf("/me of a member who never joined: %d %v", r.Status, r.Body)
	}
	if r := s.me(2, 1); r.Status != 404 || r.code() != "no_room" {
		t.Fatalf("/me on a concert without a room: %d %v", r.Status, r.Body)
	}
	events, _ := s.stream(1, 5)
	if st := <-events; st.Status != room.Waiting {
		t.Fatalf("the stream's first status: %+v, want waiting", st)
	}

	// The draw: the five pre-open arrivals hold positions 1..5.
	servicetest.Eventually(t, 10*time.Second, "the draw", func() (bool, error) {
		r := s.me(1, 1)
		return r.Body["status"] != room.Waiting, fmt.Errorf("status %v", r.Body["status"])
	})
	var drawn []int64
	for m := int64(1); m <= 5; m++ {
		p := position(s.me(1, m))
		drawn = append(drawn, p)
	}
	sorted := slices.Clone(drawn)
	slices.Sort(sorted)
	if !slices.Equal(sorted, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("pre-open positions %v, want a permutation of 1..5", drawn)
	}
	// Later arrivals: first come, first served, behind them.
	for m := int64(6); m <= 10; m++ {
		if p := position(s.join(1, m)); p != m {
			t.Fatalf("post-open arrival %d got position %d, want %d", m, p, m)
		}
	}
	// The stream follows member 5 to admission, with the pass, and ends.
	seen := until(t, events, room.Admitted, 15*time.Second)
	last := seen[len(seen)-1]
	if last.Pass == "" || last.PassExpiresAt == nil {
		t.Fatalf("admitted on the stream without a pass: %+v", last)
	}
	if _, open := <-events; open {
		t.Fatal("the stream went on after admitted")
	}

	// Everyone admitted, in position order and never ahead of the rate.
	for m := int64(1); m <= 10; m++ {
		s.waitQueueStatus(1, m, room.Admitted, 15*time.Second)
	}
	rec, err := s.stock.RoomRecords(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Cohorts) == 0 || len(rec.Issued) != 10 {
		t.Fatalf("records: %d cohorts, %d passes issued, want some and 10", len(rec.Cohorts), len(rec.Issued))
	}
	start := rec.Cohorts[0].At.Add(-cfg.QueueTick)
	for _, c := range rec.Cohorts {
		// The bucket starts empty at the opening and holds one tick's
		// worth (rate 4 × 50 ms < 1, so 1): never more than that ahead.
		allowed := int64(float64(4)*c.At.Sub(start).Seconds()) + 2
		if c.UpTo > allowed {
			t.Fatalf("cohort %+v: %d admitted %s after the first tick, the rate allows %d", c, c.UpTo, c.At.Sub(start), allowed)
		}
	}

	// A pass buys for its member only, on its concert only.
	pass1, _ := s.me(1, 1).Body["pass"].(string)
	if r := s.reserveWithPass(1, 2, pass1); r.Status != 403 || r.code() != "not_admitted" {
		t.Fatalf("member 2 with member 1's pass: %d %v", r.Status, r.Body)
	}
	if r := s.reserveWithPass(1, 1, "not.a.pass"); r.Status != 403 || r.code() != "not_admitted" {
		t.Fatalf("a forged pass: %d %v", r.Status, r.Body)
	}
	if r := s.reserveWithPass(1, 1, pass1); r.Status != 202 {
		t.Fatalf("member 1 with their pass: %d %v", r.Status, r.Body)
	}
	if r := s.reserveWithPass(1, 1, pass1); r.Status != 409 || r.code() != "already_reserved" {
		t.Fatalf("the same pass again: %d %v, want the one-per-member rule", r.Status, r.Body)
	}
	// The room's view.
	info := s.do("GET", "/api/queue/1", "", nil, nil)
	if info.Body["joined"] != 10.0 || info.Body["admitted"] != 10.0 || info.Body["state"] != "open" || info.Body["identity"] != "body" {
		t.Fatalf("GET /api/queue/1: %v", info.Body)
	}
}

// Out of seats with holds outstanding the room pauses (nobody admitted, no
// "sold out"); when the holds expire it admits again; when the last seats
// are paid, every waiter is told sold out — on the stream and by the
// notifier's topic — and so is a member who joins after.
func TestRoomPausesResumesAndSellsOut(t *testing.T) {
	cfg := roomConfig(t)
	cfg.Capacity, cfg.Members = 2, 50
	cfg.HoldTTL = 2 * time.Second
	s := newSystem(t, cfg, true)
	s.setRoom(1, "now", 50, 100, time.Minute)
	for m := int64(1); m <= 4; m++ {
		s.join(1, m)
	}
	p1 := s.waitQueueStatus(1, 1, room.Admitted, 10*time.Second).Body["pass"].(string)
	p2 := s.waitQueueStatus(1, 2, room.Admitted, 10*time.Second).Body["pass"].(string)
	for m, p := range map[int64]string{1: p1, 2: p2} {
		if r := s.reserveWithPass(1, m, p); r.Status != 202 {
			t.Fatalf("reserve %d: %d %v", m, r.Status, r.Body)
		}
	}
	servicetest.Eventually(t, 10*time.Second, "the room pauses", func() (bool, error) {
		r := s.do("GET", "/api/queue/1", "", nil, nil)
		return r.Body["state"] == "paused", fmt.Errorf("state %v", r.Body["state"])
	})
	s.join(1, 5)
	if r := s.me(1, 5); r.Body["status"] != room.Queued || r.Body["estimatedWaitSeconds"] != nil || r.Body["state"] != "paused" {
		t.Fatalf("a waiter while paused: %v, want queued with no estimate", r.Body)
	}
	time.Sleep(300 * time.Millisecond)
	if r := s.me(1, 5); r.Body["status"] != room.Queued {
		t.Fatalf("admitted while paused: %v", r.Body)
	}
	// The holds expire, the seats come back, the room opens again.
	p5 := s.waitQueueStatus(1, 5, room.Admitted, 20*time.Second).Body["pass"].(string)

	s.join(1, 6)
	events, _ := s.stream(1, 6)
	p3 := s.waitQueueStatus(1, 3, room.Admitted, 10*time.Second).Body["pass"].(string)
	for m, p := range map[int64]string{3: p3, 5: p5} {
		r := s.reserveWithPass(1, m, p)
		if r.Status != 202 {
			t.Fatalf("reserve %d: %d %v", m, r.Status, r.Body)
		}
		s.waitStatus(r.id(), "HELD", 10*time.Second)
		s.transition(r.id(), "confirm")
	}
	// Member 6 was admitted already (50/s) or waits; either way a member
	// joining now is told at once, and the stream says sold out unless
	// it ended on admission first.
	servicetest.Eventually(t, 15*time.Second, "the room sells out", func() (bool, error) {
		r := s.do("GET", "/api/queue/1", "", nil, nil)
		return r.Body["state"] == "sold_out", fmt.Errorf("state %v", r.Body["state"])
	})
	if r := s.join(1, 7); r.Body["status"] != room.SoldOut || r.Body["state"] != "sold_out" {
		t.Fatalf("joining a sold-out room: %v", r.Body)
	}
	late, _ := s.stream(1, 7)
	if st := <-late; st.Status != room.SoldOut {
		t.Fatalf("a sold-out waiter's stream: %+v", st)
	}
	for st := range events {
		if st.Status == room.Admitted || st.Status == room.SoldOut {
			break
		}
	}
	readRoomNotifications(t, cfg.KafkaBrokers, cfg.NotificationsTopic, map[int64]event.Type{1: event.Admitted, 5: event.Admitted, 7: event.SoldOut})
}

// readRoomNotifications reads the topic until each member in want has a
// room notification of that type.
func readRoomNotifications(t *testing.T, brokers []string, topic string, want map[int64]event.Type) {
	t.Helper()
	readNotificationsOf(t, brokers, topic, want, func(n event.Notification) (int64, bool) { return n.MemberID, n.Type.Room() })
}

// A gateway that restarts finds every room where it was: the same
// positions, the counter, and the passes it gave still buy.
func TestRoomSurvivesGatewayRestart(t *testing.T) {
	cfg := roomConfig(t)
	cfg.Capacity, cfg.Members = 10, 50
	s := newSystem(t, cfg, true)
	s.setRoom(1, "now", 2, 100, time.Minute)
	for m := int64(1); m <= 8; m++ {
		s.join(1, m)
	}
	pass := s.waitQueueStatus(1, 1, room.Admitted, 10*time.Second).Body["pass"].(string)
	before := map[int64]int64{}
	for m := int64(1); m <= 8; m++ {
		before[m] = position(s.me(1, m))
	}
	admittedBefore := s.do("GET", "/api/queue/1", "", nil, nil).Body["admitted"].(float64)

	s.restartGateway()

	for m := int64(1); m <= 8; m++ {
		if p := position(s.me(1, m)); p != before[m] {
			t.Fatalf("member %d: position %d after the restart, %d before", m, p, before[m])
		}
	}
	if a := s.do("GET", "/api/queue/1", "", nil, nil).Body["admitted"].(float64); a < admittedBefore {
		t.Fatalf("admitted %v after the restart, %v before", a, admittedBefore)
	}
	if r := s.reserveWithPass(1, 1, pass); r.Status != 202 {
		t.Fatalf("a pass given before the restart: %d %v", r.Status, r.Body)
	}
	s.waitQueueStatus(1, 8, room.Admitted, 15*time.Second)
}

// restartGateway stops the system's gateway and opens a new one on the same
// configuration.
func (s *system) restartGateway() {
	s.t.Helper()
	s.stopGateway()
	s.gw, s.stopGateway = startGateway(s.t, s.cfg)
	s.db, s.stock, s.url = s.gw.DB, s.gw.Stock, "http://"+s.gw.Addr
}

// A room taken off leaves the concert's sale as it was: no pass asked.
func TestRoomOffServesAsBefore(t *testing.T) {
	cfg := roomConfig(t)
	cfg.Capacity, cfg.Members = 5, 10
	s := newSystem(t, cfg, true)
	s.setRoom(1, "+1h", 10, 10, time.Minute)
	if r := s.reserve(1, 1, ""); r.Status != 403 {
		t.Fatalf("with the room on: %d %v", r.Status, r.Body)
	}
	off := s.cfg
	off.RoomConcert = 1
	if err := app.Room(context.Background(), off, "off", io.Discard); err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, 10*time.Second, "the sale is open again", func() (bool, error) {
		r := s.reserve(1, 1, "")
		return r.Status == 202, fmt.Errorf("%d %v", r.Status, r.Body)
	})
	if r := s.do("GET", "/api/queue/1", "", nil, nil); r.Status != 404 || r.code() != "no_room" {
		t.Fatalf("GET /api/queue/1 after off: %d %v", r.Status, r.Body)
	}
	if _, ok, err := s.stock.Room(context.Background(), 1); err != nil || ok {
		t.Fatalf("the room's keys after off: ok %v, err %v", ok, err)
	}
}

// Two gateways tick the same room: one serving counter, at the room's rate
// and never ahead of it, and either gateway answers any member's place and
// honours the other's passes.
func TestRoomTwoGatewaysOneCounter(t *testing.T) {
	cfg := roomConfig(t)
	cfg.Capacity, cfg.Members = 100, 100
	s := newSystem(t, cfg, false)
	ctx := context.Background()
	other, _ := startGateway(t, cfg)
	second := &system{t: t, cfg: cfg, url: "http://" + other.Addr, http: s.http}

	const rate = 20
	// Everyone joins before the opening, so the queue is never what
	// holds the counter back.
	s.setRoom(1, "+4s", rate, 1000, time.Minute)
	servicetest.Eventually(t, 5*time.Second, "the second gateway serves the room", func() (bool, error) {
		r := second.do("GET", "/api/queue/1", "", nil, nil)
		return r.Status == 200, fmt.Errorf("%d %v", r.Status, r.Body)
	})
	for m := int64(1); m <= 60; m++ {
		via := s
		if m%2 == 0 {
			via = second
		}
		if r := via.join(1, m); r.Status != 201 || r.Body["status"] != room.Waiting {
			t.Fatalf("join %d: %d %v", m, r.Status, r.Body)
		}
	}
	servicetest.Eventually(t, 20*time.Second, "half the queue admitted", func() (bool, error) {
		r := s.do("GET", "/api/queue/1", "", nil, nil)
		return r.Body["admitted"] == 30.0 || r.Body["admitted"].(float64) > 30, fmt.Errorf("admitted %v", r.Body["admitted"])
	})
	rec, err := s.stock.RoomRecords(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tick := int64(rate * cfg.QueueTick.Seconds())
	for _, c := range rec.Cohorts {
		if allowed := int64(rate*c.At.Sub(rec.OpensAt).Seconds()) + max(tick, 1) + 1; c.UpTo > allowed {
			t.Fatalf("two gateways: %d admitted %s after the opening, the rate allows %d", c.UpTo, c.At.Sub(rec.OpensAt), allowed)
		}
	}
	last := rec.Cohorts[len(rec.Cohorts)-1]
	if got := float64(last.UpTo) / last.At.Sub(rec.OpensAt).Seconds(); got < rate*0.6 {
		t.Fatalf("two gateways admitted %.1f/s of %d/s", got, rate)
	}
	// Each gateway sees the other's members, and a pass from one buys on the other.
	first := s.waitQueueStatus(1, 2, room.Admitted, 10*time.Second)
	if p := position(second.me(1, 2)); p != position(first) {
		t.Fatalf("member 2: position %d on one gateway, %d on the other", position(first), p)
	}
	if r := second.reserveWithPass(1, 2, first.Body["pass"].(string)); r.Status != 202 {
		t.Fatalf("a pass from the first gateway on the second: %d %v", r.Status, r.Body)
	}
}
