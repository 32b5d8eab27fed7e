package state

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"rampart/internal/testenv"
)

// TestDueQueue: take returns the players due by now, each once, earliest
// first; an entry superseded by a later setDue is dropped, and the later
// one comes due at its own moment.
func TestDueQueue(t *testing.T) {
	s := &Store{}
	a, b, c := &Online{id: "a"}, &Online{id: "b"}, &Online{id: "c"}
	s.setDue(a, 30)
	s.setDue(b, 10)
	s.setDue(c, 20)
	s.setDue(c, 50) // moved later: the entry at 20 is stale
	s.setDue(b, 10) // the same moment twice
	tests := []struct {
		now  int64
		want []string
	}{
		{5, nil},
		{20, []string{"b"}},
		{30, []string{"a"}},
		{49, nil},
		{60, []string{"c"}},
		{100, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range s.due.take(tt.now) {
			got = append(got, e.o.id)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("take(%d) = %v, want %v", tt.now, got, tt.want)
		}
	}
	if n := s.due.len(); n != 0 {
		t.Errorf("%d entries left after everything came due, want 0", n)
	}
}

// TestSweepLooksAgainWhenSomethingCanBeDue: a player with nothing to save
// at its autosave moment is looked at again at its next one (a change
// meanwhile is saved then, not at once), at its lease's renewal if that
// comes first, and at the end of its idle time; in between the sweep
// visits nobody.
func TestSweepLooksAgainWhenSomethingCanBeDue(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	// Autosave 30 s, idle timeout 10 min, lease 2 min (renewed past 1 min).
	s := newStore(t, blobs, clk, "a")
	ctx := context.Background()
	sess := login(t, s, "ivy")
	steps := []struct {
		name    string
		advance time.Duration
		act     bool
		saved   bool
	}{
		{"first autosave moment, unchanged", 30 * time.Second, false, false},
		{"changed after it", 5 * time.Second, true, false},
		{"before the next moment", 15 * time.Second, false, false},
		{"the next autosave moment (by 60 s)", 11 * time.Second, false, true},
		{"unchanged since: looked at again at the lease's renewal (121 s)", 40 * time.Second, false, false},
		{"idle past 10 min", 10 * time.Minute, false, true},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if st.act {
			if _, _, err := s.Apply(sess, []Action{ping(int64(i + 1))}); err != nil {
				t.Fatal(err)
			}
		}
		puts := blobs.puts.Load()
		if failed := s.Sweep(ctx); failed != 0 {
			t.Fatalf("%s: %d saves failed", st.name, failed)
		}
		if got := blobs.puts.Load() - puts; (got > 0) != st.saved {
			t.Errorf("%s: %d saves, want saved %v", st.name, got, st.saved)
		}
	}
	if n := s.OnlineCount(); n != 0 {
		t.Errorf("online after the idle timeout: %d, want 0", n)
	}
}

// BenchmarkSweepNoneDue is a sweep when no player of many online is due:
// what every second costs between autosaves. Before the queue the sweep
// scanned every player: 27 µs at 1,000 and 3.6 ms at 25,000 here (10 ms
// a second at 25,000 in the production benchmark's profile, 2.3% of the
// core); with it, under a microsecond at either.
func BenchmarkSweepNoneDue(b *testing.B) {
	for _, n := range []int{1_000, 25_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			clk := newClock()
			s := NewStore(Config{ServerID: "bench", Autosave: 5 * time.Minute, Now: clk.Now}, testDeps(b, newBlobs(b, testenv.EmbeddedS3(b)), clk.Now))
			due := clk.Now().Add(time.Minute).UnixMilli()
			for i := range n {
				o := &Online{id: fmt.Sprintf("p%d", i)}
				s.players.Store(o.id, o)
				s.setDue(o, due+int64(i))
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				s.Sweep(ctx)
			}
		})
	}
}
