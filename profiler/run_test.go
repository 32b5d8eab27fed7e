package profiler

import (
	"context"
	"math"
	"rampart/internal/testenv"
	"testing"
	"time"
)

// goRun runs run on a context of its own; done receives what it returns.
// stop ends the context and checks run returns nil within 10 s.
func goRun(t *testing.T, run func(context.Context) error) (done <-chan error, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan error, 1)
	go func() { ch <- run(ctx) }()
	return ch, func() {
		t.Helper()
		cancel()
		if err := testenv.Receive(t, ch, 10*time.Second, "Run did not return after its context ended"); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}
}

// TestSamplerRun runs the sampling loop on injected ticks: Run samples
// once at start and once per tick, and returns nil when its context ends.
// Each reading is handed to Read by the test, so a sample's clock reading
// and its counters always belong together.
func TestSamplerRun(t *testing.T) {
	clk := newClock()
	ticks := make(chan time.Time)
	readings := make(chan RuntimeReading)
	s := NewSampler(SamplerOptions{Now: clk.Now, Ticks: ticks, Read: func() RuntimeReading { return <-readings }})
	_, stop := goRun(t, s.Run)

	const procs = 2
	give := func(cpu time.Duration) {
		t.Helper()
		select {
		case readings <- RuntimeReading{CPU: cpu, Procs: procs}:
		case <-time.After(10 * time.Second):
			t.Fatal("Run took no sample within 10 s")
		}
	}
	give(0) // the sample Run takes at start, before any tick
	// Cumulative CPU: 0.5 s over the first second on 2 procs (25%), 1.5 s
	// more over the next (75%): 50% over both.
	for _, cpu := range []time.Duration{500 * time.Millisecond, 2 * time.Second} {
		clk.Advance(time.Second)
		select {
		case ticks <- clk.Now():
		case <-time.After(10 * time.Second):
			t.Fatal("Run took no tick within 10 s")
		}
		give(cpu)
	}
	stop()
	// Run has returned, so its last sample is complete.
	l := s.Load()
	if !l.Valid || !l.At.Equal(clk.Now()) || l.Span != 2*time.Second || math.Abs(l.Unhalted-0.5) > 1e-9 ||
		math.Abs(l.Recent-0.75) > 1e-9 || l.Procs != procs {
		t.Errorf("load after 3 samples by Run: %+v, want valid at %v over 2s, unhalted 0.5, recent 0.75, %d procs", l, clk.Now(), procs)
	}
}

// TestSamplerRunOwnTicker: without Ticks, Run samples on a ticker of its
// own Interval (here 1 ms): three readings are taken with no tick sent.
// The ticker keeps firing after the third, so once the test has what it
// wants, Read answers on its own (released) and Run can see its context
// end instead of waiting on a reading no one will hand it.
func TestSamplerRunOwnTicker(t *testing.T) {
	readings := make(chan RuntimeReading)
	released := make(chan struct{})
	const last = 2 * time.Millisecond // the CPU of the third reading
	read := func() RuntimeReading {
		select {
		case r := <-readings:
			return r
		case <-released:
			return RuntimeReading{CPU: last, Procs: 1}
		}
	}
	s := NewSampler(SamplerOptions{Interval: time.Millisecond, Read: read})
	_, stop := goRun(t, s.Run)
	for i := range 3 {
		select {
		case readings <- RuntimeReading{CPU: time.Duration(i) * time.Millisecond, Procs: 1}:
		case <-time.After(10 * time.Second):
			t.Fatalf("Run took %d samples in 10 s on a 1 ms ticker, want 3", i)
		}
	}
	close(released)
	stop()
	if l := s.Load(); !l.Valid || l.Procs != 1 {
		t.Errorf("load after 3 samples: %+v, want valid on 1 proc", l)
	}
}

// TestProfilerRun runs the rotation loop on its real ticker (one slot
// width, here 5 ms) and the test clock: once the clock passes a whole
// window, Run rotates the window on its own, with no one reading it
// (a read would rotate it too), and what was recorded before is gone.
func TestProfilerRun(t *testing.T) {
	clk := newClock()
	const slots, width = 6, 5 * time.Millisecond
	p := NewWithOptions(Options{Now: clk.Now, Slots: slots, SlotWidth: width})
	r := p.Row("GET /api/v1/player")
	r.Record(3 * time.Millisecond)
	done, stop := goRun(t, p.Run)

	if rec := p.Snapshot(Recent); len(rec.Rows) != 1 || rec.Rows[0].Calls != 1 {
		t.Fatalf("recent window before the clock moved: %+v, want the one call", rec.Rows)
	}
	clk.Advance(slots * width)
	for deadline := time.Now().Add(10 * time.Second); p.epoch.Load() != slots; {
		if time.Now().After(deadline) {
			t.Fatalf("epoch %d 10 s after the clock passed %d slots, want %d: Run is not rotating", p.epoch.Load(), slots, slots)
		}
		select {
		case <-done:
			t.Fatal("Run returned before its context ended")
		case <-time.After(width):
		}
	}
	if rec := p.Snapshot(Recent); len(rec.Rows) != 0 && rec.Rows[0].Calls != 0 {
		t.Errorf("recent window after a full rotation: %+v, want the old call gone", rec.Rows[0])
	}
	if st := p.Snapshot(SinceReset); st.All.Calls != 1 {
		t.Errorf("since-reset calls after rotation: %d, want 1 (rotation empties only the window)", st.All.Calls)
	}
	stop()
}
