package main

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	p := testenv.StartRampart(t, nil, "--data-dir", dir, "--rate-limit", "100000", "--rate-burst", "100000")
	ctx := context.Background()
	c := noRetryClient(t, p.URL)
	const players = 20
	type ledger struct {
		id          string       // the test's name (its device id derives from it)
		pid         string       // the account's player id
		acked, sent atomic.Int64 // highest seq answered 200 / sent
	}
	ls := make([]*ledger, players)
	var total atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range players {
		l := &ledger{id: fmt.Sprintf("k9-%02d", i)}
		ls[i] = l
		sess, err := c.SignInDevice(ctx, deviceID(l.id), true)
		if err != nil {
			t.Fatal(err)
		}
		l.pid = sess.PlayerID()
		wg.Go(func() {
			untilClosed(stop, func(n int) bool {
				seq := sess.NextSeq()
				l.sent.Store(seq)
				a := client.Act("ping", `{}`)
				if n%7 == 3 {
					a = client.Act("collect", `{}`)
				}
				if _, err := sess.Do(ctx, a); err != nil {
					return false // the server died under us
				}
				l.acked.Store(seq)
				total.Add(1)
				return true
			})
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
	checkReplayTool(t, dir, ls[0].pid, ls[0].acked.Load())

	restarted := time.Now()
	p2 := testenv.StartRampart(t, nil, "--data-dir", dir, "--rate-limit", "100000", "--rate-burst", "100000")
	ready := time.Since(restarted)
	c2 := noRetryClient(t, p2.URL)
	var slowest time.Duration
	for _, l := range ls {
		t0 := time.Now()
		sess, err := c2.SignInDevice(ctx, deviceID(l.id), true)
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

// noRetryClient is a client of base that retries nothing: each test here
// counts what one try got.
func noRetryClient(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(base, client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMachineLossTakeover: the owner dies with its disk (kill -9, data dir
// deleted). Another server on the same S3 takes its players once their
// leases run out and replays what the dead one shipped: nothing
// acknowledged is lost except within the shipping interval before the
// kill (the stated bound: 1 s, plus one PUT).
func TestMachineLossTakeover(t *testing.T) {
	s3 := testenv.VersityGW(t)
	// Budgets open: the players here send back to back.
	s3flags := []string{"--s3-endpoint", s3.Endpoint, "--s3-access-key", s3.AccessKey, "--rate-limit", "100000", "--rate-burst", "100000"}
	s3env := []string{"RAMPART_S3_SECRET_KEY=" + s3.SecretKey} // secrets are refused on the command line
	dirA := t.TempDir()
	a := testenv.StartRampart(t, s3env, append([]string{"--data-dir", dirA, "--lease-ttl", "3s", "--autosave", "1h"}, s3flags...)...)
	ctx := context.Background()
	ca := noRetryClient(t, a.URL)
	const players = 10
	type ack struct {
		seq int64
		at  time.Time
	}
	acks := make([][]ack, players)
	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range players {
		sess, err := ca.SignInDevice(ctx, deviceID(fmt.Sprintf("ml-%02d", i)), true)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			untilClosed(stop, func(int) bool {
				seq := sess.NextSeq()
				if _, err := sess.Do(ctx, client.Act("ping", `{}`)); err != nil {
					return false
				}
				acks[i] = append(acks[i], ack{seq, time.Now()})
				acked.Add(1)
				return true
			})
		})
	}
	// Play long enough for several shipments (one a second).
	for deadline := time.Now().Add(60 * time.Second); acked.Load() < 6000 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // polling other goroutines' progress, bounded
	}
	killed := time.Now()
	if err := a.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.Exited
	close(stop)
	wg.Wait()
	if err := os.RemoveAll(dirA); err != nil { // the machine is gone, its disk with it
		t.Fatal(err)
	}

	b := testenv.StartRampart(t, s3env, append([]string{"--data-dir", t.TempDir()}, s3flags...)...)
	cb := noRetryClient(t, b.URL)
	lost, total := 0, 0
	for i := range players {
		id := fmt.Sprintf("ml-%02d", i)
		// 409 until A's lease (3 s) runs out; then B takes the player.
		var sess *client.Session
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; {
			sess, err = cb.SignInDevice(ctx, deviceID(id), false) // the same account, in the shared S3
			if err == nil || !errors.Is(err, client.ErrPlayerBusy) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // waiting out a lease on the wall clock
		}
		if err != nil {
			t.Fatalf("%s: take over on the second server: %v", id, err)
		}
		st, err := sess.Player(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += len(acks[i])
		for _, a := range acks[i] {
			if a.seq <= st.LastSeq {
				continue
			}
			lost++
			if before := killed.Sub(a.at); before > 2*time.Second {
				t.Errorf("%s: seq %d, acknowledged %v before the kill, was lost (last_seq %d): beyond the shipping bound", id, a.seq, before, st.LastSeq)
			}
		}
		if len(acks[i]) > 0 && st.LastSeq == 0 {
			t.Errorf("%s: nothing recovered from the shipped journal (%d acknowledged)", id, len(acks[i]))
		}
	}
	t.Logf("%d of %d acknowledged actions lost with the machine (all within the last shipping interval)", lost, total)
}
