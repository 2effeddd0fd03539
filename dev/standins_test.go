package dev

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestStandIns reads StandIns' output as scripts/standins-test.sh does (a
// shell's eval): three BOX_* variables naming 127.0.0.1 ports that answer,
// then the up line; a cancel stops all three.
func TestStandIns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- StandIns(ctx, w, slog.New(slog.DiscardHandler))
		w.Close()
	}()
	var out strings.Builder
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if lines.Text() == StandInsUp {
			break
		}
	}
	go io.Copy(io.Discard, r)
	if !strings.HasSuffix(out.String(), StandInsUp+"\n") {
		t.Fatalf("no up line in:\n%s", out.String())
	}

	sh := osexec.Command("bash", "-c", `eval "$0"; printf '%s\n' "$BOX_REDIS_ADDR" "$BOX_KAFKA_BROKERS" "$BOX_MYSQL_DSN"`, out.String())
	got, err := sh.Output()
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out.String())
	}
	vars := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(vars) != 3 {
		t.Fatalf("after eval: %q", got)
	}
	dsn, err := mysql.ParseDSN(vars[2])
	if err != nil {
		t.Fatalf("BOX_MYSQL_DSN %q: %v", vars[2], err)
	}
	addrs := []string{vars[0], vars[1], dsn.Addr}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("stand-in at %q, want 127.0.0.1 only", a)
			continue
		}
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			t.Errorf("%s: %v", a, err)
			continue
		}
		c.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("StandIns: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("StandIns still running 20 s after the cancel")
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the stop", a)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:1":                 `'127.0.0.1:1'`,
		"u:p@tcp(h)/d?parseTime=true": `'u:p@tcp(h)/d?parseTime=true'`,
		"it's":                        `'it'\''s'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
