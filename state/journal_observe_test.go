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
