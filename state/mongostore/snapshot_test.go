package mongostore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"rampart/state"
)

// TestIndexSnapshotAgreesWithTheIndex: an IndexSnapshot over a Store
// answers Top, Rank and Opponents as the Store's own queries do, on
// players with tied trophies and shields, on each backend.
func TestIndexSnapshotAgreesWithTheIndex(t *testing.T) { forEachStore(t, testIndexSnapshotAgrees) }

func testIndexSnapshotAgrees(t *testing.T, s *Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	const now = 1_000_000
	for i := range 120 {
		sum := state.Summary{ID: fmt.Sprintf("p%03d", i), Trophies: rng.IntN(40) * 10, TownHall: 1 + rng.IntN(5)}
		if rng.IntN(4) == 0 {
			sum.ShieldUntil = now + int64(rng.IntN(3)-1)*1000 // before, at or after now
		}
		if err := s.Upsert(ctx, sum); err != nil {
			t.Fatal(err)
		}
	}
	x := state.NewIndexSnapshot(s, nil, s.Summaries, state.SnapshotConfig{Every: 1 << 62})
	same := func(what string, direct, snap any, err1, err2 error) {
		t.Helper()
		if err1 != nil || err2 != nil || fmt.Sprint(direct) != fmt.Sprint(snap) {
			t.Errorf("%s: index %v (%v), snapshot %v (%v)", what, direct, err1, snap, err2)
		}
	}
	for _, n := range []int{1, 10, 200} {
		d, err1 := s.Top(ctx, n)
		c, err2 := x.Top(ctx, n)
		same(fmt.Sprintf("Top(%d)", n), d, c, err1, err2)
	}
	// A player asks its rank at the trophies the index holds for it (its
	// summary is written behind each save that moves them); and ids the
	// index does not have.
	all, err := s.Summaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(all[:min(len(all), 30)], state.Summary{ID: "zzz", Trophies: 200}, state.Summary{ID: "", Trophies: 390}) {
		d, err1 := s.Rank(ctx, p.Trophies, p.ID)
		c, err2 := x.Rank(ctx, p.Trophies, p.ID)
		same(fmt.Sprintf("Rank(%d, %q)", p.Trophies, p.ID), d, c, err1, err2)
	}
	for _, q := range []state.OpponentQuery{
		{Trophies: 200, Tolerance: 30, Exclude: "p010", Now: now, Limit: 50},
		{Trophies: 200, Tolerance: 100, Now: now, Limit: 5},
		{Trophies: 0, Tolerance: 0, Now: now, Limit: 50},
		{Trophies: 390, Tolerance: 1000, Now: now + 5000, Limit: 500},
	} {
		d, err1 := s.Opponents(ctx, q)
		c, err2 := x.Opponents(ctx, q)
		same(fmt.Sprintf("Opponents(%+v)", q), d, c, err1, err2)
	}
}
