package dlq_test

import (
	"strings"
	"testing"

	"github.com/boxoffice/boxoffice/dlq"
)

func dlqMessage(offset int64, key, value string, headers ...string) dlq.Message {
	m := dlq.Message{Topic: "reservations.DLQ", Partition: 1, Offset: offset, Key: []byte(key), Value: []byte(value)}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, dlq.Header{Key: headers[i], Value: headers[i+1]})
	}
	return m
}

func TestDLQWriteList(t *testing.T) {
	var out strings.Builder
	l := dlq.Listing{Total: 3, Messages: []dlq.Message{
		dlqMessage(4, "k1", "not json\tat all", "reason", "malformed event: invalid character 'o'", "source-topic", "reservations", "source-partition", "0", "source-offset", "17"),
		dlqMessage(5, "", strings.Repeat("x", 200), "reason", "line one\nline two"),
	}}
	if err := dlq.WriteList(&out, "reservations.DLQ", l); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a title, a header and 2 rows:\n%s", out.String())
	}
	for _, want := range []string{"showing 2 of 3", "PARTITION/OFFSET", "1/4", "k1", "reservations/0/17", "malformed event: invalid character 'o'", "not json at all", "1/5", "line one line two", "…"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, out.String())
		}
	}
	// The message without source headers and key shows dashes.
	if f := strings.Fields(lines[3]); f[0] != "1/5" || f[1] != "-" || f[2] != "-" {
		t.Errorf("row %q", lines[3])
	}

	out.Reset()
	dlq.WriteList(&out, "reservations.DLQ", dlq.Listing{})
	if !strings.Contains(out.String(), "reservations.DLQ is empty") {
		t.Errorf("empty listing: %q", out.String())
	}
}

func TestDLQWriteMessage(t *testing.T) {
	var out strings.Builder
	m := dlqMessage(4, "k1", `{"v":9}`, "reason", "malformed event: unsupported version 9", "source-topic", "reservations", "x-odd", "a\x00b")
	if err := dlq.WriteMessage(&out, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reservations.DLQ 1/4", "key", "k1", "headers", "reason", "malformed event: unsupported version 9", "source-topic", `"a\x00b"`, "value (7 bytes):\n{\"v\":9}\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	dlq.WriteMessage(&out, dlqMessage(0, "k", "\xff\xfe"))
	if !strings.Contains(out.String(), "not UTF-8") || !strings.Contains(out.String(), "ff fe") {
		t.Errorf("binary value:\n%s", out.String())
	}
}

func TestDLQPreview(t *testing.T) {
	cases := map[string]string{
		"":                     "(empty)",
		"short":                "short",
		"  a\n\n b\t":          "a b",
		"abcdefghijklmnop":     "abcdefghij…",
		"\xff\x00\x01\x02\x03": "5 bytes: ff00010203",
	}
	for in, want := range cases {
		if got := dlq.Preview([]byte(in), 10); got != want {
			t.Errorf("Preview(%q) = %q, want %q", in, got, want)
		}
	}
}
