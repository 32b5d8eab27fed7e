package profiler

import (
	"fmt"
	"math"
	"math/rand/v2"
	testclock "rampart/internal/testenv/clock"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) }

func TestLayoutMatchesHdrHistogram(t *testing.T) {
	for _, sig := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("sig", sig), func(t *testing.T) {
			l := newLayout(int64(DefaultHighest), sig)
			// Every counter: its lowest value maps back to it, and
			// hdrhistogram-go puts that value in the same counter.
			// Counters past the highest value's exist (hdrhistogram-go
			// allocates whole buckets) but are never used.
			for i := range l.index(l.highest) + 1 {
				v := l.value(i)
				if got := l.index(v); got != i {
					t.Fatalf("index(value(%d)=%d) = %d, want %d", i, v, got, i)
				}
			}
			rng := rand.New(rand.NewPCG(1, uint64(sig)))
			h := l.hdr()
			ours := make([]int64, l.n)
			for range 20000 {
				v := int64(math.Exp(rng.Float64() * math.Log(float64(l.highest))))
				if err := h.RecordValue(v); err != nil {
					t.Fatalf("hdr RecordValue(%d): %v", v, err)
				}
				ours[l.index(v)]++
			}
			for i, c := range h.Export().Counts {
				if c != ours[i] {
					t.Fatalf("counter %d (value %d): ours %d, hdrhistogram-go %d", i, l.value(i), ours[i], c)
				}
			}
			if got := l.index(math.MaxInt64); got != l.n-1 && got != l.index(l.highest) {
				t.Errorf("index(MaxInt64) = %d, want the highest's %d", got, l.index(l.highest))
			}
			if got := l.index(-5); got != 0 {
				t.Errorf("index(-5) = %d, want 0", got)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		name   string
		values func() []time.Duration
		want   Stats // Calls, Avg, Max, Total exact; percentiles within tol
		tol    float64
	}{
		{
			name: "uniform 1..1000µs",
			values: func() []time.Duration {
				var vs []time.Duration
				for i := 1; i <= 1000; i++ {
					vs = append(vs, time.Duration(i)*us)
				}
				return vs
			},
			want: Stats{Calls: 1000, Avg: 500500 * time.Nanosecond, P50: 500 * us, P95: 950 * us, P99: 990 * us,
				P999: 999 * us, Max: 1000 * us, Total: 500500 * us},
			tol: 0.01,
		},
		{
			name: "one slow outlier among fast",
			values: func() []time.Duration {
				vs := make([]time.Duration, 999)
				for i := range vs {
					vs[i] = 20 * us
				}
				return append(vs, 250*time.Millisecond)
			},
			want: Stats{Calls: 1000, Avg: (999*20*us + 250*time.Millisecond) / 1000, P50: 20 * us, P95: 20 * us,
				P99: 20 * us, P999: 20 * us, Max: 250 * time.Millisecond, Total: 999*20*us + 250*time.Millisecond},
			tol: 0.01,
		},
		{
			name:   "beyond the highest trackable value",
			values: func() []time.Duration { return []time.Duration{2 * time.Minute} },
			want: Stats{Calls: 1, Avg: 2 * time.Minute, P50: DefaultHighest, P95: DefaultHighest, P99: DefaultHighest,
				P999: DefaultHighest, Max: 2 * time.Minute, Total: 2 * time.Minute},
			tol: 0.01,
		},
		{
			name:   "negative counts as zero",
			values: func() []time.Duration { return []time.Duration{-time.Second} },
			want:   Stats{Calls: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New()
			r := p.Row("action:build")
			for _, v := range tc.values() {
				r.Record(v)
			}
			tab := p.Snapshot(SinceReset)
			if len(tab.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(tab.Rows))
			}
			got := tab.Rows[0]
			if got.Calls != tc.want.Calls || got.Avg != tc.want.Avg || got.Max != tc.want.Max || got.Total != tc.want.Total {
				t.Errorf("calls/avg/max/total = %d/%v/%v/%v, want %d/%v/%v/%v", got.Calls, got.Avg, got.Max, got.Total,
					tc.want.Calls, tc.want.Avg, tc.want.Max, tc.want.Total)
			}
			for _, c := range []struct {
				name      string
				got, want time.Duration
			}{{"p50", got.P50, tc.want.P50}, {"p95", got.P95, tc.want.P95}, {"p99", got.P99, tc.want.P99}, {"p99.9", got.P999, tc.want.P999}} {
				if !near(c.got, c.want, tc.tol) {
					t.Errorf("%s = %v, want %v ± %.0f%%", c.name, c.got, c.want, tc.tol*100)
				}
				if c.got > got.Max {
					t.Errorf("%s = %v above max %v", c.name, c.got, got.Max)
				}
			}
			if tab.All.Calls != got.Calls || tab.All.Max != got.Max {
				t.Errorf("ALL calls/max = %d/%v, want %d/%v", tab.All.Calls, tab.All.Max, got.Calls, got.Max)
			}
		})
	}
}

func near(got, want time.Duration, tol float64) bool {
	if want == 0 {
		return got <= time.Microsecond
	}
	return math.Abs(float64(got-want)) <= tol*float64(want)+float64(time.Microsecond)/2
}

// The merged ALL row must be exactly what one histogram of every value
// would say.
func TestAllRowMergesRows(t *testing.T) {
	p := New()
	ref := hdrhistogram.New(lowestNs, int64(DefaultHighest), DefaultSigFigs)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 5000 {
		d := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
		p.Record(fmt.Sprintf("row%d", i%5), d)
		_ = ref.RecordValue(int64(d))
	}
	all := p.Snapshot(SinceReset).All
	if all.Calls != 5000 {
		t.Fatalf("ALL calls = %d, want 5000", all.Calls)
	}
	for _, q := range []struct {
		got time.Duration
		pct float64
	}{{all.P50, 50}, {all.P95, 95}, {all.P99, 99}, {all.P999, 99.9}} {
		if want := min(time.Duration(ref.ValueAtQuantile(q.pct)), all.Max); q.got != want {
			t.Errorf("ALL p%v = %v, want %v", q.pct, q.got, want)
		}
	}
}

func TestRecentWindow(t *testing.T) {
	clk := newClock()
	p := NewWithOptions(Options{Now: clk.Now})
	r := p.Row("GET /api/v1/state")
	ms := time.Millisecond

	type step struct {
		advance      time.Duration
		record       time.Duration // 0: none
		rotate       bool          // what Run would do
		recentCalls  int64
		recentMax    time.Duration
		startCalls   int64
		recentWallGE time.Duration
	}
	steps := []step{
		{advance: 0, record: 100 * ms, recentCalls: 1, recentMax: 100 * ms, startCalls: 1},
		{advance: 25 * time.Second, rotate: true, record: 5 * ms, recentCalls: 2, recentMax: 100 * ms, startCalls: 2, recentWallGE: 25 * time.Second},
		// The 100 ms spike at t=0 was in slot [0,10s): gone at t=60s.
		{advance: 35 * time.Second, rotate: true, recentCalls: 1, recentMax: 5 * ms, startCalls: 2, recentWallGE: 50 * time.Second},
		{advance: 9 * time.Second, rotate: true, recentCalls: 1, recentMax: 5 * ms, startCalls: 2},
		// The 5 ms at t=25s was in slot [20s,30s): gone at t=80s.
		{advance: 11 * time.Second, rotate: true, recentCalls: 0, startCalls: 2},
		// Ten minutes later the window holds only what comes next.
		{advance: 10 * time.Minute, rotate: true, record: 7 * ms, recentCalls: 1, recentMax: 7 * ms, startCalls: 3},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.rotate {
			p.rotate(clk.Now())
		}
		if s.record != 0 {
			r.Record(s.record)
		}
		rec := p.Snapshot(Recent)
		var got Stats
		if len(rec.Rows) > 0 {
			got = rec.Rows[0]
		}
		if got.Calls != s.recentCalls || got.Max != s.recentMax {
			t.Errorf("step %d: recent calls/max = %d/%v, want %d/%v", i, got.Calls, got.Max, s.recentCalls, s.recentMax)
		}
		if w := rec.Wall(); w < s.recentWallGE || w > time.Minute {
			t.Errorf("step %d: recent wall %v, want in [%v, 1m]", i, w, s.recentWallGE)
		}
		if st := p.Snapshot(SinceReset); st.All.Calls != s.startCalls {
			t.Errorf("step %d: since-start calls = %d, want %d", i, st.All.Calls, s.startCalls)
		}
	}
}

func TestReset(t *testing.T) {
	clk := newClock()
	p := NewWithOptions(Options{Now: clk.Now})
	r := p.Row("POST /api/v1/actions")
	r.Record(300 * time.Millisecond)
	clk.Advance(time.Second)
	p.Reset()
	resetAt := clk.Now()

	for _, per := range []Period{SinceReset, Recent} {
		tab := p.Snapshot(per)
		if len(tab.Rows) != 0 || tab.All.Calls != 0 {
			t.Errorf("%v after reset: %d rows, ALL calls %d; want empty", per, len(tab.Rows), tab.All.Calls)
		}
	}
	if got := p.Snapshot(SinceReset).From; !got.Equal(resetAt) {
		t.Errorf("since-start From = %v, want the reset time %v", got, resetAt)
	}
	// The row pointer callers hold keeps working.
	clk.Advance(time.Second)
	r.Record(2 * time.Millisecond)
	tab := p.Snapshot(SinceReset)
	if len(tab.Rows) != 1 || tab.Rows[0].Max != 2*time.Millisecond || tab.Rows[0].Calls != 1 {
		t.Fatalf("after reset and one record: %+v, want one row, max 2ms", tab.Rows)
	}
	// 2 ms over 1 s of wall time since the reset.
	if got := tab.Rows[0].TotalPct; math.Abs(got-0.2) > 1e-9 {
		t.Errorf("total%% = %v, want 0.2", got)
	}
	if p.Breaches() != 1 {
		t.Errorf("breaches = %d, want 1 (reset does not clear them)", p.Breaches())
	}
}

func TestRowsSortedByMax(t *testing.T) {
	p := New()
	in := map[string]time.Duration{"a": 5 * time.Millisecond, "b": 50 * time.Millisecond, "c": time.Millisecond, "d": 20 * time.Millisecond}
	for name, d := range in {
		p.Record(name, d)
		p.Record(name, d/10)
	}
	tab := p.Snapshot(SinceReset)
	var got []string
	for _, r := range tab.Rows {
		got = append(got, r.Name)
	}
	if want := []string{"b", "d", "a", "c"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows = %v, want %v (by max, descending)", got, want)
	}
}

func TestSortRows(t *testing.T) {
	rows := []Stats{
		{Name: "b", Calls: 10, Avg: 3, P99: 9, Max: 10, Total: 30},
		{Name: "a", Calls: 1, Avg: 5, P99: 5, Max: 5, Total: 5},
		{Name: "c", Calls: 100, Avg: 1, P99: 2, Max: 20, Total: 100},
	}
	tests := []struct {
		key   string
		want  string
		known bool
	}{
		{"max", "[c b a]", true}, {"", "[c b a]", true}, {"avg", "[a b c]", true}, {"p99", "[b a c]", true},
		{"total", "[c b a]", true}, {"calls", "[c b a]", true}, {"name", "[a b c]", true}, {"bogus", "[c b a]", false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			rs := append([]Stats(nil), rows...)
			known := SortRows(rs, tc.key)
			var names []string
			for _, r := range rs {
				names = append(names, r.Name)
			}
			if fmt.Sprint(names) != tc.want || known != tc.known {
				t.Errorf("SortRows(%q) = %v, %v; want %v, %v", tc.key, names, known, tc.want, tc.known)
			}
		})
	}
}

func TestConcurrentRecording(t *testing.T) {
	p := New()
	const workers, each = 8, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := p.Row(fmt.Sprintf("row%d", w%3))
			for i := range each {
				r.Record(time.Duration(i%100+1) * time.Microsecond)
				if i%1000 == 0 {
					p.Record("shared", time.Millisecond)
				}
			}
		})
	}
	// Readers run alongside the recorders.
	wg.Go(func() {
		for range 20 {
			_ = p.Snapshot(SinceReset)
			_, _ = p.Distribution("ALL", Recent)
		}
	})
	wg.Wait()
	tab := p.Snapshot(SinceReset)
	wantCalls := int64(workers*each + workers*each/1000)
	if tab.All.Calls != wantCalls {
		t.Errorf("ALL calls = %d, want %d", tab.All.Calls, wantCalls)
	}
	wantTotal := time.Duration(workers*each/100)*5050*time.Microsecond + time.Duration(workers*each/1000)*time.Millisecond
	if tab.All.Total != wantTotal {
		t.Errorf("ALL total = %v, want %v", tab.All.Total, wantTotal)
	}
	if rec := p.Snapshot(Recent); rec.All.Calls != wantCalls {
		t.Errorf("recent ALL calls = %d, want %d", rec.All.Calls, wantCalls)
	}
}

func TestDisabledRecordsNothing(t *testing.T) {
	p := New()
	p.SetEnabled(false)
	p.Record("x", time.Second)
	if got := p.Snapshot(SinceReset).All.Calls; got != 0 {
		t.Errorf("calls while disabled = %d, want 0", got)
	}
	p.SetEnabled(true)
	p.Record("x", time.Second)
	if got := p.Snapshot(SinceReset).All.Calls; got != 1 {
		t.Errorf("calls after enabling = %d, want 1", got)
	}
}

func TestRowIsStable(t *testing.T) {
	p := New()
	a, b := p.Row("autosave"), p.Row("autosave")
	if a != b || a.Name() != "autosave" {
		t.Errorf("Row twice gave %p and %p (name %q), want the same row", a, b, a.Name())
	}
}

func TestHardLimitAppliesToRequests(t *testing.T) {
	p := New()
	tests := []struct {
		name   string
		d      time.Duration
		breach bool
	}{
		{"POST /api/v1/actions", 250 * time.Millisecond, true},
		{"POST /api/v1/actions", 150 * time.Millisecond, false},
		{"WS action", 201 * time.Millisecond, true},
		{"s3:get", 3 * time.Second, false},
		{"autosave", 3 * time.Second, false},
		{"action:build", 300 * time.Millisecond, false},
	}
	for _, tc := range tests {
		before := p.Breaches()
		p.Record(tc.name, tc.d)
		if got := p.Breaches() > before; got != tc.breach {
			t.Errorf("%s %v: breach = %v, want %v", tc.name, tc.d, got, tc.breach)
		}
	}
}

func TestDistribution(t *testing.T) {
	p := New()
	for i := 1; i <= 10000; i++ {
		p.Record("GET /x", time.Duration(i)*time.Microsecond)
	}
	d, ok := p.Distribution("GET /x", SinceReset)
	if !ok || d.Calls != 10000 || d.Max != 10*time.Millisecond {
		t.Fatalf("Distribution = ok %v calls %d max %v, want ok, 10000, 10ms", ok, d.Calls, d.Max)
	}
	last := d.Points[len(d.Points)-1]
	if last.Percentile != 100 || last.Value != d.Max {
		t.Errorf("last point = %+v, want 100%% at max", last)
	}
	for i := 1; i < len(d.Points); i++ {
		if d.Points[i].Percentile <= d.Points[i-1].Percentile || d.Points[i].Value < d.Points[i-1].Value {
			t.Fatalf("points not increasing at %d: %+v then %+v", i, d.Points[i-1], d.Points[i])
		}
	}
	if _, ok := p.Distribution("nope", SinceReset); ok {
		t.Errorf("Distribution of a missing row: ok, want not ok")
	}
}

func TestIsRequestName(t *testing.T) {
	for name, want := range map[string]bool{
		"POST /api/v1/actions": true, "GET /healthz": true, "WS action": true, "ws:build": true,
		"action:build": false, "s3:get": false, "autosave": false, "login:load": false, "mongo:insert": false,
	} {
		if got := IsRequestName(name); got != want {
			t.Errorf("IsRequestName(%q) = %v, want %v", name, got, want)
		}
	}
}
