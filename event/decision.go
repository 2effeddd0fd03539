package event

import "github.com/boxoffice/boxoffice"

// Decision ends a hold: the member paid (confirm), gave up or the payment
// failed (cancel), or time ran out (expire).
type Decision string

// The decisions about a held reservation.
const (
	Confirm Decision = "confirm"
	Cancel  Decision = "cancel"
	Expire  Decision = "expire"
)

// lifecycle is the one table of the hold's vocabulary: what each decision
// makes of the reservation's row, and the event (and notification) type that
// carries it.
var lifecycle = [...]struct {
	decision Decision
	status   boxoffice.Status
	typ      Type
}{
	{Confirm, boxoffice.StatusConfirmed, Confirmed},
	{Cancel, boxoffice.StatusCancelled, Cancelled},
	{Expire, boxoffice.StatusExpired, Expired},
}

// Status is the reservation status the decision leads to.
func (d Decision) Status() boxoffice.Status {
	for _, l := range lifecycle {
		if l.decision == d {
			return l.status
		}
	}
	return ""
}

// Type is the event (and notification) type that carries the decision.
func (d Decision) Type() Type {
	for _, l := range lifecycle {
		if l.decision == d {
			return l.typ
		}
	}
	return ""
}

// ReturnsSeat reports whether the decision, once applied, frees the seat:
// the status it leads to holds none.
func (d Decision) ReturnsSeat() bool { return d.Status() != "" && !d.Status().Active() }

// Decision is the decision a transition event carries; ok is false for an
// event that is not a transition.
func (t Type) Decision() (d Decision, ok bool) {
	for _, l := range lifecycle {
		if l.typ == t {
			return l.decision, true
		}
	}
	return "", false
}

// Transition reports whether t moves an existing reservation.
func (t Type) Transition() bool {
	_, ok := t.Decision()
	return ok
}
