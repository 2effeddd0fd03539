package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice/auth"
)

// The k6 scripts are checked without k6 (it is not installed here, and its
// licence keeps it out of go.mod): node parses each one, and runs lib.js
// with stand-ins for k6's modules (testdata/k6node) so that the tokens it
// mints are checked by the gateway's own verifier. Where k6 is installed,
// TestK6RushWithTokens also runs rush.js against a verifying gateway.

func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("BOX_REQUIRE_SERVICES") == "1" {
			t.Fatal("node is not installed (.ci/run installs nodejs): the k6 scripts are not checked")
		}
		t.Skip("node is not installed: the k6 scripts are not checked")
	}
	return node
}

// k6Scripts are bench/k6/*.js.
func k6Scripts(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("k6/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no k6 scripts found: %v", err)
	}
	return files
}

func TestK6ScriptsParse(t *testing.T) {
	t.Parallel()
	node := needNode(t)
	for _, f := range k6Scripts(t) {
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", f, err, out)
		}
	}
}

// k6Call is one request the k6/http stand-in recorded.
type k6Call struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Body    *string           `json:"body"`
	Headers map[string]string `json:"headers"`
}

// runLib runs testdata/k6node/driver.mjs in mode over lib.js (or token.js)
// with env added to the environment.
func runLib(t *testing.T, env []string, mode, file string, arg any) ([]byte, error) {
	t.Helper()
	node := needNode(t)
	a, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--import", "./testdata/k6node/register.mjs", "testdata/k6node/driver.mjs", mode, file, string(a))
	// Only what the test sets: a BOX_* of the developer's shell must not leak in.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.Bytes(), err
	}
	return out, nil
}

func libCalls(t *testing.T, env []string, members []int) []k6Call {
	t.Helper()
	out, err := runLib(t, env, "requests", "k6/lib.js", members)
	if err != nil {
		t.Fatalf("lib.js under node: %v\n%s", err, out)
	}
	var calls []k6Call
	if err := json.Unmarshal(out, &calls); err != nil {
		t.Fatalf("driver output %q: %v", out, err)
	}
	return calls
}

// bodyMember is the memberId of a reservation body, or the id at the end of
// GET /api/members/{id}.
func bodyMember(t *testing.T, c k6Call) int64 {
	t.Helper()
	if c.Body == nil {
		id, err := strconv.ParseInt(c.URL[strings.LastIndexByte(c.URL, '/')+1:], 10, 64)
		if err != nil {
			t.Fatalf("%s %s: no member in the path", c.Method, c.URL)
		}
		return id
	}
	var b struct{ MemberID int64 }
	if err := json.Unmarshal([]byte(*c.Body), &b); err != nil {
		t.Fatalf("body %q: %v", *c.Body, err)
	}
	return b.MemberID
}

// With the secret, every member request carries that member's token, which
// the gateway's verifier accepts, good for the Go harness's 25 hours.
func TestK6TokensVerify(t *testing.T) {
	t.Parallel()
	const secret = "k6-secret-0123456789abcdef0123456789"
	v, err := auth.NewVerifier(auth.Keys{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	members := []int{1, 2, 42, 999_999}
	for name, env := range map[string][]string{
		"BOX_AUTH_SECRET":      {"BOX_AUTH_SECRET=" + secret},
		"BOX_AUTH_SECRET_FILE": {"BOX_AUTH_SECRET_FILE=" + file},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			calls := libCalls(t, env, members)
			byMember := map[int64]string{}
			checked := 0
			for _, c := range calls {
				if strings.HasSuffix(c.URL, "/healthz") {
					continue
				}
				want := bodyMember(t, c)
				header := c.Headers["Authorization"]
				got, err := v.Member(auth.Bearer(header))
				if err != nil || got != want {
					t.Errorf("%s %s: token %q is member %d, %v; want member %d", c.Method, c.URL, header, got, err, want)
					continue
				}
				if prev, ok := byMember[want]; ok && prev != header {
					t.Errorf("member %d got a second token within one VU: the cache missed", want)
				}
				byMember[want] = header
				var claims jwt.RegisteredClaims
				if _, _, err := jwt.NewParser().ParseUnverified(auth.Bearer(header), &claims); err != nil {
					t.Fatal(err)
				}
				if ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time); ttl != maxRunTime+time.Hour {
					t.Errorf("token good for %s, want %s like the Go harness's", ttl, maxRunTime+time.Hour)
				}
				checked++
			}
			// Four reservations, a repeat, the member read, the probe.
			if checked != len(members)+3 {
				t.Errorf("%d requests with a token checked, want %d: %+v", checked, len(members)+3, calls)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		t.Parallel()
		calls := libCalls(t, []string{"BOX_AUTH_SECRET=another-secret-0123456789abcdef01234"}, []int{7})
		if _, err := v.Member(auth.Bearer(calls[0].Headers["Authorization"])); err == nil {
			t.Error("a token minted with another secret verified")
		}
	})
}

// Without a secret no request carries a token (a --trust-body-member gateway).
func TestK6NoSecretNoToken(t *testing.T) {
	t.Parallel()
	for _, c := range libCalls(t, nil, []int{1, 2}) {
		if h, ok := c.Headers["Authorization"]; ok {
			t.Errorf("%s %s carries Authorization %q without a secret", c.Method, c.URL, h)
		}
	}
}

// A secret the gateway would refuse stops the script before the load.
func TestK6RefusesShortOrDoubleSecret(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"BOX_AUTH_SECRET=short"}, "at least 32"},
		{[]string{"BOX_AUTH_SECRET=k6-secret-0123456789abcdef0123456789", "BOX_AUTH_SECRET_FILE=/nonexistent"}, "not both"},
	} {
		out, err := runLib(t, c.env, "requests", "k6/lib.js", []int{1})
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: err %v, output %s; want a failure saying %q", c.env, err, out, c.want)
		}
	}
}

// token.js's base64url is Go's unpadded URL encoding of the UTF-8 bytes.
func TestK6Base64URL(t *testing.T) {
	t.Parallel()
	in := []string{"", "a", "ab", "abc", "abcd", `{"sub":"42"}`, "é€𝄞", "~~~", "???"}
	out, err := runLib(t, nil, "base64url", "k6/token.js", in)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for i, s := range in {
		if want := base64.RawURLEncoding.EncodeToString([]byte(s)); got[i] != want {
			t.Errorf("base64url(%q) = %q, want %q", s, got[i], want)
		}
	}
}

// Where k6 is installed: rush.js with a secret against a gateway that
// verifies each token (the fake system behind the gateway's verifier).
func TestK6RushWithTokens(t *testing.T) {
	t.Parallel()
	k6, err := exec.LookPath("k6")
	if err != nil {
		t.Skip("k6 is not installed: rush.js is not run (TestK6TokensVerify checks its tokens under node)")
	}
	const secret = "k6-secret-0123456789abcdef0123456789"
	v, err := auth.NewVerifier(auth.Keys{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeSystem()
	_ = f.Reset(context.Background(), 1, 50, 100)
	var verified, refused atomic.Int64
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" || strings.HasPrefix(string(ctx.Path()), "/api/concerts/") {
			f.handle(ctx)
			return
		}
		member, err := v.Member(auth.Bearer(string(ctx.Request.Header.Peek("Authorization"))))
		var body struct{ MemberID int64 }
		if err != nil || json.Unmarshal(ctx.PostBody(), &body) != nil || body.MemberID != member {
			refused.Add(1)
			writeErr(ctx, 401, "unauthorized")
			return
		}
		verified.Add(1)
		f.handle(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k6, "run", "--quiet", "k6/rush.js")
	cmd.Env = append(os.Environ(), "BOX_TARGET="+target, "BOX_AUTH_SECRET="+secret, "BOX_RATE=100", "BOX_DURATION=1s",
		"BOX_CAPACITY=50", "BOX_MEMBERS=100", "BOX_MAX_INFLIGHT=20")
	out, err := cmd.CombinedOutput()
	t.Logf("k6:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	// The probe (concert 0) is verified too and answers 400.
	if refused.Load() != 0 || verified.Load() < 50 {
		t.Fatalf("%d requests verified, %d refused", verified.Load(), refused.Load())
	}
}
