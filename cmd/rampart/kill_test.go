package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/client"
	"rampart/internal/testenv"
)

// TestKill9LosesNothingAcknowledged runs the real binary (defaults: journal
// on) under 20 players sending actions, kills it with SIGKILL mid-flight,
// restarts it on the same data dir, and checks every player: nothing
// acknowledged is lost, nothing is applied twice, and each signs in at once
// (no 409 from its own old lease).
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	p := testenv.StartRampart(t, nil, "--data-dir", dir)
	ctx := context.Background()
	c, err := client.New(p.URL, client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	const players = 20
	type ledger struct {
		id          string
		acked, sent atomic.Int64 // highest seq answered 200 / sent
	}
	ls := make([]*ledger, players)
	var total atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range players {
		l := &ledger{id: fmt.Sprintf("k9-%02d", i)}
		ls[i] = l
		sess, err := c.DevLogin(ctx, l.id)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				seq := sess.NextSeq()
				l.sent.Store(seq)
				a := client.Act("ping", `{}`)
				if n%7 == 3 {
					a = client.Act("collect", `{}`)
				}
				if _, err := sess.Do(ctx, a); err != nil {
					return // the server died under us
				}
				l.acked.Store(seq)
				total.Add(1)
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for total.Load() < 2000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // waiting on load from other goroutines, bounded
	}
	if err := p.Cmd.Process.Kill(); err != nil { // SIGKILL, mid-batch
		t.Fatal(err)
	}
	<-p.Exited
	close(stop)
	wg.Wait()
	t.Logf("killed after %d acknowledged actions", total.Load())
	checkReplayTool(t, dir, ls[0].id, ls[0].acked.Load())

	restarted := time.Now()
	p2 := testenv.StartRampart(t, nil, "--data-dir", dir)
	ready := time.Since(restarted)
	c2, err := client.New(p2.URL, client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	for _, l := range ls {
		t0 := time.Now()
		sess, err := c2.DevLogin(ctx, l.id)
		if err != nil {
			t.Fatalf("%s: sign-in after the restart: %v (want it at once: the server knows its own leases)", l.id, err)
		}
		slowest = max(slowest, time.Since(t0))
		st, err := sess.Player(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acked, sent := l.acked.Load(), l.sent.Load()
		if st.LastSeq < acked || st.LastSeq > sent {
			t.Errorf("%s: last_seq %d after the restart; acknowledged %d, sent %d: want between", l.id, st.LastSeq, acked, sent)
		}
	}
	t.Logf("restart to serving %v; slowest sign-in after it %v", ready, slowest)
}

// checkReplayTool runs `rampart replay` on the dead server's journal: the
// player's history verifies up to at least acked; a checkpoint that does
// not match the journal is a divergence and fails.
func checkReplayTool(t *testing.T, dataDir, id string, acked int64) {
	t.Helper()
	jdir := filepath.Join(dataDir, "journal")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "--journal-dir", jdir, "--player", id}, os.Getenv, &out, &errOut); err != nil {
		t.Fatalf("rampart replay: %v\n%s", err, out.String())
	}
	var applied int64
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if _, err := fmt.Sscanf(last, "%d records applied and verified", &applied); err != nil || applied < acked {
		t.Fatalf("rampart replay: %q; want at least %d records verified", last, acked)
	}
	bad := filepath.Join(t.TempDir(), "checkpoint.json")
	os.WriteFile(bad, []byte(`{"schema":1,"id":"`+id+`","rev":0,"base":{"res":{"gold":1}}}`), 0o644)
	out.Reset()
	err := run(context.Background(), []string{"replay", "--journal-dir", jdir, "--player", id, "--checkpoint", bad}, os.Getenv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("replay from a checkpoint the journal does not continue: %v, want a divergence", err)
	}
}
