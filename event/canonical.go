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
	if err := t.UnmarshalJSON(p.b[p.i:end]); err != nil {
		return false
	}
	p.i = end
	return true
}
