package state

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"rampart/internal/testenv"
)

// TestDueQueue: take returns the players due by now, earliest first; a
// player set again is moved, not queued twice, and one that left memory
// is taken out.
func TestDueQueue(t *testing.T) {
	s := &Store{}
	a, b, c, d := &Online{id: "a"}, &Online{id: "b"}, &Online{id: "c"}, &Online{id: "d"}
	s.setDue(a, 30)
	s.setDue(b, 10)
	s.setDue(c, 20)
	s.setDue(d, 25)
	s.setDue(c, 50) // moved later
	s.setDue(b, 10) // the same moment again
	s.leaveMemory(d)
	s.setDue(d, 26) // gone: not queued again
	if n := s.due.len(); n != 3 {
		t.Fatalf("%d queued, want 3 (one each for a, b, c)", n)
	}
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

// TestSweepLooksAgainWhenSomethingCanBeDue: with a 5-minute autosave and
// a 2-minute lease, the sweep looks at a player when its lease needs
// renewing (a change meanwhile waits for that look, it is not saved at
// once), renews it in time each time, and logs it out at the end of its
// idle time; in between it saves nothing.
func TestSweepLooksAgainWhenSomethingCanBeDue(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	s := NewStore(Config{ServerID: "a", Autosave: 5 * time.Minute, IdleTimeout: 10 * time.Minute,
		LeaseTTL: 2 * time.Minute, Now: clk.Now}, testDeps(t, blobs, clk.Now))
	ctx := context.Background()
	sess := login(t, s, "ivy") // at 0 s: lease to 120 s, renewed past 60 s
	steps := []struct {
		name    string
		advance time.Duration
		act     bool
		saved   bool
	}{
		{"30 s", 30 * time.Second, false, false},
		{"35 s, changed", 5 * time.Second, true, false},
		{"59 s", 24 * time.Second, false, false},
		{"61 s: the lease's renewal, with the change", 2 * time.Second, false, true},
		{"120 s", 59 * time.Second, false, false},
		{"122 s: the lease's renewal again, long before the autosave (331-361 s)", 2 * time.Second, false, true},
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
				s.players.store(o.id, o)
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

// TestPrioritise: a raid brings the checkpoint forward to within 30 s
// always (it publishes the new trophies and shield to the index); a
// purchase only where no shipped journal keeps it.
func TestPrioritise(t *testing.T) {
	tests := []struct {
		name        string
		prioritised bool // no journal, or not shipped
		raid        bool
		sooner      bool
	}{
		{"purchase, journal shipped", false, false, false},
		{"purchase, no shipped journal", true, false, true},
		{"raid, journal shipped", false, true, true},
		{"raid, no shipped journal", true, true, true},
	}
	now := time.UnixMilli(1_000_000)
	for _, tt := range tests {
		s := &Store{prioritised: tt.prioritised}
		o := &Online{id: "p"}
		later := now.Add(5 * time.Minute).UnixMilli()
		s.setDue(o, later)
		s.prioritise(o, now, tt.raid)
		want := later
		if tt.sooner {
			want = now.Add(valuableWithin).UnixMilli()
		}
		if got := o.dueAt.Load(); got != want {
			t.Errorf("%s: due at %d, want %d", tt.name, got, want)
		}
		if e := s.due.take(want); len(e) != 1 || e[0].o != o {
			t.Errorf("%s: queue at the due moment: %v, want the player", tt.name, e)
		}
	}
}
