package bench

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Progress refresh: a terminal line is rewritten 4 times a second; anything
// else (a log file, CI) gets one plain line per second.
const (
	progressTTY   = 250 * time.Millisecond
	progressPlain = time.Second
)

// progress shows one load's counters on stderr while it runs.
type progress struct {
	stop chan struct{}
	done chan struct{}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress starts the display; it returns nil when w is nil (--quiet).
func startProgress(w io.Writer, label string, rec *recorder) *progress {
	if w == nil {
		return nil
	}
	tty := isTerminal(w)
	every := progressPlain
	if tty {
		every = progressTTY
	}
	p := &progress{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		var prevSent int64
		prevAt := time.Now()
		show := func(final bool) {
			now := time.Now()
			s := rec.snapshot(now)
			rate := float64(s.sent-prevSent) / now.Sub(prevAt).Seconds()
			if final && s.elapsed > 0 {
				rate = float64(s.sent) / s.elapsed.Seconds() // the run's average
			}
			prevSent, prevAt = s.sent, now
			line := progressLine(label, s, rate)
			switch {
			case tty && final:
				fmt.Fprintf(w, "\r%s\x1b[K\n", line)
			case tty:
				fmt.Fprintf(w, "\r%s\x1b[K", line)
			default:
				fmt.Fprintln(w, line)
			}
		}
		for {
			select {
			case <-p.stop:
				show(true)
				return
			case <-t.C:
				show(false)
			}
		}
	}()
	return p
}

// end prints the final line and waits for the display to stop.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

func progressLine(label string, s progressSnap, rate float64) string {
	line := fmt.Sprintf("%-22s %6.1fs  sent %-8d 2xx %-7d 409 %-7d err %-6d", label, s.elapsed.Seconds(), s.sent, s.accepted, s.rejected, s.errors)
	if s.dropped > 0 {
		line += fmt.Sprintf(" dropped %-6d", s.dropped)
	}
	return line + fmt.Sprintf(" %7.0f req/s  p99 %s", rate, fmtMs(ms(s.p99)))
}

// fmtMs prints milliseconds with a precision that suits their size.
func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}
