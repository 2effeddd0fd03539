package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// devBinary is the program `boxoffice dev` runs (cmd/boxoffice-dev): the
// stand-ins live outside this binary, which every gateway and writer runs.
const devBinary = "boxoffice-dev"

// runDev is `boxoffice dev`: it becomes boxoffice-dev, found next to this
// executable or on the PATH, with the same arguments.
func runDev(_ context.Context, args []string, _, _ io.Writer, _ *slog.Logger) error {
	path := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), devBinary); isExecutable(p) {
			path = p
		}
	}
	if path == "" {
		p, err := exec.LookPath(devBinary)
		if err != nil {
			return fmt.Errorf("dev runs %s, which is neither next to this binary nor on the PATH: build it with `make build` (bin/%s) or `go build ./cmd/%s`", devBinary, devBinary, devBinary)
		}
		path = p
	}
	if err := syscall.Exec(path, append([]string{path}, args...), os.Environ()); err != nil {
		return fmt.Errorf("run %s: %w", path, err)
	}
	return nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
