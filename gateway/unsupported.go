package gateway

import (
	"context"
	"fmt"

	"github.com/boxoffice/boxoffice"
)

// Unsupported stands in for a strategy this deployment cannot run (the
// embedded dev services lack row locks); every request gets 501 with Reason.
type Unsupported struct {
	Name   string
	Reason string
}

// Reserve refuses.
func (u Unsupported) Reserve(context.Context, ReserveRequest) (Reservation, error) {
	return Reservation{}, fmt.Errorf("strategy %q is not available here: %s: %w", u.Name, u.Reason, boxoffice.ErrNotSupported)
}
