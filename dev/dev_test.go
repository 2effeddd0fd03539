package dev_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/servicetest"
)

// The exchanges with `boxoffice dev`'s gateway are validated against
// api/openapi.yaml.
func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

// TestDevCommand runs `boxoffice dev` as a user would, with every service
// embedded: a reservation goes through Redis, Kafka and the writer into the
// database, and SIGINT stops everything with exit code 0.
func TestDevCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	addr := "127.0.0.1:" + strconv.Itoa(servicetest.FreePort(t))
	base := "http://" + addr
	apitest.Serves(t, apitest.Public, addr)

	cmd := exec.Command(bin, "dev", "--http-addr", addr)
	cmd.Env = withoutBoxVars(os.Environ())
	var stdout, stderr servicetest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})

	client := &http.Client{Timeout: 2 * time.Second, Transport: apitest.Transport(nil)}
	waitFor(t, "GET /readyz 200", 30*time.Second, exited, func() (bool, string) {
		status, body, err := call(client, http.MethodGet, base+"/readyz", "")
		if err != nil {
			return false, err.Error()
		}
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
	})
	if !strings.Contains(stdout.String(), "curl "+base+"/api/concerts/1") {
		t.Errorf("the banner does not show the gateway's address %s:\n%s", base, stdout.String())
	}

	// The metrics URLs the banner prints answer.
	for _, m := range regexp.MustCompile(`http://\S+/metrics`).FindAllString(stdout.String(), -1) {
		if status, _, err := call(client, http.MethodGet, m, ""); err != nil || status != http.StatusOK {
			t.Errorf("GET %s: %d %v", m, status, err)
		}
	}
	if n := strings.Count(stdout.String(), "/metrics\n"); n != 2 {
		t.Errorf("the banner shows %d metrics URLs, want the gateway's and the writer's", n)
	}

	before := concert(t, client, base)
	status, body, err := call(client, http.MethodPost, base+"/api/reservations/async", `{"concertId":1,"memberId":7}`)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("POST /api/reservations/async: %d %s %v, want 202", status, body, err)
	}
	var accepted struct {
		ID string `json:"reservationId"`
	}
	if err := json.Unmarshal(body, &accepted); err != nil || accepted.ID == "" {
		t.Fatalf("202 body %s: %v", body, err)
	}

	// HELD (awaiting payment, the default --hold-ttl) means the event went
	// through Kafka and the writer into MySQL.
	waitFor(t, "the reservation HELD", 15*time.Second, exited, func() (bool, string) {
		status, body, err := call(client, http.MethodGet, base+"/api/reservations/"+accepted.ID, "")
		if err != nil {
			return false, err.Error()
		}
		var r struct {
			Status string `json:"status"`
		}
		json.Unmarshal(body, &r)
		return status == http.StatusOK && r.Status == "HELD", fmt.Sprintf("%d %s", status, body)
	})
	after := concert(t, client, base)
	if after.Remaining != before.Remaining-1 || after.PersistedRemaining != before.PersistedRemaining-1 {
		t.Errorf("concert 1 went from remaining %d, persisted %d to %d, %d; want each one less",
			before.Remaining, before.PersistedRemaining, after.Remaining, after.PersistedRemaining)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGINT: %v, want exit code 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGINT")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no orderly stop in the log")
	}
}

type concertView struct {
	Remaining          int64 `json:"remaining"`
	PersistedRemaining int64 `json:"persistedRemaining"`
}

func concert(t *testing.T, client *http.Client, base string) concertView {
	t.Helper()
	status, body, err := call(client, http.MethodGet, base+"/api/concerts/1", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/concerts/1: %d %s %v", status, body, err)
	}
	var c concertView
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("GET /api/concerts/1: %s: %v", body, err)
	}
	return c
}

func call(client *http.Client, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// waitFor polls ok until it holds, the process exits or limit passes.
func waitFor(t *testing.T, what string, limit time.Duration, exited chan error, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for {
		done, state := ok()
		if done {
			return
		}
		last = state
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("waiting for %s: boxoffice dev exited: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, limit, last)
		}
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "boxoffice")
	// boxoffice dev runs boxoffice-dev from the same folder.
	build := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "github.com/boxoffice/boxoffice/cmd/boxoffice", "github.com/boxoffice/boxoffice/cmd/boxoffice-dev")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// withoutBoxVars drops every BOX_* variable, so that each service is embedded
// whatever the developer's shell points at.
func withoutBoxVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "BOX_") {
			out = append(out, kv)
		}
	}
	return out
}
