package profiler

import (
	"math"
	"runtime/metrics"
	"testing"
	"time"
)

func TestSamplerLoad(t *testing.T) {
	clk := newClock()
	var cpu time.Duration
	procs := 4
	bounds := []float64{0, 1e-6, 1e-5, 1e-4, 1e-3, math.Inf(1)}
	sched := make([]uint64, len(bounds)-1)
	s := NewSampler(SamplerOptions{Now: clk.Now, Read: func() RuntimeReading {
		return RuntimeReading{CPU: cpu, Procs: procs,
			Sched: &metrics.Float64Histogram{Counts: append([]uint64(nil), sched...), Buckets: bounds}}
	}})

	if s.Sample(); s.Load().Valid {
		t.Fatalf("one sample: Valid, want not valid")
	}
	type step struct {
		cpu      time.Duration // used during the second that passes
		schedAdd []uint64
		unhalted float64
		recent   float64
		span     time.Duration
		schedP99 time.Duration
	}
	steps := []step{
		// 1 s of wall on 4 procs: 2 s of CPU is 50%.
		{cpu: 2 * time.Second, schedAdd: []uint64{0, 100, 0, 0, 0}, unhalted: 0.5, recent: 0.5, span: time.Second, schedP99: 10 * time.Microsecond},
	}
	// Nine idle seconds: the busy second is averaged over a growing span.
	for k := 2; k <= 10; k++ {
		steps = append(steps, step{unhalted: 2.0 / float64(k*4), span: time.Duration(k) * time.Second, schedP99: 10 * time.Microsecond})
	}
	// The window is full: the baseline moves past the busy second.
	steps = append(steps, step{cpu: 400 * time.Millisecond, schedAdd: []uint64{0, 0, 0, 0, 10},
		unhalted: 0.01, recent: 0.1, span: 10 * time.Second, schedP99: time.Millisecond})
	for i, st := range steps {
		clk.Advance(time.Second)
		cpu += st.cpu
		for j, n := range st.schedAdd {
			sched[j] += n
		}
		s.Sample()
		l := s.Load()
		if !l.Valid || math.Abs(l.Unhalted-st.unhalted) > 1e-9 || math.Abs(l.Recent-st.recent) > 1e-9 ||
			l.Span != st.span || l.SchedP99 != st.schedP99 || l.Procs != procs {
			t.Errorf("step %d: load %+v, want unhalted %v recent %v span %v sched p99 %v", i, l,
				st.unhalted, st.recent, st.span, st.schedP99)
		}
	}
}

func TestSchedQuantile(t *testing.T) {
	bounds := []float64{math.Inf(-1), 0, 1e-3, 1, math.Inf(1)}
	tests := []struct {
		name string
		a, b []uint64
		want time.Duration
	}{
		{"empty", nil, nil, 0},
		{"no new samples", []uint64{1, 2, 3, 4}, []uint64{1, 2, 3, 4}, 0},
		{"all fast", nil, []uint64{0, 100, 0, 0}, time.Millisecond},
		{"p99 in the slow bucket", []uint64{0, 50, 0, 0}, []uint64{0, 148, 2, 0}, time.Second},
		{"unbounded bucket reports its lower bound", nil, []uint64{0, 0, 0, 5}, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := schedQuantile(bounds, tc.a, tc.b, 0.99); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadRuntime(t *testing.T) {
	r := ReadRuntime()
	// Burn a little CPU so it must move.
	x := 0
	for i := range 20_000_000 {
		x += i ^ x
	}
	r2 := ReadRuntime()
	if r.Procs < 1 || r.Sched == nil || len(r.Sched.Buckets) != len(r.Sched.Counts)+1 {
		t.Fatalf("ReadRuntime = %+v, want procs ≥ 1 and a scheduling histogram", r)
	}
	if r2.CPU <= r.CPU {
		t.Errorf("CPU did not advance: %v then %v (x=%d)", r.CPU, r2.CPU, x)
	}
}
