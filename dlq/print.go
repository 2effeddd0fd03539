package dlq

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Widths of the columns of a listing that can grow without bound.
const (
	keyWidth     = 30
	reasonWidth  = 70
	previewWidth = 50
)

// WriteList prints a listing of topic, one line per message.
func WriteList(w io.Writer, topic string, l Listing) error {
	if len(l.Messages) == 0 {
		_, err := fmt.Fprintf(w, "%s is empty: no dead-lettered messages (or retention removed them)\n", topic)
		return err
	}
	if int64(len(l.Messages)) < l.Total {
		fmt.Fprintf(w, "%s: showing %d of %d messages (--limit 0 shows all)\n", topic, len(l.Messages), l.Total)
	} else {
		fmt.Fprintf(w, "%s: %d message(s)\n", topic, len(l.Messages))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION/OFFSET\tKEY\tSOURCE\tREASON\tVALUE")
	for _, m := range l.Messages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", PartitionOffset(m.Partition, m.Offset),
			orDash(oneLine(string(m.Key), keyWidth)), oneLine(m.Source(), keyWidth),
			orDash(oneLine(m.Header(HeaderReason), reasonWidth)), Preview(m.Value, previewWidth))
	}
	return tw.Flush()
}

// WriteMessage prints one message: its place, every header and the full value.
func WriteMessage(w io.Writer, m Message) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "message\t%s %s\n", m.Topic, PartitionOffset(m.Partition, m.Offset))
	if !m.Timestamp.IsZero() {
		fmt.Fprintf(tw, "timestamp\t%s\n", m.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(tw, "key\t%s\n", orDash(quoteIfNeeded(string(m.Key))))
	fmt.Fprintf(tw, "headers\t%d\n", len(m.Headers))
	for _, h := range m.Headers {
		fmt.Fprintf(tw, "  %s\t%s\n", quoteIfNeeded(h.Key), quoteIfNeeded(h.Value))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !utf8.Valid(m.Value) {
		_, err := fmt.Fprintf(w, "value (%d bytes, not UTF-8):\n%s", len(m.Value), hex.Dump(m.Value))
		return err
	}
	v := string(m.Value)
	if v != "" && !strings.HasSuffix(v, "\n") {
		v += "\n"
	}
	_, err := fmt.Fprintf(w, "value (%d bytes):\n%s", len(m.Value), v)
	return err
}

// Preview is a one-line beginning of a value of at most width characters.
func Preview(b []byte, width int) string {
	if len(b) == 0 {
		return "(empty)"
	}
	if !utf8.Valid(b) {
		n := min(len(b), width/2)
		s := fmt.Sprintf("%d bytes: %x", len(b), b[:n])
		if n < len(b) {
			s += "…"
		}
		return s
	}
	return oneLine(string(b), width)
}

// oneLine folds runs of white space and control characters into one space
// (they would break the columns) and cuts s to width characters.
func oneLine(s string, width int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width]) + "…"
}

// quoteIfNeeded quotes s when it holds characters that would not print as
// themselves.
func quoteIfNeeded(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
