package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/servicetest"
)

// The public listener serves the API; metrics, each check's detail and
// pprof are on the admin listener.
func TestAdminListener(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Concerts, cfg.Capacity, cfg.Members = 1, 5, 10
	s := newSystem(t, cfg, false)
	admin := "http://" + s.gw.AdminAddr
	if s.gw.AdminAddr == "" || s.gw.AdminAddr == s.gw.Addr {
		t.Fatalf("admin address %q, public %q", s.gw.AdminAddr, s.gw.Addr)
	}
	if status, _ := servicetest.Get(t, s.url+"/metrics"); status != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", status)
	}
	if status, body := servicetest.Get(t, admin+"/metrics"); status != http.StatusOK || !strings.Contains(body, "boxoffice_") {
		t.Errorf("admin /metrics: %d, want 200 with boxoffice_ metrics", status)
	}
	status, body := servicetest.Get(t, admin+"/readyz")
	for _, check := range []string{`"redis"`, `"scripts"`, `"kafka"`} {
		if status != http.StatusOK || !strings.Contains(body, check) {
			t.Errorf("admin /readyz: %d %s, want 200 with the %s check", status, body, check)
		}
	}
	servicetest.Eventually(t, 10*time.Second, "public readyz 200", func() (bool, error) {
		status, body = servicetest.Get(t, s.url+"/readyz")
		return status == http.StatusOK, nil
	})
	if strings.Contains(body, "redis") || strings.Contains(body, "kafka") {
		t.Errorf("public /readyz names the checks: %s", body)
	}
	if status, _ := servicetest.Get(t, admin+"/debug/pprof/"); status != http.StatusOK {
		t.Errorf("admin pprof: %d", status)
	}
}

// By default only async is served; the comparison strategies answer 404
// not_found like any unserved route.
func TestDefaultStrategiesAsyncOnly(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Concerts, cfg.Capacity, cfg.Members = 1, 5, 10
	cfg.Strategies = "async"
	s := newSystem(t, cfg, false)
	for _, name := range []string{"pessimistic", "distlock", "unsafe"} {
		r := s.do("POST", "/api/reservations/"+name, "application/json", []byte(`{"concertId":1,"memberId":1}`), nil)
		if r.Status != http.StatusNotFound || r.code() != "not_found" {
			t.Errorf("%s: %d %s, want 404 not_found", name, r.Status, r.code())
		}
	}
	if r := s.reserve(1, 1, ""); r.Status != http.StatusAccepted {
		t.Errorf("async: %+v, want 202", r)
	}
}

// The admin listener's routes are the paths api/openapi.yaml tags admin,
// and each answers (its exchange validated against the spec).
func TestAdminRoutesAreTheSpec(t *testing.T) {
	doc, err := apitest.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var spec []string
	for _, op := range apitest.Operations(doc, apitest.Admin) {
		_, path, _ := strings.Cut(op, " ")
		spec = append(spec, path)
	}
	patterns := app.AdminPatterns()
	for _, p := range patterns {
		if !slices.Contains(spec, p) {
			t.Errorf("the admin listener serves %s, which api/openapi.yaml does not tag admin", p)
		}
	}
	for _, path := range spec {
		served := slices.ContainsFunc(patterns, func(p string) bool {
			return p == path || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)
		})
		if !served {
			t.Errorf("api/openapi.yaml tags %s admin, which the admin listener does not serve", path)
		}
	}

	cfg := servicetest.Config(t)
	cfg.Concerts, cfg.Capacity, cfg.Members = 1, 5, 10
	s := newSystem(t, cfg, false)
	// The spec's paths with their parameters, the profiles kept short.
	probe := map[string]string{"/debug/pprof/{profile}": "/debug/pprof/heap", "/debug/pprof/profile": "/debug/pprof/profile?seconds=1",
		"/debug/pprof/trace": "/debug/pprof/trace?seconds=1"}
	for _, path := range spec {
		url := path
		if p, ok := probe[path]; ok {
			url = p
		}
		if status, _ := servicetest.Get(t, "http://"+s.gw.AdminAddr+url); status != http.StatusOK {
			t.Errorf("admin GET %s: %d, want 200", url, status)
		}
	}
}
