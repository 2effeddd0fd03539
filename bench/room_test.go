package bench

import (
	"bufio"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// roomFixture is a room that did everything right: 1,000 drawn before
// opening in a random order, 500 FIFO after, 100/s in ticks of 100 ms
// (cohorts of 10), passes of 2 s (so 200 valid at once), 1,200 admitted,
// each pass issued 10 ms after its cohort.
func roomFixture() RoomRecords {
	const pre, post, admitted = 1000, 500, 1200
	open := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	r := RoomRecords{OpensAt: open, Rate: 100, MaxActive: 200, PassTTL: 2 * time.Second, Tick: 100 * time.Millisecond,
		Drawn: pre, Admitted: admitted, SoldOutAt: open.Add(13 * time.Second)}
	perm := rand.New(rand.NewPCG(7, 17)).Perm(pre)
	for i := range pre {
		r.Tickets = append(r.Tickets, RoomTicket{Member: int64(i + 1), Position: int64(perm[i] + 1), PreOpen: true, Seq: int64(i + 1), JoinedAt: open.Add(-time.Minute + time.Duration(i)*time.Millisecond)})
	}
	for i := range post {
		r.Tickets = append(r.Tickets, RoomTicket{Member: int64(pre + i + 1), Position: int64(pre + i + 1), Seq: int64(i + 1), JoinedAt: open.Add(time.Duration(i) * time.Millisecond)})
	}
	for k := 1; k <= admitted/10; k++ {
		at := open.Add(time.Duration(k) * 100 * time.Millisecond)
		r.Cohorts = append(r.Cohorts, RoomCohort{UpTo: int64(10 * k), At: at, ExpiresAt: at.Add(r.PassTTL)})
	}
	reissue(&r)
	return r
}

// reissue gives every admitted ticket its pass 10 ms after the cohort that
// reached its position.
func reissue(r *RoomRecords) {
	r.Issued = map[int64]time.Time{}
	for _, t := range r.Tickets {
		if t.Position < 1 || t.Position > r.Admitted {
			continue
		}
		i := slices.IndexFunc(r.Cohorts, func(c RoomCohort) bool { return c.UpTo >= t.Position })
		r.Issued[t.Member] = r.Cohorts[i].At.Add(10 * time.Millisecond)
	}
}

// ticketAt is the index of the ticket at position p.
func ticketAt(r *RoomRecords, p int64) int {
	return slices.IndexFunc(r.Tickets, func(t RoomTicket) bool { return t.Position == p })
}

func TestRoomAuditsHoldOnAFairRoom(t *testing.T) {
	for _, c := range auditRoom(roomFixture()) {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
}

// Each case breaks one rule; exactly that audit must fail.
func TestRoomAuditsEachFailForItsRule(t *testing.T) {
	cases := []struct {
		name   string
		audit  string
		want   string // in the failing audit's detail
		break_ func(r *RoomRecords)
	}{
		{"a member with two tickets", auditDense, "two tickets", func(r *RoomRecords) {
			// Member 1,500 (not admitted) joins again and gets the next place.
			r.Tickets = append(r.Tickets, RoomTicket{Member: 1500, Position: 1501, Seq: 501, JoinedAt: r.OpensAt.Add(time.Second)})
		}},
		{"a drawn ticket that lost its position", auditDense, "no position after the draw", func(r *RoomRecords) {
			r.Tickets[ticketAt(r, 1000)].Position = 0
			reissue(r)
		}},
		{"two post-open arrivals swapped", auditFIFO, "arrived", func(r *RoomRecords) {
			a, b := ticketAt(r, 1400), ticketAt(r, 1401) // beyond the admitted 1,200
			r.Tickets[a].Position, r.Tickets[b].Position = r.Tickets[b].Position, r.Tickets[a].Position
		}},
		{"a pass past the counter", auditInOrder, "only 1200 admitted", func(r *RoomRecords) {
			r.Issued[r.Tickets[ticketAt(r, 1300)].Member] = r.OpensAt.Add(12 * time.Second)
		}},
		{"a pass before its cohort", auditInOrder, "when the counter stood at", func(r *RoomRecords) {
			r.Issued[r.Tickets[ticketAt(r, 1150)].Member] = r.OpensAt.Add(time.Second) // counter at 100 then
		}},
		{"the pre-open draw in arrival order", auditShuffle, "Spearman", func(r *RoomRecords) {
			for i := range r.Tickets {
				if r.Tickets[i].PreOpen {
					r.Tickets[i].Position = r.Tickets[i].Seq
				}
			}
			reissue(r)
		}},
		{"the earliest tenth kept at the front", auditShuffle, "arrivals 1–100", func(r *RoomRecords) {
			// The first tenth takes positions 1..100 and the second tenth
			// 901..1000, each in a random order, the rest shuffled between:
			// ρ stays small, the tenths' means do not.
			rng := rand.New(rand.NewPCG(3, 4))
			front, back, middle := rng.Perm(100), rng.Perm(100), rng.Perm(800)
			for i := range r.Tickets {
				tk := &r.Tickets[i]
				switch s := int(tk.Seq); {
				case !tk.PreOpen:
				case s <= 100:
					tk.Position = int64(front[s-1] + 1)
				case s <= 200:
					tk.Position = int64(900 + back[s-101] + 1)
				default:
					tk.Position = int64(100 + middle[s-201] + 1)
				}
			}
			reissue(r)
		}},
		{"the counter ahead of the rate", auditRate, "the rate allows", func(r *RoomRecords) {
			// From the 50th step on, 3 ticks' worth more than the rate allows.
			for i := 49; i < len(r.Cohorts); i++ {
				r.Cohorts[i].UpTo += 30
			}
			r.Admitted += 30
			r.MaxActive = 1000 // the bigger steps are more valid at once
			for i := range 30 {
				r.Tickets = append(r.Tickets, RoomTicket{Member: int64(1501 + i), Position: int64(1501 + i), Seq: int64(501 + i)})
			}
			reissue(r)
		}},
		{"steps ahead of the time since the opening", auditRate, "after the opening: the rate allows", func(r *RoomRecords) {
			// Every step 150 ms early: 20 admitted 50 ms after the opening.
			for i := range r.Cohorts {
				r.Cohorts[i].At = r.Cohorts[i].At.Add(-150 * time.Millisecond)
				r.Cohorts[i].ExpiresAt = r.Cohorts[i].ExpiresAt.Add(-150 * time.Millisecond)
			}
			reissue(r)
		}},
		{"more valid passes than maxActive", auditMaxActive, "maxActive is 150", func(r *RoomRecords) {
			r.MaxActive = 150
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := roomFixture()
			tc.break_(&r)
			failed := 0
			for _, c := range auditRoom(r) {
				switch {
				case c.Name == tc.audit && c.OK:
					t.Errorf("%s held: %s", c.Name, c.Detail)
				case c.Name == tc.audit && !strings.Contains(c.Detail, tc.want):
					t.Errorf("%s failed for another reason: %s (want %q)", c.Name, c.Detail, tc.want)
				case c.Name != tc.audit && !c.OK:
					t.Errorf("%s failed too: %s", c.Name, c.Detail)
				}
				if !c.OK {
					failed++
				}
			}
			if failed == 0 {
				t.Error("no audit failed")
			}
		})
	}
}

// The shuffle audit's bound is not so tight that fair draws fail it.
func TestRoomShuffleAuditPassesFairDraws(t *testing.T) {
	for seed := range uint64(200) {
		r := roomFixture()
		perm := rand.New(rand.NewPCG(seed, 99)).Perm(int(r.Drawn))
		for i := range r.Tickets {
			if r.Tickets[i].PreOpen {
				r.Tickets[i].Position = int64(perm[r.Tickets[i].Seq-1] + 1)
			}
		}
		if c := auditPreOpenRandom(r); !c.OK {
			t.Fatalf("seed %d: a fair draw failed: %s", seed, c.Detail)
		}
	}
}

func TestRoomReservationAudits(t *testing.T) {
	rec := roomFixture()
	good := roomBuys{Capacity: 1000, Accepted: 2, Confirmed: 2, Members: []int64{rec.Tickets[ticketAt(&rec, 1)].Member, rec.Tickets[ticketAt(&rec, 2)].Member},
		NoPass: 5, NoPassRefused: 5, WrongPass: 5, WrongPassRefused: 5}
	counts := Counts{Capacity: 1000, RedisTaken: 2, Rows: 2, DBRemaining: 998}
	cases := []struct {
		name   string
		audit  string
		change func(b *roomBuys, c *Counts)
	}{
		{"fine", "", func(*roomBuys, *Counts) {}},
		{"more confirmed than seats", auditNoOversell, func(b *roomBuys, _ *Counts) { b.Capacity = 1 }},
		{"accepted past the seats, an unpaid hold expired", "", func(b *roomBuys, _ *Counts) { b.Accepted, b.Capacity = 3, 2 }},
		{"more rows than seats", auditNoOversell, func(_ *roomBuys, c *Counts) { c.Rows, c.RedisTaken, c.Capacity, c.DBRemaining = 2, 2, 1, -1 }},
		{"accepted for a member without a pass", auditPassNeeded, func(b *roomBuys, _ *Counts) { b.Members[1] = 1499 }},
		{"accepted without a pass", auditPassNeeded, func(b *roomBuys, _ *Counts) { b.BadAccepted = 1 }},
		{"a reservation without a pass not refused", auditRefused, func(b *roomBuys, _ *Counts) { b.NoPassRefused = 4 }},
		{"another member's pass not refused", auditRefused, func(b *roomBuys, _ *Counts) { b.WrongPassRefused = 0 }},
		{"never tried", auditRefused, func(b *roomBuys, _ *Counts) {
			*b = roomBuys{Capacity: 1000, Accepted: 2, Confirmed: 2, Members: b.Members}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, c := good, counts
			b.Members = slices.Clone(good.Members)
			tc.change(&b, &c)
			for _, ch := range auditReservations(b, c, rec) {
				if (ch.Name == tc.audit) == ch.OK {
					t.Errorf("%s: ok %t: %s", ch.Name, ch.OK, ch.Detail)
				}
			}
		})
	}
}

func TestSoldOutReach(t *testing.T) {
	at := time.Date(2026, 12, 2, 4, 0, 10, 0, time.UTC)
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	streams := []streamView{
		{Connected: ms(-5000), SoldOut: ms(10)},
		{Connected: ms(-5000), SoldOut: ms(30)},
		{Connected: ms(-5000), SoldOut: ms(-1)},                   // a receipt a hair early counts as 0
		{Connected: ms(-5000)},                                    // never heard it
		{Connected: ms(-5000), Admitted: ms(-100)},                // admitted before: not a waiter
		{Connected: ms(500), SoldOut: ms(500)},                    // joined after: not a waiter
		{},                                                        // never connected
		{Connected: ms(-5000), Admitted: ms(50), SoldOut: ms(20)}, // told, then (seats back) admitted
	}
	got := soldOutReach(at, streams)
	want := SoldOutReach{Waiters: 5, Reached: 4, Never: 1, P50Ms: 10, P99Ms: 30, MaxMs: 30}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if c := auditSoldOut(RoomRecords{SoldOutAt: at}, got); c.OK {
		t.Errorf("one waiter never told, yet %s", c.Detail)
	}
	if got := soldOutReach(time.Time{}, streams); got != (SoldOutReach{}) {
		t.Errorf("no sell-out: %+v", got)
	}
}

func TestReadSSE(t *testing.T) {
	long := strings.Repeat("x", 3000) // past the reader's buffer
	in := "retry: 3000\n\n: keepalive\n\nevent: status\ndata: {\"status\":\"queued\"}\n\n" +
		"event: status\r\ndata: a\r\ndata: b\r\n\r\n" + "data: " + long + "\n\n" + "event: status\ndata: {\"status\":\"admitted\"}\n\n" + "event: status\ndata: after\n\n"
	type ev struct{ event, data string }
	var got []ev
	err := readSSE(bufio.NewReaderSize(strings.NewReader(in), 64), func(event string, data []byte) bool {
		got = append(got, ev{event, string(data)})
		return !strings.Contains(string(data), "admitted")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ev{{"status", `{"status":"queued"}`}, {"status", "a\nb"}, {"message", long}, {"status", `{"status":"admitted"}`}}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestJSONString(t *testing.T) {
	for _, tc := range []struct{ in, key, want string }{
		{`{"concertId":1,"status":"sold_out","state":"sold_out"}`, "status", "sold_out"},
		{`{"status":"admitted","pass":"eyJ.a.b"}`, "pass", "eyJ.a.b"},
		{`{"status": "queued"}`, "status", "queued"}, // not compact: decoded
		{`{"status":"a\"b"}`, "status", `a"b`},       // escaped: decoded
		{`{"position":null}`, "status", ""},
	} {
		if got := jsonString([]byte(tc.in), tc.key); got != tc.want {
			t.Errorf("jsonString(%s, %s) = %q, want %q", tc.in, tc.key, got, tc.want)
		}
	}
}

func TestRoomOptions(t *testing.T) {
	o, err := parseRoom(nil, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Arrivals != 100_000 || o.PreOpen != 10_000 || o.Rate != 1_000 || o.Capacity != 1_000 || o.Streams != 10_000 {
		t.Errorf("defaults %+v: want issue 17's sizes", o)
	}
	for _, args := range [][]string{{"--pre-open", "11"}, {"--streams", "20000", "--arrivals", "30000"}, {"--hold", "2"}, {"--rate", "0"}} {
		if _, err := parseRoom(append([]string{"--arrivals", "10"}, args...), func(string) string { return "" }, nil); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestFlagDuration(t *testing.T) {
	for _, tc := range []struct {
		flags string
		want  time.Duration
	}{
		{"--queue-tick 50ms", 50 * time.Millisecond},
		{"--soldout-ttl 0 -queue-tick=20ms", 20 * time.Millisecond},
		{"--queue-tick", 0},
		{"--queue-ticks 5ms", 0},
		{"", 0},
	} {
		if got := flagDuration(tc.flags, "queue-tick"); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.flags, got, tc.want)
		}
	}
}

func TestAdmissionPace(t *testing.T) {
	r := roomFixture()                                                                            // 120 steps of 10, 100 ms apart
	r.Cohorts = append(r.Cohorts, RoomCohort{UpTo: 1210, At: r.Cohorts[119].At.Add(time.Minute)}) // a pause, then more
	steps, perS, gap := admissionPace(r.Cohorts, 1000)
	if steps != 100 || math.Abs(perS-990/9.9) > 0.01 || math.Abs(gap-100) > 0.01 {
		t.Errorf("up to 1000: %d steps, %.2f/s, %.2f ms apart", steps, perS, gap)
	}
	if steps, _, _ := admissionPace(r.Cohorts, 5000); steps != 121 {
		t.Errorf("never reached: %d steps, want them all", steps)
	}
}
