// Package testenv owns the real servers tests run against: the embedded S3
// server and, when `make test` installed them, versitygw, PostgreSQL (a
// FerretDB backend), FerretDB as a process of its own (a cluster's shared
// MongoDB) and haproxy (a cluster's front) on loopback.
package testenv

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"rampart/internal/devstores"
)

// S3 is one S3 server to test against.
type S3 struct {
	Name                 string
	Endpoint             string
	AccessKey, SecretKey string
}

// Discard is a logger that drops everything.
var Discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// EmbeddedS3 starts the embedded S3 server in a temporary dir for t.
func EmbeddedS3(t testing.TB) S3 {
	t.Helper()
	srv, err := devstores.StartS3(t.TempDir(), "rampart", Discard)
	if err != nil {
		t.Fatalf("start embedded s3: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return S3{Name: "embedded", Endpoint: srv.URL, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

// VersityGW starts versitygw (the binary named by $RAMPART_VERSITYGW) with
// the posix backend in a temporary dir, or skips t when it is not
// installed, unless $RAMPART_REQUIRE_VERSITYGW is set (as `make test` does).
func VersityGW(t testing.TB) S3 {
	t.Helper()
	bin := binaryFromEnv(t, "RAMPART_VERSITYGW", "RAMPART_REQUIRE_VERSITYGW", "versitygw not installed (make test installs it)")
	root := t.TempDir()
	addr := FreeAddr(t)
	const access, secret = "rampartroot", "rampartrootsecret"
	cmd := exec.Command(bin, "--port", addr, "--keep-alive", "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+access, "ROOT_SECRET_ACCESS_KEY="+secret)
	out, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	exited := startProcess(t, "versitygw", cmd, os.Kill, 0)
	if err := WaitListening(addr, exited, 15*time.Second); err != nil {
		log, _ := os.ReadFile(out.Name())
		t.Fatalf("versitygw: %v\n%s", err, log)
	}
	return S3{Name: "versitygw", Endpoint: "http://" + addr, AccessKey: access, SecretKey: secret}
}

// S3Targets are the real S3 servers a persistence suite runs on: the
// embedded one always, and versitygw when it is installed (or required).
// A missing versitygw drops its target only, never the embedded half.
func S3Targets(t testing.TB) []S3 {
	t.Helper()
	targets := []S3{EmbeddedS3(t)}
	if os.Getenv("RAMPART_VERSITYGW") != "" || os.Getenv("RAMPART_REQUIRE_VERSITYGW") != "" {
		targets = append(targets, VersityGW(t))
	} else {
		t.Log("versitygw not installed: running on the embedded S3 only (make test installs it)")
	}
	return targets
}

// FreeAddr returns a loopback address with a port free at the moment.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitListening dials addr until it answers, the process exits or the
// deadline passes.
func WaitListening(addr string, exited <-chan struct{}, within time.Duration) error {
	var d net.Dialer
	return waitFor("listening on "+addr, exited, within, func(ctx context.Context) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}
