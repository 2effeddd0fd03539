package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/boxoffice/boxoffice"
)

// Passes signs and verifies what a waiting room hands out: a ticket (a
// member's place in a concert's queue, for reading it back where a header
// cannot be sent, as EventSource cannot) and a pass (admitted to buy, until
// its expiry). Both are HS256 JWTs under the room's own key, so any gateway
// verifies them without Redis; the "typ" claim keeps one from standing for
// the other.
type Passes struct {
	secret []byte
	parser *jwt.Parser
}

// Kinds of room token.
const (
	KindPass   = "pass"
	KindTicket = "ticket"
)

// TicketTTL is how long a ticket lets its holder read their place.
const TicketTTL = 24 * time.Hour

type roomClaims struct {
	Concert int64  `json:"concert"`
	Kind    string `json:"typ"`
	jwt.RegisteredClaims
}

// NewPasses returns Passes under secret (at least 32 bytes).
func NewPasses(secret []byte) (*Passes, error) {
	if len(secret) < minSecret {
		return nil, fmt.Errorf("queue secret is %d bytes; use at least %d (e.g. openssl rand -hex 32)", len(secret), minSecret)
	}
	return &Passes{secret: secret, parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(), jwt.WithLeeway(time.Second))}, nil
}

// Sign returns a token of kind for member in concert, good until exp.
func (p *Passes) Sign(kind string, concert, member int64, exp, now time.Time) (string, error) {
	claims := roomClaims{Concert: concert, Kind: kind, RegisteredClaims: jwt.RegisteredClaims{
		Subject: strconv.FormatInt(member, 10), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(p.secret)
}

// Verify checks a token of kind for concert and returns its member. Every
// failure is boxoffice.ErrNotAdmitted for a pass and ErrUnauthorized for a
// ticket, with a message that names the problem.
func (p *Passes) Verify(kind, token string, concert int64) (int64, error) {
	sentinel := boxoffice.ErrNotAdmitted
	if kind == KindTicket {
		sentinel = boxoffice.ErrUnauthorized
	}
	var c roomClaims
	_, err := p.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return p.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, fmt.Errorf("%w: the %s has expired", sentinel, kind)
	case err != nil:
		return 0, fmt.Errorf("%w: the %s is not valid (%s)", sentinel, kind, tokenProblem(err))
	case c.Kind != kind:
		return 0, fmt.Errorf("%w: that is a %s, not a %s", sentinel, c.Kind, kind)
	case c.Concert != concert:
		return 0, fmt.Errorf("%w: the %s is for concert %d, not %d", sentinel, kind, c.Concert, concert)
	}
	member, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || member <= 0 {
		return 0, fmt.Errorf("%w: the %s names no member", sentinel, kind)
	}
	return member, nil
}
