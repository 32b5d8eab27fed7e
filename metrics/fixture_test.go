package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	testclock "rampart/internal/testenv/clock"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"rampart/bookkeeper"
	"rampart/internal/testenv/keepertest"
	"rampart/profiler"
	"rampart/web"
)

type clock = testclock.Clock

// traffic is what the fixture records through Begin/EndStatus: per route,
// durations and statuses.
var traffic = []struct {
	route  string
	d      time.Duration
	status int
}{
	{"POST /api/v1/actions", 300 * time.Microsecond, 200},
	{"POST /api/v1/actions", 3 * time.Millisecond, 200},
	{"POST /api/v1/actions", 3 * time.Millisecond, 200},
	{"POST /api/v1/actions", 40 * time.Millisecond, 500},
	{"POST /api/v1/actions", 250 * time.Millisecond, 200}, // over the hard limit
	{"POST /api/v1/actions", 7 * time.Millisecond, profiler.StatusClientClosed},
	{"POST /api/v1/login", 12 * time.Millisecond, 200},
	{"POST /api/v1/login", 15 * time.Millisecond, 401},
	{"GET /healthz", 50 * time.Microsecond, 200},
	{"ws:actions", 80 * time.Microsecond, 200},
	{"action:build", 20 * time.Microsecond, 0},
	{"s3:get", 2 * time.Second, 0}, // internal: no hard limit
}

// fixture is a profiler, sampler, alert engine and bookkeepers in a known
// state, with the debug pages and /metrics mounted the way the wiring will:
//
//	profiler  traffic above, then POST /api/v1/login still running for
//	          300 ms (over the hard limit) and GET /healthz for 1 ms
//	load      43% of 2 procs
//	s3        1 ok, 1 error, 1 retry; one call on the wire, one queued,
//	          one dropped (concurrency 1, queue limit 1)
//	mongo     idle, no limits
//	alerts    evaluated once: load under 50%, hard-limit firing
type fixture struct {
	clk     *clock
	p       *profiler.Profiler
	sampler *profiler.Sampler
	alerts  *profiler.Alerts
	keepers *bookkeeper.Registry
	m       *Metrics
	mux     *http.ServeMux
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clk := testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	f := &fixture{clk: clk, p: profiler.NewWithOptions(profiler.Options{Now: clk.Now})}
	for _, tr := range traffic {
		t0 := clk.Now()
		fl := f.p.Row(tr.route).Begin(t0)
		fl.EndStatus(tr.d, tr.status)
	}
	f.p.Row("GET /api/v1/gamedata") // registered, never called

	cpu := time.Duration(0)
	f.sampler = profiler.NewSampler(profiler.SamplerOptions{Now: clk.Now, Read: func() profiler.RuntimeReading {
		cpu += 8600 * time.Millisecond // 43% of 2 procs over 10 s
		return profiler.RuntimeReading{CPU: cpu, Procs: 2}
	}})
	f.sampler.Sample()
	clk.Advance(10 * time.Second)
	f.sampler.Sample()

	s3 := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 1, QueueLimit: 1, Timeout: 5 * time.Second,
		MaxTries: 3, Retryable: keepertest.IsRetry, Now: clk.Now, After: keepertest.Immediate})
	mongo := bookkeeper.New(bookkeeper.Config{Name: "mongo", Now: clk.Now})
	f.keepers = bookkeeper.NewRegistry(s3, mongo)
	ctx, block := keepertest.Hold(t, f.keepers)
	keepertest.Land(ctx, s3, "s3:get")
	for i, want := range []error{nil, nil, bookkeeper.ErrDropped} {
		if err := s3.Go(ctx, "s3:put", block, nil); !errors.Is(err, want) {
			t.Fatalf("Go %d: %v, want %v", i, err, want)
		}
	}

	// Requests still running: login over the hard limit, healthz not.
	login := f.p.Row("POST /api/v1/login").Begin(clk.Now())
	clk.Advance(299 * time.Millisecond)
	health := f.p.Row("GET /healthz").Begin(clk.Now())
	clk.Advance(time.Millisecond)
	t.Cleanup(func() { login.End(0); health.End(0) })

	f.alerts = profiler.NewAlerts(profiler.AlertOptions{Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	rules := []profiler.Rule{profiler.LoadRule(f.sampler, profiler.DefaultLoadThreshold, 0), profiler.HardLimitRule(f.p, time.Minute)}
	for _, r := range f.keepers.Rules() {
		rules = append(rules, profiler.Rule{Name: r.Name, For: r.For, Check: r.Check})
	}
	for _, r := range rules {
		if err := f.alerts.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	f.alerts.Evaluate()

	f.m = New(Sources{Profiler: f.p, Sampler: f.sampler, Alerts: f.alerts, Keepers: f.keepers, Log: slog.New(slog.DiscardHandler)})
	pages := web.NewPages(slog.New(slog.DiscardHandler))
	f.mux = http.NewServeMux()
	f.mux.Handle("GET /metrics", f.m.Handler())
	f.mux.Handle("GET /debug/latency", pages.Latency(f.p, f.sampler))
	f.mux.Handle("GET /debug/bookkeepers", pages.Bookkeepers(f.keepers))
	f.mux.Handle("GET /debug/alerts", pages.Alerts(f.alerts))
	return f
}

// get serves target and fails the test on anything but 200.
func (f *fixture) get(t testing.TB, target string) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	return w.Body.Bytes()
}

func (f *fixture) json(t testing.TB, target string, v any) {
	t.Helper()
	if err := json.Unmarshal(f.get(t, target), v); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
}

// scrape is one GET /metrics parsed with Prometheus' own text parser.
type scrape map[string]*dto.MetricFamily

func (f *fixture) scrape(t testing.TB) scrape {
	t.Helper()
	return parse(t, f.get(t, "/metrics"))
}

func parse(t testing.TB, body []byte) scrape {
	t.Helper()
	mfs, err := ParseText(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return mfs
}

// find returns the series of name whose labels include want ("k=v" pairs).
func (s scrape) find(t testing.TB, name string, want ...string) *dto.Metric {
	t.Helper()
	mf := s[name]
	if mf == nil {
		t.Fatalf("scrape has no %s", name)
	}
next:
	for _, m := range mf.Metric {
		have := map[string]string{}
		for _, lp := range m.Label {
			have[lp.GetName()] = lp.GetValue()
		}
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("scrape has no %s%v", name, want)
	return nil
}

// value is a counter's, gauge's or untyped series' value.
func (s scrape) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m := s.find(t, name, labels...)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is neither counter nor gauge", name, labels)
	return 0
}

// sum adds every series of name.
func (s scrape) sum(name string) float64 {
	var total float64
	if mf := s[name]; mf != nil {
		for _, m := range mf.Metric {
			total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return total
}

func (s scrape) names() []string {
	var ns []string
	for n := range s {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
