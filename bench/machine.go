package bench

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// readMachine describes the machine the client runs on. Fields it cannot
// read (no /proc outside Linux) stay empty.
func readMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPU = parseCPUModel(f)
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.MemoryBytes = parseMemTotal(f)
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// parseCPUModel returns the first "model name" of /proc/cpuinfo (x86), or
// failing that a "Hardware"/"CPU part"-style line that names the processor.
func parseCPUModel(r io.Reader) string {
	var fallback string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "model name":
			return value
		case "Hardware", "Model", "uarch", "cpu model":
			if fallback == "" {
				fallback = value
			}
		}
	}
	return fallback
}

// parseMemTotal returns MemTotal of /proc/meminfo in bytes, or 0.
func parseMemTotal(r io.Reader) int64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n
	}
	return 0
}
