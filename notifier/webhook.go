package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/boxoffice/boxoffice/event"
)

// Webhook POSTs notifications to one URL.
type Webhook struct {
	url *url.URL
	// where names the receiver in errors and logs: scheme and host only,
	// because webhook URLs often carry a secret in their path or query.
	where   string
	timeout time.Duration
	client  *http.Client
}

// NewWebhook checks rawURL (http or https, with a host) and returns a
// webhook whose every call is bounded by timeout.
func NewWebhook(rawURL string, timeout time.Duration) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook-url: want an http or https URL with a host")
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("webhook-timeout must be positive, got %s", timeout)
	}
	return &Webhook{
		url:     u,
		where:   u.Scheme + "://" + u.Host,
		timeout: timeout,
		client: &http.Client{
			// Redirects are not followed: Go turns a POST answered 301/302/303
			// into a GET without the body, which would count as delivered
			// while nothing was. A 3xx is retried like any other non-2xx.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Where is the receiver's scheme and host, safe to log.
func (w *Webhook) Where() string { return w.where }

// CloseIdleConnections closes the kept-alive connections to the receiver.
func (w *Webhook) CloseIdleConnections() { w.client.CloseIdleConnections() }

// StatusError is a webhook answer outside 2xx.
type StatusError struct {
	Status int
	// Body is the start of the answer's body, for the logs.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("webhook answered %d: %q", e.Status, e.Body)
}

// Permanent reports whether the receiver refused the notification for good:
// a 4xx other than 408 (request timeout) and 429 (too many requests), which
// only ask to try again later. Retrying a permanent refusal would block the
// partition forever.
func (e *StatusError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// Permanent reports whether err is a permanent refusal (see StatusError.Permanent).
func Permanent(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Permanent()
}

// bodySnippet is how much of an answer's body goes into a StatusError, and
// drainLimit how much more is read so the connection can be reused.
const (
	bodySnippet = 512
	drainLimit  = 64 << 10
)

// Post sends n as JSON and waits for the answer, at most the webhook timeout.
// It returns nil on a 2xx, a *StatusError on any other status, and a
// transport error (connection refused, timeout…) otherwise.
func (w *Webhook) Post(ctx context.Context, n event.Notification) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(n.Encode()))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "boxoffice-notifier")
	req.Header.Set("Idempotency-Key", IdempotencyKey(n))
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL; keep only scheme and host.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post %s: %w", w.where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, bodySnippet))
	io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	return &StatusError{Status: resp.StatusCode, Body: strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?"))}
}

// IdempotencyKey is the header value a receiver uses to drop duplicates:
// delivery is at least once, and one reservation gets at most one
// notification of each type.
func IdempotencyKey(n event.Notification) string {
	if n.Type.Room() {
		// About a member, not a reservation: once per member, concert and
		// type (a room admits a member once; sells out once for them).
		return "room:" + strconv.FormatInt(n.ConcertID, 10) + ":" + strconv.FormatInt(n.MemberID, 10) + ":" + string(n.Type)
	}
	return n.ReservationID + ":" + string(n.Type)
}
