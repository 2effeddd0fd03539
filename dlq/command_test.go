package dlq_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/dlq"
)

func TestDLQParse(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
		check   func(t *testing.T, c dlq.Command)
	}{
		{name: "no action", args: nil, wantErr: "missing action"},
		{name: "unknown action", args: []string{"purge"}, wantErr: `unknown action "purge"`},
		{name: "list defaults", args: []string{"list"}, check: func(t *testing.T, c dlq.Command) {
			if c.Action != dlq.List || c.Limit != 100 || c.Timeout != dlq.DefaultTimeout || c.Config.DLQTopic() != "reservations.DLQ" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "list limit and topic", args: []string{"list", "--limit", "0", "--topic", "orders"}, check: func(t *testing.T, c dlq.Command) {
			if c.Limit != 0 || c.Config.DLQTopic() != "orders.DLQ" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "topic from the environment", args: []string{"list"}, env: map[string]string{"BOX_TOPIC": "t1", "BOX_REDIS_PREFIX": "p1"}, check: func(t *testing.T, c dlq.Command) {
			if c.Config.Topic != "t1" || c.Config.RedisPrefix != "p1" {
				t.Errorf("%+v", c.Config)
			}
		}},
		{name: "flag wins over environment", args: []string{"list", "--topic", "t2"}, env: map[string]string{"BOX_TOPIC": "t1"}, check: func(t *testing.T, c dlq.Command) {
			if c.Config.Topic != "t2" {
				t.Errorf("topic %q", c.Config.Topic)
			}
		}},
		{name: "negative limit", args: []string{"list", "--limit", "-1"}, wantErr: "--limit must not be negative"},
		{name: "show", args: []string{"show", "--partition", "1", "--offset", "42"}, check: func(t *testing.T, c dlq.Command) {
			if c.Action != dlq.Show || c.Partition != 1 || c.Offset != 42 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "show offset 0 partition 0", args: []string{"show", "--partition", "0", "--offset", "0"}},
		{name: "show without partition", args: []string{"show", "--offset", "3"}, wantErr: "--partition is required"},
		{name: "show without offset", args: []string{"show", "--partition", "0"}, wantErr: "--offset is required"},
		{name: "show without either", args: []string{"show"}, wantErr: "--offset is required"},
		{name: "partition too big", args: []string{"show", "--partition", "2147483648", "--offset", "0"}, wantErr: "want a partition number"},
		{name: "negative partition", args: []string{"show", "--partition", "-1", "--offset", "0"}, wantErr: "want a partition number"},
		{name: "negative offset", args: []string{"replay", "--partition", "0", "--offset", "-2"}, wantErr: "want an offset"},
		{name: "offset not a number", args: []string{"show", "--partition", "0", "--offset", "x"}, wantErr: "invalid value"},
		{name: "limit is list only", args: []string{"show", "--partition", "0", "--offset", "0", "--limit", "3"}, wantErr: "not defined"},
		{name: "value file is replay only", args: []string{"show", "--partition", "0", "--offset", "0", "--value-file", "f"}, wantErr: "not defined"},
		{name: "replay with fix", args: []string{"replay", "--partition", "0", "--offset", "7", "--value-file", "fix.json"}, check: func(t *testing.T, c dlq.Command) {
			if c.Action != dlq.Replay || c.Offset != 7 || c.ValueFile != "fix.json" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "empty value file", args: []string{"replay", "--partition", "0", "--offset", "7", "--value-file", ""}, wantErr: "--value-file must name a file"},
		{name: "stray argument", args: []string{"list", "extra"}, wantErr: "unexpected arguments"},
		{name: "bad timeout", args: []string{"list", "--timeout", "0s"}, wantErr: "--timeout must be positive"},
		{name: "bad config", args: []string{"list", "--redis-prefix", "a b"}, wantErr: "redis-prefix"},
		{name: "timeout", args: []string{"list", "--timeout", "5s"}, check: func(t *testing.T, c dlq.Command) {
			if c.Timeout != 5*time.Second {
				t.Errorf("timeout %s", c.Timeout)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env = tc.env
			c, err := dlq.Parse(tc.args, getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestDLQParseHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"list", "-h"}, {"replay", "--help"}} {
		var out strings.Builder
		_, err := dlq.Parse(args, func(string) string { return "" }, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: err = %v, want flag.ErrHelp", args, err)
		}
		if out.Len() == 0 {
			t.Errorf("%v: no help printed", args)
		}
	}
	var out strings.Builder
	dlq.Parse([]string{"replay", "-h"}, func(string) string { return "" }, &out)
	for _, f := range []string{"-partition", "-offset", "-value-file", "-topic", "-redis-addr", "-mysql-dsn"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("replay -h does not list %s:\n%s", f, out.String())
		}
	}
}
