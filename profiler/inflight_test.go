package profiler

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestInFlightListsOldestFirst(t *testing.T) {
	clk := newClock()
	p := NewWithOptions(Options{Now: clk.Now})
	act, login := p.Row("POST /api/v1/actions"), p.Row("POST /api/v1/login")

	t0 := clk.Now()
	fa := act.Begin(t0)
	clk.Advance(time.Second)
	fl := login.Begin(clk.Now())
	clk.Advance(2 * time.Second)
	fb := act.Begin(clk.Now())
	clk.Advance(500 * time.Millisecond)

	rep := p.InFlight(2)
	if rep.Total != 3 || len(rep.Oldest) != 2 {
		t.Fatalf("in flight: total %d, listed %d; want 3 and 2 (the limit)", rep.Total, len(rep.Oldest))
	}
	want := []InFlight{
		{Name: "POST /api/v1/actions", Request: true, Age: 3500 * time.Millisecond, Started: t0},
		{Name: "POST /api/v1/login", Request: true, Age: 2500 * time.Millisecond, Started: t0.Add(time.Second)},
	}
	for i, w := range want {
		if g := rep.Oldest[i]; g.Name != w.Name || g.Age != w.Age || !g.Started.Equal(w.Started) || g.Request != w.Request {
			t.Errorf("oldest[%d] = %+v, want %+v", i, g, w)
		}
	}

	fa.End(3500 * time.Millisecond)
	fl.EndStatus(2500*time.Millisecond, StatusClientClosed)
	rep = p.InFlight(-1)
	if rep.Total != 1 || rep.Oldest[0].Age != 500*time.Millisecond {
		t.Errorf("after two ended: %+v, want only the 500ms one", rep)
	}
	fb.End(500 * time.Millisecond)
	if rep = p.InFlight(-1); rep.Total != 0 || len(rep.Oldest) != 0 {
		t.Errorf("after all ended: %+v, want none", rep)
	}
	tab := p.Snapshot(SinceReset)
	if tab.All.Calls != 3 || tab.All.Max != 3500*time.Millisecond {
		t.Errorf("recorded %d calls, max %v; want 3, 3.5s (End records)", tab.All.Calls, tab.All.Max)
	}
	var zero Flight
	zero.End(time.Second) // the zero Flight does nothing
	if p.Snapshot(SinceReset).All.Calls != 3 {
		t.Error("the zero Flight recorded")
	}
}

func TestInFlightTableFullRunsUntracked(t *testing.T) {
	p := New()
	r := p.Row("GET /healthz")
	const n = flightShards*64 + 500
	fs := make([]Flight, n)
	for i := range fs {
		fs[i] = r.Begin(time.Now())
	}
	rep := p.InFlight(0)
	if rep.Total+int(rep.Untracked) != n || rep.Total > flightShards*64 || rep.Untracked < 500 {
		t.Errorf("tracked %d + untracked %d, want %d in all, at most %d tracked", rep.Total, rep.Untracked, n, flightShards*64)
	}
	for _, f := range fs {
		f.End(time.Millisecond)
	}
	if rep = p.InFlight(0); rep.Total != 0 {
		t.Errorf("after ending all: %d in flight, want 0", rep.Total)
	}
	if got := p.Snapshot(SinceReset).All.Calls; got != n {
		t.Errorf("recorded %d, want %d (untracked ones are recorded too)", got, n)
	}
}

func TestInFlightDisabledTracksNothing(t *testing.T) {
	p := New()
	p.SetEnabled(false)
	f := p.Row("GET /healthz").Begin(time.Now())
	if rep := p.InFlight(-1); rep.Total != 0 {
		t.Errorf("disabled: %d in flight, want 0", rep.Total)
	}
	f.End(time.Millisecond)
}

// TestInFlightConcurrent runs Begin/End on many goroutines while readers
// list; -race checks the slot protocol, the counts check nothing leaks.
func TestInFlightConcurrent(t *testing.T) {
	p := New()
	rows := []*Row{p.Row("POST /api/v1/actions"), p.Row("ws:actions"), p.Row("GET /healthz")}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			rep := p.InFlight(10)
			for _, f := range rep.Oldest {
				if f.Name == "" || f.Age < 0 {
					t.Errorf("bad in-flight entry %+v", f)
					return
				}
			}
		}
	})
	var workers sync.WaitGroup
	for g := range 8 {
		workers.Go(func() {
			for i := range 2000 {
				f := rows[(g+i)%len(rows)].Begin(time.Now())
				f.End(time.Microsecond)
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if rep := p.InFlight(-1); rep.Total != 0 || rep.Untracked != 0 {
		t.Errorf("after all ended: %d in flight, %d untracked; want 0, 0", rep.Total, rep.Untracked)
	}
	if got := p.Snapshot(SinceReset).All.Calls; got != 8*2000 {
		t.Errorf("recorded %d, want %d", got, 8*2000)
	}
}

func TestRecordStatusOutcomes(t *testing.T) {
	tests := []struct {
		status int
		want   Outcomes
	}{
		{0, Outcomes{}},
		{200, Outcomes{}},
		{304, Outcomes{}},
		{400, Outcomes{ClientErrors: 1}},
		{429, Outcomes{ClientErrors: 1}},
		{StatusClientClosed, Outcomes{Aborted: 1}},
		{500, Outcomes{ServerErrors: 1}},
		{503, Outcomes{ServerErrors: 1}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			p := New()
			r := p.Row("POST /api/v1/actions")
			r.RecordStatus(time.Millisecond, tc.status)
			if got := r.Outcomes(); got != tc.want {
				t.Errorf("outcomes %+v, want %+v", got, tc.want)
			}
			r2 := p.Row("GET /api/v1/player")
			r2.CountStatus(tc.status)
			if got := r2.Outcomes(); got != tc.want {
				t.Errorf("CountStatus: outcomes %+v, want %+v", got, tc.want)
			}
			if got := p.Snapshot(SinceReset).All.Calls; got != 1 {
				t.Errorf("calls %d, want 1: every status counts in the latency table, CountStatus none", got)
			}
			p.Reset()
			if got := r.Outcomes(); got != tc.want {
				t.Errorf("after Reset: %+v, want %+v (never reset)", got, tc.want)
			}
		})
	}
}

func TestHardLimitRuleSeesRunningRequests(t *testing.T) {
	clk, p, a := newHardLimit()
	req := p.Row("POST /api/v1/actions")
	internal := p.Row("s3:get")

	var hung Flight
	runHardLimitSteps(t, clk, a, []hardLimitStep{
		{0, func() { hung = req.Begin(clk.Now()); internal.Begin(clk.Now()) }, StateOK, 0, ""},
		{150 * time.Millisecond, nil, StateOK, 0, ""},
		// Still running at 250 ms: it fires without having finished.
		{100 * time.Millisecond, nil, StateFiring, 250, "POST /api/v1/actions 250ms (running)"},
		{time.Second, nil, StateFiring, 1250, ""},
		// It finishes: the breach it records keeps the alert for the hold.
		{time.Second, func() { hung.End(2250 * time.Millisecond) }, StateFiring, 2250, ""},
		{59 * time.Second, nil, StateFiring, 2250, ""},
		{time.Second, nil, StateOK, 0, ""},
	})
}

func TestExporterMatchesSnapshot(t *testing.T) {
	clk := newClock()
	p := NewWithOptions(Options{Now: clk.Now})
	ms := time.Millisecond
	bounds := []time.Duration{10 * ms, time.Millisecond, 100 * ms, 10 * ms} // unsorted, duplicated
	e := p.NewExporter(bounds)
	if got := fmt.Sprint(e.Bounds()); got != "[1ms 10ms 100ms]" {
		t.Fatalf("bounds %s, want sorted and deduplicated", got)
	}
	act := p.Row("POST /api/v1/actions")
	p.Row("GET /healthz") // registered, never recorded
	// Values well inside their buckets: the placement is exact.
	for _, d := range []time.Duration{500 * time.Microsecond, 3 * ms, 3 * ms, 50 * ms, 250 * ms, 2 * time.Second} {
		act.RecordStatus(d, 200)
	}
	act.RecordStatus(40*ms, 503)
	act.RecordStatus(7*ms, StatusClientClosed)
	f := act.Begin(clk.Now())
	defer f.End(0)
	clk.Advance(300 * ms)

	rows := e.Export()
	if len(rows) != 2 || rows[0].Name != "GET /healthz" || rows[1].Name != "POST /api/v1/actions" {
		t.Fatalf("rows %+v, want healthz then actions, by name", rows)
	}
	if rows[0].Count != 0 || fmt.Sprint(rows[0].Cumulative) != "[0 0 0]" {
		t.Errorf("unrecorded row %+v, want zero", rows[0])
	}
	x := rows[1]
	st := p.Snapshot(SinceReset).Rows[0]
	if x.Count != uint64(st.Calls) || x.Sum != st.Total || x.Max != st.Max {
		t.Errorf("export count/sum/max %d/%v/%v, snapshot %d/%v/%v", x.Count, x.Sum, x.Max, st.Calls, st.Total, st.Max)
	}
	if got := fmt.Sprint(x.Cumulative); got != "[1 4 6]" {
		t.Errorf("cumulative %s, want [1 4 6] (≤1ms: 0.5; ≤10ms: +3,3,7; ≤100ms: +50,40)", got)
	}
	if x.InFlight != 1 || x.OverLimit != 1 || x.OldestInFlight != 300*ms || x.Breaches != 2 || x.RecentMax != 2*time.Second || !x.Request {
		t.Errorf("in flight %d (over limit %d, oldest %v), breaches %d, recent max %v, request %v; want 1 (1, 300ms), 2, 2s, true",
			x.InFlight, x.OverLimit, x.OldestInFlight, x.Breaches, x.RecentMax, x.Request)
	}
	if x.Outcomes != (Outcomes{Aborted: 1, ServerErrors: 1}) {
		t.Errorf("outcomes %+v, want one aborted, one server error", x.Outcomes)
	}
	// The recent max leaves with the window; since-reset figures stay.
	clk.Advance(2 * time.Minute)
	if x = e.Export()[1]; x.RecentMax != 0 || x.Count != 8 {
		t.Errorf("two minutes later: recent max %v, count %d; want 0, 8", x.RecentMax, x.Count)
	}
}

// TestExporterBucketEdges checks the placement rule: a measurement counts
// in the first bound at or above its bucket's highest value, so never
// below its own value, and at most the precision (1%) above it.
func TestExporterBucketEdges(t *testing.T) {
	p := New()
	bound := 200 * time.Millisecond
	e := p.NewExporter([]time.Duration{bound})
	r := p.Row("POST /x")
	tests := []struct {
		d     time.Duration
		under bool
	}{
		{bound - bound/50, true}, // 2% under: in
		{bound + time.Nanosecond, false},
		{bound + bound/200, false},
		{bound * 2, false},
	}
	for _, tc := range tests {
		p.Reset()
		r.Record(tc.d)
		x := e.Export()[0]
		if got := x.Cumulative[0] == 1; got != tc.under {
			t.Errorf("%v: counted at or below %v = %v, want %v", tc.d, bound, got, tc.under)
		}
	}
}
