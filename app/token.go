package app

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/config"
)

// Token is boxoffice token: it prints to stdout an HS256 token for
// --member, good for --ttl, signed with the gateway's --auth-secret (or its
// file).
func Token(cfg config.Config, stdout io.Writer) error {
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
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
