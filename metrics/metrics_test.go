package metrics

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"rampart/profiler"
	"rampart/web"
)

// TestLatencyMatchesDebugPage cross-checks every profiler row in a scrape
// against /debug/latency?format=json.
func TestLatencyMatchesDebugPage(t *testing.T) {
	f := newFixture(t)
	var start, recent web.LatencyJSON
	f.json(t, "/debug/latency?format=json", &start)
	f.json(t, "/debug/latency?format=json&period=recent", &recent)
	s := f.scrape(t)

	if len(start.Rows) != 6 {
		t.Fatalf("latency page has %d rows, want 6", len(start.Rows))
	}
	recentMax := map[string]float64{}
	for _, r := range recent.Rows {
		recentMax[r.Name] = r.MaxMs
	}
	for _, row := range start.Rows {
		t.Run(row.Name, func(t *testing.T) {
			kind := "internal"
			if row.Request {
				kind = "request"
			}
			h := s.find(t, "rampart_request_duration_seconds", "route="+row.Name, "kind="+kind).GetHistogram()
			if got := h.GetSampleCount(); got != uint64(row.Calls) {
				t.Errorf("count %d, want %d calls", got, row.Calls)
			}
			if got := h.GetSampleSum(); !near(got, row.TotalS) {
				t.Errorf("sum %v s, want total %v s", got, row.TotalS)
			}
			if got := s.value(t, "rampart_request_duration_max_seconds", "route="+row.Name); !near(got*1e3, recentMax[row.Name]) {
				t.Errorf("max %v s, want the recent max %v ms", got, recentMax[row.Name])
			}
			if !row.Request {
				return
			}
			for outcome, want := range map[string]uint64{"aborted": row.Aborted, "client_error": row.ClientErrors, "server_error": row.ServerErrors} {
				if got := s.value(t, "rampart_request_outcomes_total", "route="+row.Name, "outcome="+outcome); got != float64(want) {
					t.Errorf("%s %v, want %d", outcome, got, want)
				}
			}
		})
	}
	// A registered route with no traffic has its series at 0.
	if h := s.find(t, "rampart_request_duration_seconds", "route=GET /api/v1/gamedata").GetHistogram(); h.GetSampleCount() != 0 {
		t.Errorf("idle route count %d, want 0", h.GetSampleCount())
	}

	if got := s.sum("rampart_request_hard_limit_breaches_total"); got != float64(start.HardLimitBreaches) {
		t.Errorf("breaches %v, want %d", got, start.HardLimitBreaches)
	}
	if got := s.value(t, "rampart_request_hard_limit_seconds"); !near(got*1e3, start.HardLimitMs) {
		t.Errorf("hard limit %v s, want %v ms", got, start.HardLimitMs)
	}
	if start.UnhaltedLoadPct == nil {
		t.Fatal("latency page has no load")
	}
	if got := s.value(t, "rampart_unhalted_load_ratio"); !near(got*100, *start.UnhaltedLoadPct) {
		t.Errorf("load %v, want %v%%", got, *start.UnhaltedLoadPct)
	}
	if got := s.value(t, "rampart_sched_latency_p99_seconds"); !near(got*1e3, *start.SchedLatencyP99Ms) {
		t.Errorf("sched p99 %v s, want %v ms", got, *start.SchedLatencyP99Ms)
	}

	// In flight: the page's list against the gauges.
	fl := start.InFlight
	var over int
	for _, o := range fl.Oldest {
		if o.OverHardLimit {
			over++
		}
	}
	if fl.Total != 2 || over != 1 {
		t.Fatalf("page in flight %+v, want 2, one over the hard limit", fl)
	}
	if got := s.sum("rampart_requests_in_flight"); got != float64(fl.Total) {
		t.Errorf("in flight %v, want %d", got, fl.Total)
	}
	if got := s.value(t, "rampart_requests_in_flight", "route="+fl.Oldest[0].Name); got != 1 {
		t.Errorf("in flight on %s: %v, want 1", fl.Oldest[0].Name, got)
	}
	if got := s.value(t, "rampart_requests_over_hard_limit_in_flight"); got != float64(over) {
		t.Errorf("over limit in flight %v, want %d", got, over)
	}
	if got := s.value(t, "rampart_request_oldest_in_flight_seconds"); !near(got*1e3, fl.Oldest[0].AgeMs) {
		t.Errorf("oldest in flight %v s, want %v ms", got, fl.Oldest[0].AgeMs)
	}
}

// TestHistogramBuckets checks where the recorded durations fall.
func TestHistogramBuckets(t *testing.T) {
	f := newFixture(t)
	h := f.scrape(t).find(t, "rampart_request_duration_seconds", "route=POST /api/v1/actions").GetHistogram()
	got := map[float64]uint64{}
	var les []float64
	for _, b := range h.Bucket {
		got[b.GetUpperBound()] = b.GetCumulativeCount()
		les = append(les, b.GetUpperBound())
	}
	if len(les) != len(DefaultBuckets)+1 || !math.IsInf(les[len(les)-1], 1) { // the hard limit, 200 ms, is among them
		t.Errorf("%d buckets %v, want %d and +Inf", len(les), les, len(DefaultBuckets))
	}
	tests := []struct {
		le   float64
		want uint64
	}{
		{0.00025, 0}, {0.0005, 1}, {0.0025, 1}, {0.005, 3}, {0.01, 4}, {0.025, 4},
		{0.05, 5}, {0.2, 5}, {0.5, 6}, {30, 6}, {math.Inf(1), 6},
	}
	for _, tc := range tests {
		if got[tc.le] != tc.want {
			t.Errorf("le=%v: %d, want %d", tc.le, got[tc.le], tc.want)
		}
	}
}

// TestBookkeepersMatchDebugPage cross-checks every bookkeeper series
// against /debug/bookkeepers?format=json.
func TestBookkeepersMatchDebugPage(t *testing.T) {
	f := newFixture(t)
	var doc web.BookkeepersJSON
	f.json(t, "/debug/bookkeepers?format=json", &doc)
	s := f.scrape(t)
	if len(doc.Bookkeepers) != 2 {
		t.Fatalf("page has %d bookkeepers, want 2", len(doc.Bookkeepers))
	}
	for _, k := range doc.Bookkeepers {
		t.Run(k.Name, func(t *testing.T) {
			tests := []struct {
				series string
				want   float64
			}{
				{"accepted_total", float64(k.Accepted)},
				{"attempted_total", float64(k.Attempted)},
				{"ok_total", float64(k.OK)},
				{"errors_total", float64(k.Errors)},
				{"retries_total", float64(k.Retries)},
				{"dropped_total", float64(k.Dropped)},
				{"cancelled_total", float64(k.Cancelled)},
				{"in_queue", float64(k.InQueue)},
				{"on_wire", float64(k.OnWire)},
				{"waiting_for_retry", float64(k.WaitingForRetry)},
				{"missing", float64(k.Missing)},
				{"queue_limit", float64(k.QueueLimit)},
				{"concurrency_limit", float64(k.Concurrency)},
				{"oldest_age_seconds", float64(k.OldestAgeMS) / 1e3},
				{"longest_try_seconds", float64(k.LongestTryMS) / 1e3},
				{"recent_tries", float64(k.RecentTries)},
				{"recent_errors", float64(k.RecentErrors)},
			}
			for _, tc := range tests {
				if got := s.value(t, "rampart_bookkeeper_"+tc.series, "channel="+k.Name); !near(got, tc.want) {
					t.Errorf("%s = %v, want %v", tc.series, got, tc.want)
				}
			}
		})
	}
	// The fixture's own figures, so a page and a scrape that agree on
	// nothing cannot pass.
	want := map[string]float64{"accepted_total": 6, "ok_total": 2, "errors_total": 1, "retries_total": 1, "dropped_total": 1, "on_wire": 1, "in_queue": 1}
	for series, v := range want {
		if got := s.value(t, "rampart_bookkeeper_"+series, "channel=s3"); got != v {
			t.Errorf("s3 %s = %v, want %v", series, got, v)
		}
	}
}

// TestAlertsMatchDebugPage: one rampart_alert_firing per rule, 1 exactly
// for the firing ones.
func TestAlertsMatchDebugPage(t *testing.T) {
	f := newFixture(t)
	var doc struct {
		Rules []profiler.RuleStatus `json:"rules"`
	}
	f.json(t, "/debug/alerts?format=json", &doc)
	s := f.scrape(t)
	if got, want := len(s["rampart_alert_firing"].GetMetric()), len(doc.Rules); got != want || want != 2+4*2 {
		t.Errorf("%d alert series, %d rules; want 10 of each", got, want)
	}
	firing := 0
	for _, r := range doc.Rules {
		want := 0.0
		if r.State == profiler.StateFiring {
			want, firing = 1, firing+1
		}
		if got := s.value(t, "rampart_alert_firing", "rule="+r.Name); got != want {
			t.Errorf("%s firing = %v, want %v (%s)", r.Name, got, want, r.State)
		}
		if got := s.value(t, "rampart_alert_value", "rule="+r.Name); !near(got, r.Value) {
			t.Errorf("%s value = %v, want %v", r.Name, got, r.Value)
		}
	}
	if firing != 1 || s.value(t, "rampart_alert_firing", "rule=hard-limit") != 1 {
		t.Errorf("%d firing, want only hard-limit (the running login)", firing)
	}
}

func TestRuntimeCollectors(t *testing.T) {
	s := newFixture(t).scrape(t)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if s[name] == nil {
			t.Errorf("scrape has no %s", name)
		}
	}
}

// TestFuncs: the wiring's own series are read at every scrape.
func TestFuncs(t *testing.T) {
	m := New(Sources{})
	online, signins := 3.0, map[string]float64{"password/ok": 5, "password/bad": 2, "refresh/ok": 9}
	m.GaugeFunc("rampart_players_online", "Players in memory.", func() float64 { return online })
	m.CounterFunc("rampart_saves_total", "Saves.", func() float64 { return 11 })
	v := m.CounterVec("rampart_signins_total", "Sign-ins by kind and result.", "kind", "result")
	for key := range signins {
		kind, result, _ := strings.Cut(key, "/")
		v.Func(func() float64 { return signins[key] }, kind, result)
	}
	m.GaugeVec("rampart_ws_open", "Open sockets by protocol.", "proto").Func(func() float64 { return 4 }, "v1")

	scr := func() scrape {
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return parse(t, w.Body.Bytes())
	}
	s := scr()
	if got := s.value(t, "rampart_players_online"); got != 3 {
		t.Errorf("players online %v, want 3", got)
	}
	if got := s.value(t, "rampart_saves_total"); got != 11 {
		t.Errorf("saves %v, want 11", got)
	}
	if got := s.value(t, "rampart_ws_open", "proto=v1"); got != 4 {
		t.Errorf("ws open %v, want 4", got)
	}
	for key, want := range signins {
		kind, result, _ := strings.Cut(key, "/")
		if got := s.value(t, "rampart_signins_total", "kind="+kind, "result="+result); got != want {
			t.Errorf("signins %s: %v, want %v", key, got, want)
		}
	}
	if s["rampart_saves_total"].GetType().String() != "COUNTER" || s["rampart_players_online"].GetType().String() != "GAUGE" {
		t.Errorf("types %v, %v; want counter, gauge", s["rampart_saves_total"].GetType(), s["rampart_players_online"].GetType())
	}
	online = 4
	if got := scr().value(t, "rampart_players_online"); got != 4 {
		t.Errorf("after a change: players online %v, want 4", got)
	}
}

func TestFuncsRefuseWiringMistakes(t *testing.T) {
	tests := []struct {
		name string
		f    func(m *Metrics)
		want string
	}{
		{"no prefix", func(m *Metrics) { m.GaugeFunc("players_online", "", nil) }, "bad name"},
		{"bad name", func(m *Metrics) { m.GaugeFunc("rampart_players-online", "", nil) }, "bad name"},
		{"counter without _total", func(m *Metrics) { m.CounterFunc("rampart_saves", "", nil) }, "must end with _total"},
		{"gauge with _total", func(m *Metrics) { m.GaugeFunc("rampart_online_total", "", nil) }, "must not end with _total"},
		{"duplicate", func(m *Metrics) {
			m.GaugeFunc("rampart_x", "x", func() float64 { return 0 })
			m.GaugeFunc("rampart_x", "x", func() float64 { return 0 })
		}, "duplicate"},
		{"clash with built-in", func(m *Metrics) { m.GaugeFunc("rampart_unhalted_load_ratio", "x", func() float64 { return 0 }) }, "unhalted"},
		{"bad label", func(m *Metrics) { m.CounterVec("rampart_x_total", "", "player-id") }, "bad label"},
		{"label count", func(m *Metrics) {
			m.CounterVec("rampart_x_total", "", "kind").Func(func() float64 { return 0 }, "a", "b")
		}, "2 label values"},
		{"series twice", func(m *Metrics) {
			m.CounterVec("rampart_x_total", "", "kind").Func(func() float64 { return 0 }, "a").Func(func() float64 { return 0 }, "a")
		}, "declared twice"},
		{"unbounded", func(m *Metrics) {
			v := m.GaugeVec("rampart_x", "", "player")
			for i := range MaxSeriesPerVec + 1 {
				v.Func(func() float64 { return 0 }, fmt.Sprint(i))
			}
		}, "small fixed set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Sources{Profiler: profiler.New(), Sampler: profiler.NewSampler(profiler.SamplerOptions{})})
			defer func() {
				p := recover()
				if p == nil || !strings.Contains(fmt.Sprint(p), tc.want) {
					t.Errorf("panic %v, want one mentioning %q", p, tc.want)
				}
			}()
			tc.f(m)
		})
	}
}

// TestScrapeAfterReset: the histogram restarts from 0, which Prometheus
// reads as a counter reset; the outcome and breach counters do not.
func TestScrapeAfterReset(t *testing.T) {
	f := newFixture(t)
	f.p.Reset()
	s := f.scrape(t)
	if h := s.find(t, "rampart_request_duration_seconds", "route=POST /api/v1/actions").GetHistogram(); h.GetSampleCount() != 0 {
		t.Errorf("count after reset %d, want 0", h.GetSampleCount())
	}
	if got := s.value(t, "rampart_request_outcomes_total", "route=POST /api/v1/actions", "outcome=server_error"); got != 1 {
		t.Errorf("server errors after reset %v, want 1 (never reset)", got)
	}
}
