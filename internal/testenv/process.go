package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// binaryFromEnv is the absolute path in $env naming a server binary a test
// needs. When $env is empty t is skipped with skipMsg, unless $require is
// set (as `make test` does): then it fails.
func binaryFromEnv(t testing.TB, env, require, skipMsg string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		if os.Getenv(require) != "" {
			t.Fatalf("%s is set but %s is not; run the tests with make test", require, env)
		}
		t.Skip(skipMsg)
	}
	if !filepath.IsAbs(bin) {
		t.Fatalf("%s=%s: want an absolute path", env, bin)
	}
	return bin
}

// startProcess starts cmd and stops it when t ends: it sends stop, and
// kills the process if it has not exited within grace (stop os.Kill: at
// once). The channel returned is closed once the process has exited.
// Cleanups registered before the call run after the process is gone.
func startProcess(t testing.TB, name string, cmd *exec.Cmd, stop os.Signal, grace time.Duration) <-chan struct{} {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(grace):
			cmd.Process.Kill()
			<-exited
		}
	})
	return exited
}

// waitFor calls try until it succeeds, the process exits or within
// passes, backing off from 5 ms to 200 ms between tries; what is what
// was awaited, for the error ("listening on 127.0.0.1:1234").
func waitFor(what string, exited <-chan struct{}, within time.Duration, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		err := try(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before %s: %w", what, err)
		case <-ctx.Done():
			return fmt.Errorf("not %s after %s: %w", what, within, err)
		case <-time.After(delay):
		}
	}
}
