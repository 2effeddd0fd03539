package app

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/stock"
)

// queuePasses is the waiting rooms' signer: --queue-secret, else a key
// derived from the members' HS256 secret (HKDF, so a pass is never a valid
// member token), else — a gateway without either — a random key good on this
// process only, with a warning.
func queuePasses(cfg config.Config, log *slog.Logger) (*auth.Passes, error) {
	secret, err := config.Secret(cfg.QueueSecret, cfg.QueueSecretFile)
	if err != nil {
		return nil, fmt.Errorf("queue secret: %w", err)
	}
	if secret == nil {
		authSecret, err := config.Secret(cfg.AuthSecret, cfg.AuthSecretFile)
		if err != nil {
			return nil, fmt.Errorf("auth secret: %w", err)
		}
		if authSecret != nil {
			if secret, err = hkdf.Key(sha256.New, authSecret, nil, "boxoffice waiting room passes", 32); err != nil {
				return nil, fmt.Errorf("queue secret: %w", err)
			}
		} else {
			secret = make([]byte, 32)
			rand.Read(secret)
			log.Warn("no --queue-secret and no --auth-secret: waiting-room passes and tickets are signed with a random key, good on this gateway only and only until it restarts; give every gateway the same --queue-secret")
		}
	}
	return auth.NewPasses(secret)
}

// parseOpensAt reads --opens-at: RFC 3339, "now", or "+duration" from now.
func parseOpensAt(v string, now time.Time) (time.Time, error) {
	switch {
	case v == "":
		return time.Time{}, boxoffice.Invalidf("--opens-at is required (RFC 3339, now, or +10m)")
	case v == "now":
		return now, nil
	case strings.HasPrefix(v, "+"):
		d, err := time.ParseDuration(v[1:])
		if err != nil || d < 0 {
			return time.Time{}, boxoffice.Invalidf("--opens-at %q: want +duration such as +10m", v)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, boxoffice.Invalidf("--opens-at %q: want RFC 3339 (2026-12-24T10:00:00Z), now, or +10m", v)
	}
	return t, nil
}

// roomForgetDelay outlasts a gateway's reading of the rooms (every second)
// and the tick under way.
const roomForgetDelay = 1500 * time.Millisecond

// RoomActions are boxoffice room's actions.
var RoomActions = []string{"set", "show", "list", "off"}

// roomView is what boxoffice room show and list print per room.
type roomView struct {
	Concert   int64      `json:"concertId"`
	OpensAt   time.Time  `json:"opensAt"`
	Rate      int        `json:"ratePerSecond"`
	MaxActive int        `json:"maxActive"`
	PassTTL   string     `json:"passTtl"`
	State     string     `json:"state"`
	Joined    int64      `json:"joined"`
	Admitted  int64      `json:"admitted"`
	Active    int64      `json:"active"`
	SoldOutAt *time.Time `json:"soldOutAt,omitempty"`
	InRedis   bool       `json:"inRedis"`
}

// Room runs boxoffice room <action>: set a concert's waiting room (MySQL,
// then Redis), show or list rooms with their state, or take one off.
func Room(ctx context.Context, cfg config.Config, action string, stdout io.Writer) error {
	st, err := openRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	db, err := openMySQL(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if action != "list" && cfg.RoomConcert <= 0 {
		return boxoffice.Invalidf("--concert is required")
	}
	view := func(r boxoffice.Room) (roomView, error) {
		v := roomView{Concert: r.Concert, OpensAt: r.OpensAt.UTC(), Rate: r.Rate, MaxActive: r.MaxActive, PassTTL: r.PassTTL.String(), State: stock.RoomScheduled}
		s, ok, err := st.Room(ctx, r.Concert)
		if err != nil || !ok {
			return v, err
		}
		v.State, v.Joined, v.Admitted, v.Active, v.InRedis = s.State, s.Joined, s.Admitted, s.Active, true
		if !s.SoldOutAt.IsZero() {
			t := s.SoldOutAt.UTC()
			v.SoldOutAt = &t
		}
		return v, nil
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch action {
	case "set":
		opens, err := parseOpensAt(cfg.RoomOpensAt, time.Now())
		if err != nil {
			return err
		}
		r := boxoffice.Room{Concert: cfg.RoomConcert, OpensAt: opens, Rate: cfg.RoomRate, MaxActive: cfg.RoomMaxActive, PassTTL: cfg.RoomPassTTL}
		if err := r.Check(); err != nil {
			return err
		}
		if _, err := db.Concert(ctx, r.Concert); err != nil {
			return err
		}
		// Redis first: it says which opening time holds (a room that has
		// opened keeps its own), and MySQL records that one.
		inForce, err := st.SetRoom(ctx, r)
		if err != nil {
			return err
		}
		if inForce.UnixMilli() != r.OpensAt.UnixMilli() {
			fmt.Fprintf(stdout, "the room has opened (or its opening time has passed): its opening time stays %s\n", inForce.UTC().Format(time.RFC3339))
			r.OpensAt = inForce
		}
		if err := db.SetRoom(ctx, r); err != nil {
			return err
		}
		v, err := view(r)
		if err != nil {
			return err
		}
		return enc.Encode(v)
	case "off":
		if err := db.DeleteRoom(ctx, cfg.RoomConcert); err != nil {
			return err
		}
		// The gateways stop asking for passes within a second (they read
		// the rooms from MySQL); the queue goes once they have: a tick
		// that still knew the room would write its settings back.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(roomForgetDelay):
		}
		if err := st.DeleteRoom(ctx, cfg.RoomConcert); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "concert %d: waiting room off; its sale is open to every member\n", cfg.RoomConcert)
		return nil
	case "show", "list":
		rooms, err := db.Rooms(ctx)
		if err != nil {
			return err
		}
		var out []roomView
		for _, r := range rooms {
			if action == "show" && r.Concert != cfg.RoomConcert {
				continue
			}
			v, err := view(r)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		if action == "show" {
			if len(out) == 0 {
				return fmt.Errorf("concert %d: %w", cfg.RoomConcert, boxoffice.ErrNoRoom)
			}
			return enc.Encode(out[0])
		}
		if out == nil {
			out = []roomView{}
		}
		return enc.Encode(out)
	}
	return errors.New("boxoffice room: unknown action " + action + " (" + strings.Join(RoomActions, ", ") + ")")
}
