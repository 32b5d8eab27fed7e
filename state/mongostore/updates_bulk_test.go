package mongostore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"rampart/state"
)

// TestUpdatesFlushesManyKnownPlayers flushes, with the default batch, the
// summaries of more players already in the index than FerretDB v1.24 can
// update in one command: it holds every matched document's query open
// until the command ends, one pooled connection each (SQLite: 100; on
// PostgreSQL fewer), and a command that needs one more waits for ever,
// wedging every later write too.
func TestUpdatesFlushesManyKnownPlayers(t *testing.T) {
	forEachStore(t, testUpdatesFlushesManyKnownPlayers)
}

func testUpdatesFlushesManyKnownPlayers(t *testing.T, s *Store) {
	const players = 120
	u := NewUpdates(s, UpdatesConfig{FlushEvery: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for round := range 2 { // the first inserts, the second updates
		for i := range players {
			u.Publish(state.Summary{ID: fmt.Sprintf("p%03d", i), Trophies: 100*round + i})
		}
		if err := u.Flush(ctx); err != nil {
			t.Fatalf("round %d: flush %d summaries: %v", round, players, err)
		}
	}
	if st := u.Stats(); st.Written != 2*players || st.Dropped != 0 {
		t.Errorf("stats: got %+v, want %d written, none dropped", st, 2*players)
	}
	top, err := s.Top(ctx, 1)
	if err != nil {
		t.Fatalf("top after the flushes: %v", err)
	}
	if want := (state.Summary{ID: fmt.Sprintf("p%03d", players-1), Trophies: 100 + players - 1}); len(top) != 1 || top[0] != want {
		t.Errorf("Top(1): got %+v, want [%+v]", top, want)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := s.Upsert(wctx, state.Summary{ID: "p000", Trophies: 1}); err != nil {
		t.Errorf("a single upsert after the flushes: %v", err)
	}
}

// TestUpdatesTellsWhatItDropped: summaries whose writes fail (MongoDB
// gone) or do not fit the queue are reported by player, so the store can
// write them again at their next save.
func TestUpdatesTellsWhatItDropped(t *testing.T) {
	m, client := startMongo(t, mongoTargets()[0])
	s, err := Open(context.Background(), client, "rampart", mongoKeeper(1, time.Second), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	u := NewUpdates(s, UpdatesConfig{FlushEvery: time.Hour, MaxPending: 2})
	var dropped []string
	u.SetOnDrop(func(ids []string) { dropped = append(dropped, ids...) })
	u.Create(state.Summary{ID: "new"})
	u.Publish(state.Summary{ID: "known", Trophies: 5})
	u.Publish(state.Summary{ID: "other", Trophies: 6})
	u.Publish(state.Summary{ID: "overflow", Trophies: 7}) // past MaxPending
	if !slices.Equal(dropped, []string{"overflow"}) {
		t.Fatalf("dropped before the flush: %v, want [overflow]", dropped)
	}
	m.Close() // MongoDB goes away
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := u.Flush(ctx); err == nil {
		t.Fatal("flush with MongoDB gone: no error")
	}
	slices.Sort(dropped)
	if want := []string{"known", "new", "other", "overflow"}; !slices.Equal(dropped, want) {
		t.Errorf("dropped: %v, want %v", dropped, want)
	}
	if st := u.Stats(); st.Dropped != 4 {
		t.Errorf("dropped count %d, want 4", st.Dropped)
	}
}
