package gateway

import (
	"net/http"

	"github.com/valyala/fasthttp"
)

// NoopPath is served with Options.Noop (--noop-endpoint): the ceiling that
// `boxoffice bench ceiling` measures, the same server, settings, router and
// metrics as every other route with no work behind them.
const NoopPath = "/api/noop"

// noopBody is as long as a reserve answer (a ULID is 26 characters), so
// that the ceiling writes what a reservation writes.
const noopBody = `{"reservationId":"00000000000000000000000000","status":"PENDING"}`

// noopAnswer answers 200 with a reserve-sized body and Location header. The
// request body is read by fasthttp before the handler, as for a
// reservation, and not parsed: parsing is part of the work measured
// against the ceiling, not of the ceiling.
func (s *Server) noopAnswer(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Location", "/api/reservations/00000000000000000000000000")
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(http.StatusOK)
	ctx.Response.AppendBodyString(noopBody)
}
