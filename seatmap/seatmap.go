// Package seatmap is a concert's numbered seats: sections of rows of seats,
// each with a price tier; the seat ids (SECTION-ROW-SEAT) requests name; the
// file format seed reads (JSON or YAML) and the generated map of
// --sections/--rows/--seats-per-row. A concert without a map is general
// admission.
//
// Every seat has an index, its place in the map's order (sections in file
// order, rows in file order, seats 1..n): the bit of the concert's seat
// bitmap in Redis.
package seatmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSeats bounds a map: a 200,000-seat stadium is a 25 KB bitmap.
const MaxSeats = 200_000

// Map is a concert's seat map.
type Map struct {
	Sections []Section `json:"sections" yaml:"sections"`
	// Tiers optionally prices each tier (in the currency's minor unit).
	Tiers map[string]int64 `json:"tiers,omitempty" yaml:"tiers,omitempty"`
}

// Section is a named block of rows.
type Section struct {
	Name string `json:"name" yaml:"name"`
	// Tier is the price tier of its rows unless a row names its own.
	Tier string `json:"tier,omitempty" yaml:"tier,omitempty"`
	Rows []Row  `json:"rows" yaml:"rows"`
}

// Row is one row of a section: seats numbered 1..Seats.
type Row struct {
	// Number is the row's number; 0 in a file means its place (1, 2, ...).
	Number int    `json:"row,omitempty" yaml:"row,omitempty"`
	Seats  int    `json:"seats" yaml:"seats"`
	Tier   string `json:"tier,omitempty" yaml:"tier,omitempty"`
	// Start is the index of its seat 1 (set by Validate).
	Start int `json:"-" yaml:"-"`
}

// Limits of a seat id's parts: they bound the keys and fields they become.
const (
	maxSectionLen = 8
	maxNumber     = 9999
)

// Parse reads a map in JSON (a document starting with '{') or YAML, and
// validates it.
func Parse(b []byte) (Map, error) {
	var m Map
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return m, fmt.Errorf("seat map (JSON): %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&m); err != nil {
			return m, fmt.Errorf("seat map (YAML): %w", err)
		}
	}
	return m, m.Validate()
}

// Generate is a map of sections A, B, ... of rows 1..rows of perRow seats,
// tier "standard".
func Generate(sections, rows, perRow int) (Map, error) {
	if sections < 1 || sections > 26 || rows < 1 || rows > maxNumber || perRow < 1 || perRow > maxNumber {
		return Map{}, fmt.Errorf("seat map: --sections must be 1..26, --rows and --seats-per-row 1..%d", maxNumber)
	}
	var m Map
	for s := range sections {
		sec := Section{Name: string(rune('A' + s)), Tier: "standard"}
		for r := range rows {
			sec.Rows = append(sec.Rows, Row{Number: r + 1, Seats: perRow})
		}
		m.Sections = append(m.Sections, sec)
	}
	return m, m.Validate()
}

// Validate checks names and numbers, numbers rows left without one and
// gives each row its Start.
func (m *Map) Validate() error {
	if len(m.Sections) == 0 {
		return fmt.Errorf("seat map: no sections")
	}
	names := map[string]bool{}
	next := 0
	for si := range m.Sections {
		s := &m.Sections[si]
		if !validSection(s.Name) {
			return fmt.Errorf("seat map: section %q: a name is 1-%d of A-Z and 0-9, starting with a letter", s.Name, maxSectionLen)
		}
		if names[s.Name] {
			return fmt.Errorf("seat map: section %q twice", s.Name)
		}
		names[s.Name] = true
		if len(s.Rows) == 0 {
			return fmt.Errorf("seat map: section %s has no rows", s.Name)
		}
		rows := map[int]bool{}
		for ri := range s.Rows {
			r := &s.Rows[ri]
			if r.Number == 0 {
				r.Number = ri + 1
			}
			if r.Number < 1 || r.Number > maxNumber || rows[r.Number] {
				return fmt.Errorf("seat map: section %s: row %d is out of 1..%d or given twice", s.Name, r.Number, maxNumber)
			}
			rows[r.Number] = true
			if r.Seats < 1 || r.Seats > maxNumber {
				return fmt.Errorf("seat map: section %s row %d: seats must be 1..%d", s.Name, r.Number, maxNumber)
			}
			r.Start = next
			next += r.Seats
			if next > MaxSeats {
				return fmt.Errorf("seat map: more than %d seats", MaxSeats)
			}
		}
	}
	return nil
}

// Capacity is the number of seats.
func (m Map) Capacity() int {
	n := 0
	for _, s := range m.Sections {
		for _, r := range s.Rows {
			n += r.Seats
		}
	}
	return n
}

// TierOf is a row's tier.
func (s Section) TierOf(r Row) string {
	if r.Tier != "" {
		return r.Tier
	}
	return s.Tier
}

// Index is the index of a seat id, false when the map has no such seat.
func (m Map) Index(id string) (int, bool) {
	sec, row, seat, ok := ParseID(id)
	if !ok {
		return 0, false
	}
	for _, s := range m.Sections {
		if s.Name != sec {
			continue
		}
		for _, r := range s.Rows {
			if r.Number == row && seat <= r.Seats {
				return r.Start + seat - 1, true
			}
		}
	}
	return 0, false
}

// ID is the seat id of an index, false when out of the map.
func (m Map) ID(index int) (string, bool) {
	for _, s := range m.Sections {
		for _, r := range s.Rows {
			if index >= r.Start && index < r.Start+r.Seats {
				return FormatID(s.Name, r.Number, index-r.Start+1), true
			}
		}
	}
	return "", false
}

// JSON is the map's canonical document (what MySQL and Redis keep).
func (m Map) JSON() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("seatmap: marshal: %v", err)) // plain types only
	}
	return b
}

// FormatID is the id of a seat.
func FormatID(section string, row, seat int) string {
	return section + "-" + strconv.Itoa(row) + "-" + strconv.Itoa(seat)
}

// ParseID splits a seat id SECTION-ROW-SEAT: a section name (1-8 of A-Z and
// 0-9, starting with a letter), then row and seat numbers 1..9999 without
// leading zeros. Anything else is not a seat id.
func ParseID(id string) (section string, row, seat int, ok bool) {
	section, rest, ok1 := strings.Cut(id, "-")
	rowS, seatS, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || !validSection(section) {
		return "", 0, 0, false
	}
	row, ok1 = number(rowS)
	seat, ok2 = number(seatS)
	if !ok1 || !ok2 {
		return "", 0, 0, false
	}
	return section, row, seat, true
}

// ValidSection reports whether s is a section name.
func ValidSection(s string) bool { return validSection(s) }

func validSection(s string) bool {
	if len(s) == 0 || len(s) > maxSectionLen || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func number(s string) (int, bool) {
	if len(s) == 0 || len(s) > 4 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// ForCapacity is a map of exactly capacity seats in rows of perRow (the
// last row shorter), up to 100 rows a section (more when 26 sections would
// not hold them): the seated house of a benchmark of that capacity.
func ForCapacity(capacity, perRow int) (Map, error) {
	if capacity < 1 || capacity > MaxSeats || perRow < 1 || perRow > maxNumber {
		return Map{}, fmt.Errorf("seat map: capacity must be 1..%d and seats per row 1..%d", MaxSeats, maxNumber)
	}
	rows := (capacity + perRow - 1) / perRow
	perSection := max(100, (rows+25)/26)
	var m Map
	for left := capacity; left > 0; {
		sec := Section{Name: string(rune('A' + len(m.Sections))), Tier: "standard"}
		for r := 1; r <= perSection && left > 0; r++ {
			n := min(perRow, left)
			sec.Rows = append(sec.Rows, Row{Number: r, Seats: n})
			left -= n
		}
		m.Sections = append(m.Sections, sec)
	}
	return m, m.Validate()
}
