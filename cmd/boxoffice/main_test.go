package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/boxoffice/boxoffice/auth"
)

func TestUsageListsEachSubcommandWithItsHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, c := range commands {
		lines[c.name] = c.help
	}
	for _, tl := range tools {
		lines[tl.name] = tl.help
	}
	for name, help := range lines {
		if !strings.Contains(stdout.String(), "  "+name+" ") || !strings.Contains(stdout.String(), " "+help+"\n") {
			t.Errorf("usage does not list %s (%q):\n%s", name, help, stdout.String())
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"nosuch"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `unknown command "nosuch"`) {
		t.Fatalf("err = %v, want unknown command", err)
	}
	if !strings.Contains(stderr.String(), "usage: boxoffice") {
		t.Fatalf("no usage on stderr:\n%s", stderr.String())
	}
}

func TestTokenMintsAVerifiableToken(t *testing.T) {
	secret := "cli-secret-0123456789abcdef012345"
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"token", "--member", "42", "--ttl", "1h", "--auth-secret", secret}, &stdout, &stderr); err != nil {
		t.Fatalf("%v (stderr %s)", err, stderr.String())
	}
	v, err := auth.NewVerifier(auth.Keys{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := v.Member(strings.TrimSpace(stdout.String())); err != nil || m != 42 {
		t.Fatalf("member %d, err %v, from %q", m, err, stdout.String())
	}
	if err := run(context.Background(), []string{"token", "--member", "42"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "auth-secret") {
		t.Fatalf("without a secret: err %v", err)
	}
}
