package mongostore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"rampart/state"
)

// TestMembersLiveness walks one server's view of another through the
// membership's rules: alive while its heartbeat moves, dead after
// DeadAfter of standing still or once its document is gone, unknown
// (never dead) while this server cannot list the members.
func TestMembersLiveness(t *testing.T) {
	forEachMongo(t, func(t *testing.T, target mongoTarget) {
		_, client := startMongo(t, target)
		var clock atomic.Int64
		clock.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
		now := func() time.Time { return time.UnixMilli(clock.Load()) }
		db := client.Database("rampart")
		ctx := context.Background()
		a := NewMembers(db, mongoKeeper(1, time.Second), Member{ID: "a", Addr: "127.0.0.1:1"}, testLog(t), now)
		b := NewMembers(db, mongoKeeper(1, time.Second), Member{ID: "b", Addr: "127.0.0.1:2"}, testLog(t), now)
		for _, m := range []*Members{a, b} {
			if err := m.Register(ctx); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			name    string
			advance time.Duration
			beatA   bool // a beats before b lists
			list    bool // b lists
			leaveA  bool
			want    state.Liveness
		}{
			{"registered", 0, false, true, false, state.Alive},
			{"beating", 6 * time.Second, true, true, false, state.Alive},
			{"silent 6s", 6 * time.Second, false, true, false, state.Alive},
			{"silent 12s", 6 * time.Second, false, true, false, state.Dead},
			{"beats again", time.Second, true, true, false, state.Alive},
			{"listing stale", 20 * time.Second, false, false, false, state.LivenessUnknown},
			{"left", 0, false, true, true, state.Dead},
		}
		for _, s := range steps {
			clock.Add(s.advance.Milliseconds())
			if s.beatA {
				if err := a.Beat(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if s.leaveA {
				if err := a.Leave(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if s.list {
				if err := b.List(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.Liveness(ctx, "a"); got != s.want {
				t.Fatalf("%s: b sees a %v, want %v", s.name, got, s.want)
			}
		}
		if got := b.Addr(ctx, "b"); got != "127.0.0.1:2" {
			t.Errorf("b's own address %q", got)
		}
		if !b.Fenced() {
			t.Error("b not fenced, its last heartbeat 39s old")
		}
		if err := b.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		if b.Fenced() {
			t.Error("b fenced right after its heartbeat")
		}
	})
}
