package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// FerretDB starts FerretDB as a process of its own (the binary named by
// $RAMPART_FERRETDB; `make test-deps` builds bin/ferretdb) with its SQLite
// handler in a temporary dir, on a free loopback port, and returns its
// mongodb:// URI. It is stopped when t ends. This is the shared MongoDB of a
// cluster's tests; a single server embeds its own (devstores.StartMongo).
// Without the binary t is skipped, unless $RAMPART_REQUIRE_FERRETDB is set
// (as `make test` does): then it fails.
func FerretDB(t testing.TB) string {
	t.Helper()
	bin := binaryFromEnv(t, "RAMPART_FERRETDB", "RAMPART_REQUIRE_FERRETDB", "ferretdb not installed (make test-deps builds bin/ferretdb; set RAMPART_FERRETDB)")
	dir := t.TempDir()
	addr := FreeAddr(t)
	cmd := exec.Command(bin,
		"--handler=sqlite", "--sqlite-url=file:"+dir+"/",
		"--listen-addr="+addr,
		"--state-dir="+dir,    // state.json: the instance id, the telemetry choice
		"--debug-addr=-",      // no metrics/pprof listener (its default port would clash)
		"--telemetry=disable", // never report to beacon.ferretdb.com
		"--log-level=warn", "--log-format=text")
	out, err := os.Create(filepath.Join(t.TempDir(), "ferretdb.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary should that die without its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited := startProcess(t, "ferretdb", cmd, syscall.SIGTERM, 10*time.Second)
	uri := "mongodb://" + addr + "/"
	// The port first: a ping before it listens costs the driver's 500ms
	// heartbeat before it tries again.
	err = WaitListening(addr, exited, 15*time.Second)
	if err == nil {
		err = waitMongo(uri, exited, 15*time.Second)
	}
	if err != nil {
		log, _ := os.ReadFile(out.Name())
		t.Fatalf("ferretdb: %v\n%s", err, log)
	}
	return uri
}

// waitMongo pings uri until it answers, the process exits or the deadline
// passes.
func waitMongo(uri string, exited <-chan struct{}, within time.Duration) error {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(500 * time.Millisecond))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	return waitFor("answering", exited, within, func(ctx context.Context) error {
		return client.Ping(ctx, readpref.Primary())
	})
}
