package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/auth"
)

func TestPasses(t *testing.T) {
	p, err := auth.NewPasses([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewPasses([]byte(strings.Repeat("o", 32)))
	now := time.Now()
	sign := func(p *auth.Passes, kind string, concert, member int64, exp time.Time) string {
		tok, err := p.Sign(kind, concert, member, exp, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	pass := sign(p, auth.KindPass, 1, 7, now.Add(time.Minute))
	for _, c := range []struct {
		name    string
		kind    string
		token   string
		concert int64
		want    error // nil: member 7
		says    string
	}{
		{"a pass", auth.KindPass, pass, 1, nil, ""},
		{"a ticket", auth.KindTicket, sign(p, auth.KindTicket, 1, 7, now.Add(time.Hour)), 1, nil, ""},
		{"another concert's pass", auth.KindPass, pass, 2, boxoffice.ErrNotAdmitted, "concert 1, not 2"},
		{"a ticket for a pass", auth.KindPass, sign(p, auth.KindTicket, 1, 7, now.Add(time.Hour)), 1, boxoffice.ErrNotAdmitted, "a ticket, not a pass"},
		{"a pass for a ticket", auth.KindTicket, pass, 1, boxoffice.ErrUnauthorized, "a pass, not a ticket"},
		{"expired", auth.KindPass, sign(p, auth.KindPass, 1, 7, now.Add(-time.Minute)), 1, boxoffice.ErrNotAdmitted, "expired"},
		{"another key", auth.KindPass, sign(other, auth.KindPass, 1, 7, now.Add(time.Minute)), 1, boxoffice.ErrNotAdmitted, "not valid"},
		{"tampered", auth.KindPass, pass[:len(pass)-2] + "AA", 1, boxoffice.ErrNotAdmitted, "not valid"},
		{"garbage", auth.KindPass, "not.a.pass", 1, boxoffice.ErrNotAdmitted, "not valid"},
		{"no member", auth.KindPass, sign(p, auth.KindPass, 1, 0, now.Add(time.Minute)), 1, boxoffice.ErrNotAdmitted, "names no member"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := p.Verify(c.kind, c.token, c.concert)
			if c.want == nil {
				if err != nil || m != 7 {
					t.Fatalf("member %d, err %v; want 7", m, err)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err %v; want %v saying %q", err, c.want, c.says)
			}
		})
	}
	if _, err := auth.NewPasses([]byte("short")); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}
