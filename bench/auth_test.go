package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice/auth"
)

// With --auth-secret each request carries its member's token: a verifying
// gateway (here a wrapper around the fake one) accepts every one of them.
func TestTokenPerMember(t *testing.T) {
	t.Parallel()
	secret := "bench-secret-0123456789abcdef0123"
	v, err := auth.NewVerifier(auth.Keys{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeSystem()
	var verified, refused atomic.Int64
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			f.handle(ctx)
			return
		}
		member, err := v.Member(auth.Bearer(string(ctx.Request.Header.Peek("Authorization"))))
		var body struct{ MemberID int64 }
		if err != nil || json.Unmarshal(ctx.PostBody(), &body) != nil || (body.MemberID != 0 && body.MemberID != member) {
			refused.Add(1)
			writeErr(ctx, 401, "unauthorized")
			return
		}
		verified.Add(1)
		f.handle(ctx)
	})
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, []string{"compare", "--strategies", "async", "--rate", "500", "--duration", "200ms", "--capacity", "50",
		"--members", "100", "--target", target, "--quiet", "--audit-every", "20ms", "--drain-timeout", "3s"}, &stdout, &stderr, f,
		func(k string) string {
			if k == "BOX_AUTH_SECRET" {
				return secret // as the gateway's own variable would be
			}
			return ""
		})
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	if refused.Load() != 0 || verified.Load() < 50 {
		t.Fatalf("%d requests verified, %d refused", verified.Load(), refused.Load())
	}
	if !strings.Contains(stderr.String(), "HS256 token") {
		t.Errorf("no note of the tokens: %s", stderr.String())
	}
}

// Without the secret, a verifying gateway's strategies are skipped with the
// reason, not run into a wall of 401s.
func TestNoTokenForAVerifyingGateway(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			f.handle(ctx)
			return
		}
		writeErr(ctx, 401, "unauthorized")
	})
	var stdout, stderr bytes.Buffer
	_ = run(context.Background(), []string{"compare", "--strategies", "async", "--rate", "100", "--duration", "100ms",
		"--members", "10", "--target", target, "--quiet"}, &stdout, &stderr, nil, noEnv)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if !strings.Contains(stdout.String()+stderr.String(), "--auth-secret-file") {
		t.Fatalf("no word of the secret:\n%s\n%s", stdout.String(), stderr.String())
	}
}
