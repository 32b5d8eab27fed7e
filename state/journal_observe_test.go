package state

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestRecoveryAfterObservedSession: the same session as
// TestJournalRecoversUnsavedPlayer, but the player is also looked at
// between actions (GET /player catches the base up, unjournaled) — the
// recovered state must still check out record by record.
func TestRecoveryAfterObservedSession(t *testing.T) {
	blobs := newBlobs(t, s3Targets(t)[0])
	clk := newClock()
	dir := t.TempDir()
	a, ja := journaledStore(t, blobs, clk, "server-x", dir, nil)
	sess := login(t, a, "olga")
	steps := []struct {
		name, args string
		wait       time.Duration
	}{
		{"build", `{"type":"barracks","x":8,"y":8}`, time.Minute},
		{"build", `{"type":"army_camp","x":8,"y":30}`, time.Minute},
		{"upgrade_building", `{"building_id":"b1"}`, 10 * time.Second},
		{"collect", `{}`, time.Hour},
		{"train_units", `{"building_id":"b6","unit":"militia","count":3}`, time.Minute},
		{"no_such_action", `{}`, 7 * time.Second},
		{"buy_item", `{"item":"gold_small"}`, 3 * time.Second},
		{"collect", `{}`, 2 * time.Hour},
		{"speed_up", `{"building_id":"b6"}`, 1500 * time.Millisecond},
		{"collect", `{}`, 333 * time.Millisecond},
		{"move_building", `{"building_id":"b6","x":30,"y":30}`, time.Minute},
		{"collect", `{}`, 0},
	}
	for i, st := range steps {
		if _, _, err := a.Apply(sess, []Action{{Seq: int64(i + 1), Name: st.name, Args: json.RawMessage(st.args)}}); err != nil {
			t.Fatalf("step %d %s: %v", i+1, st.name, err)
		}
		for k := range 3 {
			clk.Advance(st.wait / 3)
			if _, err := a.View(sess); err != nil {
				t.Fatalf("view after step %d.%d: %v", i+1, k, err)
			}
		}
	}
	ja.Close()
	b, jb := journaledStore(t, blobs, clk, "server-x", dir, nil)
	defer jb.Close()
	st, err := b.Recover(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Diverged != 0 || st.Replayed != len(steps) {
		t.Fatalf("recovery %+v, want %d records replayed, none diverged", st, len(steps))
	}
}
