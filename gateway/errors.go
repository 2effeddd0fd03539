package gateway

import (
	"errors"
	"net/http"

	"github.com/boxoffice/boxoffice"
)

// Errors of the HTTP layer itself.
var (
	errBodyTooLarge     = errors.New("request body too large")
	errUnsupportedMedia = errors.New("content type must be application/json")
	errMethod           = errors.New("method not allowed")
	errRateLimited      = errors.New("rate limited")
	errOverloaded       = errors.New("overloaded")
	errHeaderTooLarge   = errors.New("request headers too large")
	errReadTimeout      = errors.New("request not read in time")
)

// httpError is the one place that maps an error to its HTTP status and the
// machine-readable code clients switch on.
func httpError(err error) (status int, code string) {
	switch {
	case errors.Is(err, boxoffice.ErrInvalid):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, boxoffice.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, boxoffice.ErrNotAdmitted):
		return http.StatusForbidden, "not_admitted"
	case errors.Is(err, boxoffice.ErrNoRoom):
		return http.StatusNotFound, "no_room"
	case errors.Is(err, boxoffice.ErrNotQueued):
		return http.StatusNotFound, "not_queued"
	case errors.Is(err, boxoffice.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, boxoffice.ErrSoldOut):
		return http.StatusConflict, "sold_out"
	case errors.Is(err, boxoffice.ErrAlreadyReserved):
		return http.StatusConflict, "already_reserved"
	case errors.Is(err, boxoffice.ErrSeatsTaken):
		return http.StatusConflict, "seats_taken"
	case errors.Is(err, boxoffice.ErrSeatsUnavailable):
		return http.StatusConflict, "seats_unavailable"
	case errors.Is(err, boxoffice.ErrUnknownSeat):
		return http.StatusBadRequest, "unknown_seat"
	case errors.Is(err, boxoffice.ErrNotSeated):
		return http.StatusBadRequest, "not_seated"
	case errors.Is(err, boxoffice.ErrIdempotencyReuse):
		return http.StatusUnprocessableEntity, "idempotency_key_reused"
	case errors.Is(err, boxoffice.ErrExpired):
		return http.StatusConflict, "expired"
	case errors.Is(err, boxoffice.ErrCancelled):
		return http.StatusConflict, "cancelled"
	case errors.Is(err, boxoffice.ErrConfirmed):
		return http.StatusConflict, "confirmed"
	case errors.Is(err, boxoffice.ErrFailed):
		return http.StatusConflict, "failed"
	case errors.Is(err, boxoffice.ErrConcertNotFound):
		return http.StatusNotFound, "concert_not_found"
	case errors.Is(err, boxoffice.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, boxoffice.ErrStockNotLoaded):
		return http.StatusServiceUnavailable, "stock_not_loaded"
	case errors.Is(err, boxoffice.ErrInDoubt):
		return http.StatusServiceUnavailable, "in_doubt"
	case errors.Is(err, boxoffice.ErrLockTimeout):
		return http.StatusServiceUnavailable, "lock_timeout"
	case errors.Is(err, boxoffice.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, boxoffice.ErrNotSupported):
		return http.StatusNotImplemented, "not_supported"
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, errOverloaded):
		return http.StatusServiceUnavailable, "overloaded"
	case errors.Is(err, errHeaderTooLarge):
		return http.StatusRequestHeaderFieldsTooLarge, "header_too_large"
	case errors.Is(err, errReadTimeout):
		return http.StatusRequestTimeout, "request_timeout"
	}
	return http.StatusInternalServerError, "internal"
}

// inDoubt carries the id of a reservation whose outcome is not known yet, for
// the client to look up (GET /api/reservations/{id}).
type inDoubt struct {
	id  string
	err error
}

func (e inDoubt) Error() string { return "reservation " + e.id + ": " + e.err.Error() }
func (e inDoubt) Unwrap() error { return e.err }
