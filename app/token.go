package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/config"
)

// Token is boxoffice token: it prints an HS256 token for --member, good for
// --ttl, signed with the gateway's --auth-secret (or its file).
func Token(_ context.Context, cfg config.Config, _ *slog.Logger) error {
	secret, err := config.Secret(cfg.AuthSecret, cfg.AuthSecretFile)
	if err != nil {
		return fmt.Errorf("auth secret: %w", err)
	}
	if secret == nil {
		return errors.New("no --auth-secret or --auth-secret-file (BOX_AUTH_SECRET[_FILE]): the token is signed with the gateway's secret")
	}
	tok, err := auth.Mint(secret, cfg.TokenMember, cfg.TokenTTL, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, tok)
	return err
}
