package state

import (
	"context"
	"slices"
	"testing"
)

// TestRecoveryWritesTheIndexOnlyForAMovedRanking: a restart replays every
// player's records and saves them, but writes an index entry only where
// the records moved what the index's queries select by (trophies, shield),
// as a live save does. Builds and trains do not; a restart of 20,000
// players wrote 20,000 entries. A player brought back by its own sign-in
// keeps the checkpoint's entry as the one published.
func TestRecoveryWritesTheIndexOnlyForAMovedRanking(t *testing.T) {
	blobs := newBlobs(t, s3Targets(t)[0])
	clk := newClock()
	dir := t.TempDir()
	a, ja := journaledStore(t, blobs, clk, "server-x", dir, nil)
	for _, name := range []string{"carol", "dave", "erin"} {
		sess := login(t, a, name)
		script(t, a, sess, clk, nil) // builds, upgrades, trains, collects: no raid
	}
	ja.Close() // the process dies: nothing saved since the logins

	b, jb := journaledStore(t, blobs, clk, "server-x", dir, nil)
	defer jb.Close()
	index := &recordingUpdates{}
	b.mongo.Updates = index
	recs, first, st, err := b.scanJournal(dir)
	if err != nil || len(recs) != 3 {
		t.Fatalf("journal scan: %d players, %v; want 3", len(recs), err)
	}
	b.holdTails(recs, first)
	sess := login(t, b, "carol") // replays her records at her load
	if st, err = b.recoverAll(context.Background(), recs, st, recoverBackground); err != nil || st.Saved != 2 || st.Diverged != 0 {
		t.Fatalf("background recovery: %+v %v; want 2 saved, none diverged", st, err)
	}
	if got := index.take(); len(got) != 0 {
		t.Errorf("index entries written by the recovery: %v, want none (no record moved a ranking)", got)
	}
	sess.o.mu.Lock()
	indexed, now := sess.o.published, b.summary(&sess.o.p, clk.Now())
	sess.o.mu.Unlock()
	if !sameRanking(indexed, now) || indexed.ID != sess.o.id {
		t.Errorf("carol's published entry after her replaying load: %+v, want her ranking %+v", indexed, now)
	}
	if got := index.take(); slices.Contains(got, "carol") {
		t.Errorf("carol's load wrote the index: %v", got)
	}
}
