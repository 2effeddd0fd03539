package main

import (
	"context"
	"errors"
	"io"
)

// runBench is wired once the bench package lands.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not available yet")
}
