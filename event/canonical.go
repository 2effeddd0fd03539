package event

import (
	"bytes"
	"strconv"
	"time"
)

// decodeCanonical reads the form Encode writes for plain fields, exactly
// {"v":N,"type":"T","id":"I","concertId":C,"memberId":M,"at":"TIME"
// [,"idempotencyKey":"K"][,"expiresAt":"TIME"][,"seats":["S",...]]}, without encoding/json: the
// reflective decode was 27–30% of the writer's CPU. Anything else, valid or
// not, returns ok=false for json.Unmarshal, which has the last word
// (FuzzCanonicalAgreesWithJSON holds the two to the same events).
func decodeCanonical(b []byte) (e Event, ok bool) {
	p := canonicalParser{b: b}
	var v int64
	if !p.lit(`{"v":`) || !p.int(&v) || v > 1<<31 {
		return e, false
	}
	e.V = int(v)
	var typ string
	if !p.lit(`,"type":"`) || !p.str(&typ) || !p.lit(`,"id":"`) || !p.str(&e.ID) ||
		!p.lit(`,"concertId":`) || !p.int(&e.ConcertID) || !p.lit(`,"memberId":`) || !p.int(&e.MemberID) ||
		!p.lit(`,"at":`) || !p.time(&e.At) {
		return e, false
	}
	e.Type = Type(typ)
	if p.lit(`,"idempotencyKey":"`) && (!p.str(&e.IdempotencyKey) || e.IdempotencyKey == "") {
		return e, false // Encode leaves an empty key out
	}
	if p.lit(`,"expiresAt":`) {
		var t time.Time
		if !p.time(&t) {
			return e, false
		}
		e.ExpiresAt = &t
	}
	if p.lit(`,"seats":["`) {
		for {
			var s string
			if !p.str(&s) {
				return e, false
			}
			e.Seats = append(e.Seats, s)
			if p.lit(`]`) {
				break
			}
			if !p.lit(`,"`) {
				return e, false
			}
		}
	}
	return e, p.lit("}") && p.i == len(p.b)
}

type canonicalParser struct {
	b []byte
	i int
}

func (p *canonicalParser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// int reads a non-negative integer without leading zeros.
func (p *canonicalParser) int(v *int64) bool {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j-p.i > 1) {
		return false
	}
	n, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return false
	}
	*v, p.i = n, j
	return true
}

// str reads up to the closing quote a string that needs no unescaping:
// printable ASCII without '"' and '\' (what plain lets Encode write bare).
func (p *canonicalParser) str(s *string) bool {
	j := p.i
	for j < len(p.b) && p.b[j] != '"' {
		if c := p.b[j]; c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
		j++
	}
	if j == len(p.b) {
		return false
	}
	*s, p.i = string(p.b[p.i:j]), j+1
	return true
}

// time reads a quoted time as encoding/json does (time.Time.UnmarshalJSON).
func (p *canonicalParser) time(t *time.Time) bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	end := bytes.IndexByte(p.b[p.i+1:], '"')
	if end < 0 {
		return false
	}
	end += p.i + 2
	if u, ok := utcTime(p.b[p.i+1 : end-1]); ok {
		*t = u
	} else if err := t.UnmarshalJSON(p.b[p.i:end]); err != nil {
		return false
	}
	p.i = end
	return true
}

// utcTime reads the form a UTC time.Time's MarshalJSON writes,
// YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z, as time.Parse would; anything else (an
// offset, a field out of range) returns ok=false for UnmarshalJSON, which
// has the last word. UnmarshalJSON's general parse was half of the
// decoder's time (7% of the writer's CPU); with this, BenchmarkDecode went
// from 1,626 to 1,067 ns an event (medians of five interleaved pairs on a
// busy machine, load 18: read the ratio, −34%). TestUTCTimeAgreesWithJSON
// and FuzzCanonicalAgreesWithJSON hold it to UnmarshalJSON.
func utcTime(b []byte) (t time.Time, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return t, false
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range b[from:to] {
			if c < '0' || c > '9' {
				return -1
			}
			n = 10*n + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	ns := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return t, false
		}
		if ns = num(20, len(b)-1); ns < 0 {
			return t, false
		}
		for range 10 - len(frac) {
			ns *= 10
		}
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return t, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
