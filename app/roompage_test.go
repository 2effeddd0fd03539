package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/servicetest"
)

// The waiting room's page (room/web), driven in headless Chromium through
// the whole flow against a gateway and a writer on the real services: join
// before the opening (waiting), the draw (a position), admitted, reserve, the
// hold's countdown; for general admission with a member token in the link,
// and for a seated concert (dev mode's member id, the seat map). A second
// member queued behind a sold-out concert is shown "sold out".
//
// No step depends on how fast the machine is: each room is set to open in
// 10 minutes and moved to 3 s from then once the page has joined (so the
// page is seen waiting), and is kept "paused" after its opening (its seats
// are all held by other members before the room is set), so the position
// stays on screen until the test cancels a hold and the seats come back.
//
// BOX_SCREENSHOTS=docs/room (make room-screenshots) writes a PNG of each
// step there (a relative path is taken from the repository's root); without
// it they go to a temporary directory.
func TestRoomPage(t *testing.T) {
	chrome := chromium(t)
	shots := screenshotDir(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1000, 700))
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root (CI runs as root).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}

	t.Run("general admission", func(t *testing.T) { roomPageGeneral(t, browser, shots) })
	t.Run("seated", func(t *testing.T) { roomPageSeated(t, browser, shots) })
}

func roomPageGeneral(t *testing.T, browser context.Context, shots string) {
	cfg := servicetest.Config(t)
	cfg.TrustBodyMember = false
	cfg.AuthSecret, cfg.PaymentSecret = testAuthSecret, testPaymentSecret
	cfg.Capacity, cfg.Members, cfg.HoldTTL, cfg.Strategies = 1, 10, 2*time.Minute, "async"
	s := newSystem(t, cfg, true)

	// The one seat is held by member 9 before the room exists, so the room
	// opens paused.
	first := s.reserveAs(token(t, 9), `{"concertId":1}`)
	if first.Status != 202 {
		t.Fatalf("member 9's hold before the room: %d %v", first.Status, first.Body)
	}
	s.waitStatusAs(first.id(), token(t, 9), "HELD")
	// The room opens in 10 minutes, and is moved to 3 s from now once the
	// page has joined: no machine is too slow to see "waiting". One pass at
	// a time: member 2 stays queued while member 1 is admitted.
	s.pageRoom(10*time.Minute, 10, 1, 5*time.Minute)

	site := s.viaSpec()
	a := openPage(t, browser, shots, "ga")
	a.navigate(site + "/queue/1#token=" + token(t, 1))
	a.waitPhase("ready", 20*time.Second)
	if hash := a.eval("location.hash"); hash != "" {
		t.Fatalf("the token stays in the address bar: location.hash %q", hash)
	}
	if who := a.text("#who"); !strings.Contains(who, "member 1") {
		t.Fatalf("the page does not say who the token is: %q", who)
	}
	a.shot("1-join", "")
	// Without a mouse: the page puts the focus on Join.
	a.do("press Enter on Join", chromedp.KeyEvent(kb.Enter))
	a.waitPhase("waiting", 10*time.Second)
	if cd := a.text("#countdown"); !regexp.MustCompile(`^The draw is in (10|9):\d\d\.$`).MatchString(cd) {
		t.Fatalf("no countdown to the opening while waiting: %q", cd)
	}
	a.shot("2-waiting", "")
	opensAt := s.pageRoom(3*time.Second, 10, 1, 5*time.Minute)

	a.waitPhase("queued", time.Until(opensAt)+15*time.Second)
	if pos := a.text("#position"); pos != "1" {
		t.Fatalf("position after the draw: %q, want 1", pos)
	}
	if state := a.text("#room-state"); !strings.HasPrefix(state, "paused") {
		t.Fatalf("room state on the page: %q, want paused (the one seat is held)", state)
	}
	a.shot("3-in-line", "")

	b := openPage(t, browser, shots, "ga")
	b.navigate(site + "/queue/1#token=" + token(t, 2))
	b.waitPhase("ready", 20*time.Second)
	b.do("click Join", chromedp.Click("#join"))
	b.waitPhase("queued", 10*time.Second)
	if pos := b.text("#position"); pos != "2" {
		t.Fatalf("second member's position: %q, want 2", pos)
	}

	// Member 9 cancels: the seat comes back, the room opens, member 1 is
	// admitted.
	if r := s.do("POST", "/api/reservations/"+first.id()+"/cancel", "", nil, bearer(token(t, 9))); r.Status != 200 {
		t.Fatalf("cancel member 9's hold: %d %v", r.Status, r.Body)
	}
	a.waitPhase("admitted", 30*time.Second)
	a.waitVisible("#reserve-ga", 10*time.Second)
	if left := a.text("#pass-remaining"); !regexp.MustCompile(`^[45]:\d\d$`).MatchString(left) {
		t.Fatalf("the pass's time left: %q, want about 5:00", left)
	}
	a.shot("4-admitted", "")
	if phase := b.phase(); phase != "queued" {
		t.Fatalf("member 2 is %q while member 1 holds the one pass (max-active 1)", phase)
	}

	a.do("press Enter on Reserve", chromedp.KeyEvent(kb.Enter))
	a.waitPhase("held", 30*time.Second)
	id := a.text("#reservation-id")
	if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`).MatchString(id) {
		t.Fatalf("reservation id on the page: %q", id)
	}
	if left := a.text("#hold-remaining"); !regexp.MustCompile(`^[12]:\d\d$`).MatchString(left) {
		t.Fatalf("the hold's countdown: %q, want under the 2 min hold", left)
	}
	s.waitStatusAs(id, token(t, 1), "HELD")
	a.shot("5-held", "")

	// Paid: nothing can come back, the room is sold out, and member 2 is
	// told.
	body := []byte(`{"reservationId":"` + id + `"}`)
	sig := auth.Sign([]byte(testPaymentSecret), body, time.Now())
	if r := s.confirmSigned(id, sig, body); r.Status != 200 {
		t.Fatalf("confirm: %d %v", r.Status, r.Body)
	}
	b.waitPhase("sold_out", 30*time.Second)
	if line := b.text("#status-line"); !strings.HasPrefix(line, "Sold out.") {
		t.Fatalf("member 2 is shown %q", line)
	}
	b.shot("6-sold-out", "")
	a.waitPhase("confirmed", 15*time.Second)
}

func roomPageSeated(t *testing.T, browser context.Context, shots string) {
	cfg := seatedConfig(t, 20, 2*time.Minute)
	cfg.Sections, cfg.Rows, cfg.SeatsPerRow = 2, 2, 6
	s := newSystem(t, cfg, true)

	// All 24 seats held before the room exists, three to an order (members 11..18).
	orders := map[int64][]string{}
	for i, sec := range []string{"A-1", "A-2", "B-1", "B-2"} {
		for half := range 2 {
			var seats []string
			for n := 1; n <= 3; n++ {
				seats = append(seats, fmt.Sprintf("%s-%d", sec, half*3+n))
			}
			member := int64(11 + 2*i + half)
			orders[member] = seats
		}
	}
	ids := map[int64]string{}
	for member, seats := range orders {
		r := s.reserveBody(fmt.Sprintf(`{"concertId":1,"memberId":%d,"seats":["%s"]}`, member, strings.Join(seats, `","`)))
		if r.Status != 202 {
			t.Fatalf("member %d's hold of %v: %d %v", member, seats, r.Status, r.Body)
		}
		ids[member] = r.id()
	}
	for _, id := range ids {
		s.waitStatus(id, "HELD", 10*time.Second)
	}
	s.pageRoom(10*time.Minute, 10, 5, 5*time.Minute)

	p := openPage(t, browser, shots, "seated")
	p.navigate(s.viaSpec() + "/queue/1")
	p.waitPhase("ready", 20*time.Second)
	p.waitVisible("#member", 5*time.Second)
	// Dev mode (--trust-body-member): a member id, typed; Enter submits.
	p.do("type the member id", chromedp.SendKeys("#member", "3"+kb.Enter))
	p.waitPhase("waiting", 10*time.Second)
	p.shot("1-waiting", "")
	opensAt := s.pageRoom(3*time.Second, 10, 5, 5*time.Minute)
	p.waitPhase("queued", time.Until(opensAt)+15*time.Second)
	if pos := p.text("#position"); pos != "1" {
		t.Fatalf("position after the draw: %q, want 1", pos)
	}

	// Member 12 (A-1-4..6) cancels: those three seats come back.
	if r := s.transition(ids[12], "cancel"); r.Status != 200 {
		t.Fatalf("cancel member 12's hold: %d %v", r.Status, r.Body)
	}
	p.waitPhase("admitted", 30*time.Second)
	p.waitVisible("#seatmap button.seat", 10*time.Second)
	var free []string
	servicetest.Eventually(t, 10*time.Second, "the map shows the seats that came back", func() (bool, error) {
		free = strings.Fields(p.eval(`Array.from(document.querySelectorAll('#seatmap button.seat:not([disabled])'), b => b.dataset.seat).join(' ')`))
		return slices.Equal(free, orders[12]), fmt.Errorf("free on the map: %v, want %v", free, orders[12])
	})
	if n := p.eval(`String(document.querySelectorAll('#seatmap button.seat').length)`); n != "24" {
		t.Fatalf("the map draws %s seats, want 24", n)
	}
	// One seat by mouse, the next with the keyboard.
	p.do("click A-1-4", chromedp.Click(`button[data-seat="A-1-4"]`))
	p.do("Tab to A-1-5 and press Space", chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(" "))
	if sel := p.text("#selected"); sel != "A-1-4, A-1-5" {
		t.Fatalf("selected: %q, want A-1-4, A-1-5", sel)
	}
	p.shot("2-seat-map", "admitted")

	p.do("click Reserve", chromedp.Click("#reserve-seats"))
	p.waitPhase("held", 30*time.Second)
	if seats := p.text("#reservation-seats"); seats != "A-1-4, A-1-5" {
		t.Fatalf("seats of the reservation on the page: %q", seats)
	}
	if left := p.text("#hold-remaining"); !regexp.MustCompile(`^[12]:\d\d$`).MatchString(left) {
		t.Fatalf("the hold's countdown: %q", left)
	}
	if got := seatsOf(s.do("GET", "/api/reservations/"+p.text("#reservation-id"), "", nil, nil)); !slices.Equal(got, []string{"A-1-4", "A-1-5"}) {
		t.Fatalf("the reservation's seats in the API: %v", got)
	}
	p.shot("3-held", "")
}

// pageRoom gives concert 1 a waiting room with boxoffice room set (again: a
// room not yet open takes a new opening time), and waits until the gateway
// serves it; it returns the opening time.
func (s *system) pageRoom(opensIn time.Duration, rate, maxActive int, passTTL time.Duration) time.Time {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := s.cfg
	cfg.RoomConcert, cfg.RoomOpensAt, cfg.RoomRate, cfg.RoomMaxActive, cfg.RoomPassTTL = 1, "+"+opensIn.String(), rate, maxActive, passTTL
	var out bytes.Buffer
	if err := app.Room(ctx, cfg, "set", &out); err != nil {
		s.t.Fatalf("room set: %v", err)
	}
	var room struct {
		OpensAt time.Time `json:"opensAt"`
	}
	if err := json.Unmarshal(out.Bytes(), &room); err != nil || room.OpensAt.IsZero() {
		s.t.Fatalf("room set printed %q: %v", out.String(), err)
	}
	// The gateways read the rooms from MySQL every second.
	servicetest.Eventually(s.t, 10*time.Second, "the gateway serves the room", func() (bool, error) {
		got := s.do("GET", "/api/queue/1", "", nil, nil)
		opens, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(got.Body["opensAt"]))
		return got.Status == 200 && opens.UnixMilli() == room.OpensAt.UnixMilli(), fmt.Errorf("%d %v", got.Status, got.Body)
	})
	return room.OpensAt
}

// viaSpec is the address the browser uses: a proxy in front of the gateway
// that sends every exchange through apitest's transport, so what the page
// sends and is answered is held to api/openapi.yaml like the tests' own —
// all but the event stream, whose body apitest would read to its end (and
// it ends only at admission).
func (s *system) viaSpec() string {
	s.t.Helper()
	target, err := url.Parse(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	// Not http.DefaultTransport: apitest.Main has wrapped it already.
	plain := &http.Transport{}
	s.t.Cleanup(plain.CloseIdleConnections)
	checked := apitest.Transport(plain)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
			if strings.HasSuffix(req.URL.Path, "/stream") {
				return plain.RoundTrip(req)
			}
			return checked.RoundTrip(req)
		}),
		FlushInterval: -1,
	}
	srv := httptest.NewServer(proxy)
	s.t.Cleanup(func() {
		srv.CloseClientConnections() // a sold-out member's stream stays open
		srv.Close()
	})
	return srv.URL
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// chromium finds the browser: BOX_CHROMIUM, else chromium on the PATH. In CI
// (.ci/run installs Debian's chromium) a missing one fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser"}
	if p := os.Getenv("BOX_CHROMIUM"); p != "" {
		names = []string{p}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no browser (%s; apt-get install chromium, or set BOX_CHROMIUM): the waiting room's page is not tested", strings.Join(names, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BOX_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		root, err := filepath.Abs("..") // the test runs in app/
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// maxScreenshot keeps the committed PNGs small (docs/room).
const maxScreenshot = 200 << 10

// page is one member's tab, in a browser context of its own (its own
// sessionStorage), with a 1000×700 viewport.
type page struct {
	t      *testing.T
	ctx    context.Context
	prefix string
	shots  string
}

func openPage(t *testing.T, browser context.Context, shots, prefix string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	p := &page{t: t, ctx: ctx, prefix: prefix, shots: shots}
	p.do("set the viewport", chromedp.EmulateViewport(1000, 700))
	return p
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *page) navigate(url string) {
	p.t.Helper()
	p.do("open "+strings.SplitN(url, "#", 2)[0], chromedp.Navigate(url))
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return strings.TrimSpace(p.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel)))
}

func (p *page) phase() string { return p.eval(`document.body.dataset.phase || ''`) }

// waitPhase waits until the page shows phase (body[data-phase]); the
// failure says what it showed instead.
func (p *page) waitPhase(phase string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := p.phase()
		if got == phase {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the page did not show %q within %s: it shows %q (%q), error %q; its log: %s",
				phase, within, got, p.text("#status-line"), p.text("#error"), p.text("#log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *page) waitVisible(sel string, within time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			p.t.Fatalf("%s is not shown within %s (phase %q)", sel, within, p.phase())
		}
		p.t.Fatalf("wait for %s: %v", sel, err)
	}
}

// shot writes a PNG of the viewport as <prefix>-<name>.png, scrolled to the
// section with id scrollTo first (none: the top).
func (p *page) shot(name, scrollTo string) {
	p.t.Helper()
	scroll := `window.scrollTo(0, 0)`
	if scrollTo != "" {
		scroll = fmt.Sprintf(`document.getElementById(%q).scrollIntoView({block: "start"})`, scrollTo)
	}
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](scroll+"; true")); err != nil {
		p.t.Fatalf("scroll for %s: %v", name, err)
	}
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) > maxScreenshot {
		p.t.Fatalf("screenshot %s is %d KB, over %d KB", name, len(png)>>10, maxScreenshot>>10)
	}
	file := filepath.Join(p.shots, p.prefix+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
