package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/room"
	"github.com/boxoffice/boxoffice/room/web"
)

// The waiting room's routes (a concert's room: room/).
var (
	queueEndpoint       = Endpoint{"GET", "/api/queue/{id}", "queue"}
	joinEndpoint        = Endpoint{"POST", "/api/queue/{id}", "queue_join"}
	queueMeEndpoint     = Endpoint{"GET", "/api/queue/{id}/me", "queue_me"}
	queueStreamEndpoint = Endpoint{"GET", "/api/queue/{id}/stream", "queue_stream"}
	pageEndpoint        = Endpoint{"GET", "/queue/{id}", "queue_page"}
	assetEndpoint       = Endpoint{"GET", "/queue/assets/{file}", "queue_asset"}
)

// PassHeader carries a room's pass on a reservation.
const PassHeader = "X-Queue-Pass"

// dispatchQueue routes /api/queue/... and /queue/...; ok is false for a
// path of neither.
func (s *Server) dispatchQueue(ctx *fasthttp.RequestCtx, path string) (label string, ok bool) {
	if rest, found := strings.CutPrefix(path, "/queue/"); found {
		if file, asset := strings.CutPrefix(rest, "assets/"); asset {
			if allow(ctx, assetEndpoint) {
				s.queueAsset(ctx, file)
			}
			return assetEndpoint.Label, true
		}
		if allow(ctx, pageEndpoint) {
			s.queuePage(ctx, rest)
		}
		return pageEndpoint.Label, true
	}
	rest, found := strings.CutPrefix(path, "/api/queue/")
	if !found {
		return "", false
	}
	raw, sub, _ := strings.Cut(rest, "/")
	switch sub {
	case "":
		if string(ctx.Method()) == joinEndpoint.Method {
			s.queueJoin(ctx, raw)
			return joinEndpoint.Label, true
		}
		if allow(ctx, queueEndpoint) {
			s.queueInfo(ctx, raw)
		} else {
			ctx.Response.Header.Set("Allow", "GET, POST")
		}
		return queueEndpoint.Label, true
	case "me":
		if allow(ctx, queueMeEndpoint) {
			s.queueMe(ctx, raw)
		}
		return queueMeEndpoint.Label, true
	case "stream":
		if allow(ctx, queueStreamEndpoint) {
			s.queueStream(ctx, raw)
		}
		return queueStreamEndpoint.Label, true
	}
	writeError(ctx, fmt.Errorf("no such path: %w", boxoffice.ErrNotFound))
	return queueEndpoint.Label, true
}

// queueConcert is the concert of a room route, behind the address's bucket.
func (s *Server) queueConcert(ctx *fasthttp.RequestCtx, raw string) (int64, error) {
	if err := s.limit.address(ctx); err != nil {
		return 0, err
	}
	concert, err := parseID("concert id", raw)
	if err != nil {
		return 0, err
	}
	if !s.rooms.Required(concert) {
		return 0, fmt.Errorf("concert %d: %w", concert, boxoffice.ErrNoRoom)
	}
	return concert, nil
}

// queueWho is the concert and the member of a room request; ok is false
// when the answer (an error) is written already.
func (s *Server) queueWho(ctx *fasthttp.RequestCtx, raw string, ticketOK bool) (concert, member int64, ok bool) {
	concert, err := s.queueConcert(ctx, raw)
	if err == nil {
		member, err = s.queueMember(ctx, concert, ticketOK)
	}
	if err != nil {
		writeError(ctx, err)
		return 0, 0, false
	}
	return concert, member, true
}

// queueMember is who asks about their place: a ticket (?ticket=, the only
// way an EventSource can say who it is) when allowed, else the bearer
// token, else — on a gateway that trusts the body — memberId from the body
// (join) or the query.
// The member is behind their bucket, whichever way they were named.
func (s *Server) queueMember(ctx *fasthttp.RequestCtx, concert int64, ticketOK bool) (int64, error) {
	member, err := s.queueIdentity(ctx, concert, ticketOK)
	if err != nil {
		return 0, err
	}
	return member, s.limit.member(member)
}

func (s *Server) queueIdentity(ctx *fasthttp.RequestCtx, concert int64, ticketOK bool) (int64, error) {
	if t := ctx.QueryArgs().Peek("ticket"); ticketOK && len(t) > 0 {
		return s.rooms.TicketMember(concert, string(t))
	}
	if member, err := s.member(ctx); err != nil || member != 0 {
		return member, err
	}
	if ctx.IsPost() && len(ctx.PostBody()) > 0 {
		if err := checkJSON(ctx); err != nil {
			return 0, err
		}
		var body struct {
			MemberID int64 `json:"memberId"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &body); err != nil {
			return 0, boxoffice.Invalidf("body: %v", err)
		}
		if body.MemberID <= 0 {
			return 0, boxoffice.Invalidf("memberId must be a positive integer")
		}
		return body.MemberID, nil
	}
	raw := string(ctx.QueryArgs().Peek("memberId"))
	if raw == "" {
		return 0, boxoffice.Invalidf("memberId is required (this gateway takes the member from the request: --trust-body-member)")
	}
	return parseID("memberId", raw)
}

func (s *Server) queueInfo(ctx *fasthttp.RequestCtx, raw string) {
	concert, err := s.queueConcert(ctx, raw)
	if err != nil {
		writeError(ctx, err)
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	info, err := s.rooms.Info(rctx, concert)
	if err != nil {
		s.queueError(ctx, concert, err)
		return
	}
	identity := "token"
	if s.members == nil {
		identity = "body"
	}
	writeJSON(ctx, http.StatusOK, struct {
		room.Info
		Identity string `json:"identity"`
	}{info, identity})
}

func (s *Server) queueJoin(ctx *fasthttp.RequestCtx, raw string) {
	concert, member, ok := s.queueWho(ctx, raw, false)
	if !ok {
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	st, created, err := s.rooms.Join(rctx, concert, member)
	if err != nil {
		s.queueError(ctx, concert, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	writeJSON(ctx, status, st)
}

func (s *Server) queueMe(ctx *fasthttp.RequestCtx, raw string) {
	concert, member, ok := s.queueWho(ctx, raw, true)
	if !ok {
		return
	}
	rctx, cancel := s.requestContext()
	defer cancel()
	st, err := s.rooms.Me(rctx, concert, member)
	if err != nil {
		s.queueError(ctx, concert, err)
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	writeJSON(ctx, http.StatusOK, st)
}

// queueError answers err, logging what the client cannot act on (a 5xx).
func (s *Server) queueError(ctx *fasthttp.RequestCtx, concert int64, err error) {
	if status, _ := httpError(err); status >= 500 {
		s.log.Warn("queue request failed", "path", string(ctx.Path()), "concert", concert, "err", err)
	}
	writeError(ctx, err)
}

// streamWriteTimeout bounds one event's write: fasthttp's WriteTimeout is
// set once for a response, and a stream lives longer than it.
const streamWriteTimeout = 10 * time.Second

// queueStream serves a member's status as Server-Sent Events until it is
// final, the client leaves, or the gateway shuts down.
func (s *Server) queueStream(ctx *fasthttp.RequestCtx, raw string) {
	concert, member, ok := s.queueWho(ctx, raw, true)
	if !ok {
		return
	}
	// The member must have joined: a 404 is a status code, which a stream
	// already under way could not give.
	rctx, cancel := s.requestContext()
	stream, err := s.rooms.Watch(rctx, concert, member)
	cancel()
	if err != nil {
		s.queueError(ctx, concert, err)
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ctx.SetStatusCode(http.StatusOK)
	conn := ctx.Conn()
	sctx, stop := context.WithCancel(s.streams)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer stop()
		write := func(parts ...[]byte) error {
			conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			for _, p := range parts {
				w.Write(p)
			}
			return w.Flush()
		}
		if write([]byte("retry: 3000\n\n")) != nil {
			return
		}
		err := stream.Run(sctx, func(st room.Status) error {
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			return write([]byte("event: status\ndata: "), b, []byte("\n\n"))
		}, func() error { return write([]byte(": keepalive\n\n")) })
		if err != nil && sctx.Err() == nil {
			s.log.Debug("queue stream ended", "concert", concert, "member", member, "err", err)
		}
	})
}

// pageHeaders keep the page to its own scripts and styles.
func pageHeaders(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
}

// queuePage serves the room's page; it reads its concert from the path.
func (s *Server) queuePage(ctx *fasthttp.RequestCtx, raw string) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	if _, err := parseID("concert id", raw); err != nil {
		writeError(ctx, err)
		return
	}
	pageHeaders(ctx)
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetStatusCode(http.StatusOK)
	ctx.Response.SetBodyRaw(web.Index)
}

func (s *Server) queueAsset(ctx *fasthttp.RequestCtx, file string) {
	if err := s.limit.address(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	body, typ, ok := web.Asset(file)
	if !ok {
		writeError(ctx, fmt.Errorf("no such file %q: %w", file, boxoffice.ErrNotFound))
		return
	}
	pageHeaders(ctx)
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetContentType(typ)
	ctx.SetStatusCode(http.StatusOK)
	ctx.Response.SetBodyRaw(body)
}
