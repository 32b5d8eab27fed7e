package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Rampart is a real `rampart serve` process started by a test.
type Rampart struct {
	// URL is the base URL it listens on, e.g. http://127.0.0.1:41234.
	URL string
	// DataDir is its --data-dir.
	DataDir string
	Cmd     *exec.Cmd
	// Exited is closed when the process has exited; then ExitErr is set.
	Exited  chan struct{}
	ExitErr error
	stderr  SyncBuffer
}

// Stderr is what the process logged so far.
func (p *Rampart) Stderr() string { return p.stderr.String() }

// Stop sends SIGTERM and waits for the exit (at most within).
func (p *Rampart) Stop(within time.Duration) error {
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.Exited:
		return p.ExitErr
	case <-time.After(within):
		p.Cmd.Process.Kill()
		<-p.Exited
		return fmt.Errorf("rampart did not exit within %s after SIGTERM", within)
	}
}

var build struct {
	once sync.Once
	bin  string
	err  error
}

// RampartBinary builds ./cmd/rampart once per test binary and returns its
// path. RAMPART_BIN, when set, names a binary to use instead.
func RampartBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("RAMPART_BIN"); bin != "" {
		return bin
	}
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "rampart-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "rampart")
		cmd := exec.Command("go", "build", "-o", build.bin, "rampart/cmd/rampart")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build rampart: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// moduleRoot is the folder holding go.mod, found from this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// StartRampart runs `rampart serve` on a free loopback port with a fresh
// data dir (unless args name --data-dir) and its embedded stores, with the
// extra args and environment given. It is killed when t ends.
func StartRampart(t testing.TB, env []string, args ...string) *Rampart {
	t.Helper()
	p := &Rampart{Exited: make(chan struct{})}
	full := []string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}
	if !hasFlag(args, "--data-dir") {
		p.DataDir = t.TempDir()
		full = append(full, "--data-dir", p.DataDir)
	}
	for i, a := range args {
		if a == "--data-dir" && i+1 < len(args) {
			p.DataDir = args[i+1]
		}
	}
	p.Cmd = exec.Command(RampartBinary(t), append(full, args...)...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stderr = &p.stderr
	stdout, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.ExitErr = p.Cmd.Wait(); close(p.Exited) }()
	t.Cleanup(func() {
		p.Cmd.Process.Kill()
		<-p.Exited
		if t.Failed() {
			t.Logf("rampart stderr (last 4 KiB):\n%s", tail(p.Stderr(), 4096))
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("rampart did not start: %v\n%s", err, p.Stderr())
	}
	go io.Copy(io.Discard, stdout)
	p.URL = strings.TrimSpace(strings.TrimPrefix(line, "rampart listening on "))
	return p
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SyncBuffer is a bytes.Buffer safe for a child's output and a test's reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
