package state

import (
	"context"
	"testing"
)

// TestRecoveryAfterObservedSession: the session of
// TestJournalRecoversUnsavedPlayer, with the player looked at between
// actions (GET /player catches the base up, unjournaled): the recovered
// state must still check out record by record. Before every record was
// settled to its moment, replay diverged at the unknown action (rev 6).
func TestRecoveryAfterObservedSession(t *testing.T) {
	blobs := newBlobs(t, s3Targets(t)[0])
	clk := newClock()
	dir := t.TempDir()
	a, ja := journaledStore(t, blobs, clk, "server-x", dir, nil)
	sess := login(t, a, "olga")
	acked := script(t, a, sess, clk, func() {
		if _, err := a.View(sess); err != nil {
			t.Fatalf("view: %v", err)
		}
	})
	ja.Close()
	b, jb := journaledStore(t, blobs, clk, "server-x", dir, nil)
	defer jb.Close()
	st, err := b.Recover(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Diverged != 0 || st.Replayed != int(acked) {
		t.Fatalf("recovery %+v, want %d records replayed, none diverged", st, acked)
	}
}

// TestRecoverInBackground: after a crash the server serves at once. A
// player who signs in before the background recovery reaches it replays
// its records from memory at its load; the others are replayed and saved
// in the background; both end byte for byte where the dead server left
// them, and the journal keeps their segments until then.
func TestRecoverInBackground(t *testing.T) {
	blobs := newBlobs(t, s3Targets(t)[0])
	clk := newClock()
	dir := t.TempDir()
	a, ja := journaledStore(t, blobs, clk, "server-x", dir, nil)
	want := map[string]uint64{}
	for _, name := range []string{"carol", "dave", "erin"} {
		sess := login(t, a, name)
		script(t, a, sess, clk, nil)
		sess.o.mu.Lock()
		want[sess.o.id] = stateHash(&sess.o.p)
		sess.o.mu.Unlock()
	}
	ja.Close() // the process dies: nothing saved since the logins

	b, jb := journaledStore(t, blobs, clk, "server-x", dir, nil)
	defer jb.Close()
	// RecoverInBackground's two steps, with carol's sign-in between them so
	// that her load is sure to replay from memory.
	recs, first, st, err := b.scanJournal(dir)
	if err != nil || len(recs) != 3 {
		t.Fatalf("journal scan: %d players, %v; want 3", len(recs), err)
	}
	b.holdTails(recs, first)
	sess := login(t, b, "carol")
	sess.o.mu.Lock()
	got := stateHash(&sess.o.p)
	sess.o.mu.Unlock()
	if got != want[sess.o.id] {
		t.Errorf("carol signed in during recovery: hash %016x, want %016x", got, want[sess.o.id])
	}
	if st, err = b.recoverAll(context.Background(), recs, st, recoverBackground); err != nil ||
		st.Players != 3 || st.Loaded != 1 || st.Saved != 2 || st.Diverged != 0 {
		t.Fatalf("background recovery: %+v %v; want 3 players, carol loaded first, 2 saved, none diverged", st, err)
	}
	if b.hasTail(sess.o.id) {
		t.Errorf("carol's records still wait after her load and the recovery")
	}
	for _, name := range []string{"dave", "erin"} {
		s := login(t, b, name)
		s.o.mu.Lock()
		got := stateHash(&s.o.p)
		s.o.mu.Unlock()
		if got != want[s.o.id] {
			t.Errorf("%s after the background recovery: hash %016x, want %016x", name, got, want[s.o.id])
		}
	}
}
