package seatmap

import (
	"strings"
	"testing"
)

func TestParseBothForms(t *testing.T) {
	yamlDoc := `
sections:
  - name: A
    tier: R
    rows:
      - seats: 3
      - {seats: 2, tier: S}
  - name: B2
    rows: [{row: 10, seats: 4}]
tiers: {R: 150000, S: 90000}
`
	jsonDoc := `{"sections":[{"name":"A","tier":"R","rows":[{"seats":3},{"seats":2,"tier":"S"}]},{"name":"B2","rows":[{"row":10,"seats":4}]}],"tiers":{"R":150000,"S":90000}}`
	for name, doc := range map[string]string{"yaml": yamlDoc, "json": jsonDoc} {
		m, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Capacity() != 9 || m.Sections[0].TierOf(m.Sections[0].Rows[1]) != "S" || m.Tiers["R"] != 150000 {
			t.Fatalf("%s: %+v", name, m)
		}
		for i, want := range []string{"A-1-1", "A-1-2", "A-1-3", "A-2-1", "A-2-2", "B2-10-1", "B2-10-2", "B2-10-3", "B2-10-4"} {
			if id, ok := m.ID(i); !ok || id != want {
				t.Errorf("%s: seat %d is %q, want %s", name, i, id, want)
			}
			if idx, ok := m.Index(want); !ok || idx != i {
				t.Errorf("%s: %s has index %d, want %d", name, want, idx, i)
			}
		}
		for _, id := range []string{"A-3-1", "A-2-3", "B2-1-1", "C-1-1", "a-1-1"} {
			if _, ok := m.Index(id); ok {
				t.Errorf("%s: %s is in the map", name, id)
			}
		}
		// The canonical document reads back the same.
		again, err := Parse(m.JSON())
		if err != nil || again.Capacity() != m.Capacity() || again.Sections[1].Rows[0].Start != 5 {
			t.Fatalf("%s: round trip %+v, %v", name, again, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for doc, want := range map[string]string{
		`{"sections":[]}`: "no sections",
		`{"sections":[{"name":"a","rows":[{"seats":1}]}]}`:                                           "a name is",
		`{"sections":[{"name":"A","rows":[{"seats":1}]},{"name":"A","rows":[{"seats":1}]}]}`:         "twice",
		`{"sections":[{"name":"A","rows":[]}]}`:                                                      "no rows",
		`{"sections":[{"name":"A","rows":[{"seats":0}]}]}`:                                           "seats must be",
		`{"sections":[{"name":"A","rows":[{"row":1,"seats":1},{"row":1,"seats":1}]}]}`:               "given twice",
		`{"sections":[{"name":"A","rows":[{"seats":1,"price":3}]}]}`:                                 "unknown field",
		"sections:\n  - name: A\n    rows: [{seats: 1}]\n    colour: red\n":                          "not found",
		`{"sections":[{"name":"A","rows":[{"seats":9999}]},{"name":"B","rows":[` + rows(30) + `]}]}`: "more than",
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v, want %q", doc, err, want)
		}
	}
}

func rows(n int) string {
	return strings.TrimSuffix(strings.Repeat(`{"seats":9999},`, n), ",")
}

func TestGenerate(t *testing.T) {
	m, err := Generate(3, 20, 25)
	if err != nil || m.Capacity() != 1500 || m.Sections[2].Name != "C" {
		t.Fatalf("%+v, %v", m, err)
	}
	if id, _ := m.ID(1499); id != "C-20-25" {
		t.Fatalf("last seat %s", id)
	}
	if _, err := Generate(27, 1, 1); err == nil {
		t.Fatal("27 sections")
	}
}

func TestParseID(t *testing.T) {
	for id, ok := range map[string]bool{
		"A-12-7": true, "ZZ99ABCD-9999-9999": true, "A-1-1": true,
		"": false, "A-12": false, "A-012-7": false, "A-0-7": false, "A-1-10000": false, "A1--1": false,
		"ABCDEFGHI-1-1": false, "a-1-1": false, "9A-1-1": false, "A-1-1-1": false, "A-1-+1": false, "A-1-1 ": false,
	} {
		if _, _, _, got := ParseID(id); got != ok {
			t.Errorf("ParseID(%q) = %v, want %v", id, got, ok)
		}
	}
}

func TestForCapacity(t *testing.T) {
	for _, c := range []struct{ capacity, perRow, sections int }{{1, 50, 1}, {15_000, 50, 3}, {50_000, 50, 10}, {5_001, 50, 2}, {200_000, 20, 26}} {
		m, err := ForCapacity(c.capacity, c.perRow)
		if err != nil || m.Capacity() != c.capacity || len(m.Sections) != c.sections {
			t.Errorf("%d seats in rows of %d: %d seats in %d sections, %v", c.capacity, c.perRow, m.Capacity(), len(m.Sections), err)
		}
	}
}
