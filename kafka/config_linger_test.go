package kafka

import (
	"testing"
	"time"
)

func TestLinger(t *testing.T) {
	cases := []struct {
		name string
		opts []ProducerOption
		want time.Duration
	}{
		{"default", nil, DefaultLinger},
		{"none", []ProducerOption{Linger(0)}, 0},
		{"500µs", []ProducerOption{Linger(500 * time.Microsecond)}, 500 * time.Microsecond},
	}
	for _, c := range cases {
		if got := ProducerConfig("t", c.opts...).Producer.Flush.Frequency; got != c.want {
			t.Errorf("%s: Flush.Frequency %s, want %s", c.name, got, c.want)
		}
	}
}
