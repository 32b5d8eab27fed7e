package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	testclock "rampart/internal/testenv/clock"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/profiler"
)

type clock = testclock.Clock

type fixture struct {
	clk     *clock
	p       *profiler.Profiler
	sampler *profiler.Sampler
	alerts  *profiler.Alerts
	mux     *http.ServeMux
	firing  *atomicBool
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) Set(v bool) { b.mu.Lock(); b.v = v; b.mu.Unlock() }
func (b *atomicBool) Get() bool  { b.mu.Lock(); defer b.mu.Unlock(); return b.v }

// rows is what the fixture records: name → durations.
var rows = map[string][]time.Duration{
	"POST /api/v1/actions": {2 * time.Millisecond, 3 * time.Millisecond, 250 * time.Millisecond},
	"GET /api/v1/state":    {time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond},
	"action:build":         {40 * time.Microsecond, 60 * time.Microsecond},
	"s3:get":               {80 * time.Millisecond},
	"autosave":             {30 * time.Millisecond, 10 * time.Millisecond},
}

// wantByMax is rows sorted by max, descending.
var wantByMax = []string{"POST /api/v1/actions", "s3:get", "autosave", "GET /api/v1/state", "action:build"}

// newFixture records rows into a profiler and mounts the pages the way the
// router will.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clk: testclock.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)), firing: &atomicBool{}}
	f.p = profiler.NewWithOptions(profiler.Options{Now: f.clk.Now})
	for name, ds := range rows {
		for _, d := range ds {
			f.p.Record(name, d)
		}
	}
	f.clk.Advance(10 * time.Second)
	cpu := time.Duration(0)
	f.sampler = profiler.NewSampler(profiler.SamplerOptions{Now: f.clk.Now, Read: func() profiler.RuntimeReading {
		cpu += 860 * time.Millisecond // 4.3% of 2 procs over 10 s
		return profiler.RuntimeReading{CPU: cpu, Procs: 2}
	}})
	f.sampler.Sample()
	f.clk.Advance(10 * time.Second)
	f.sampler.Sample()

	f.alerts = profiler.NewAlerts(profiler.AlertOptions{Now: f.clk.Now, Log: slog.New(slog.DiscardHandler)})
	if err := f.alerts.AddRule(profiler.Rule{Name: "disk-full", Help: "disk ≥ 95%", Unit: "%",
		Check: func(time.Time) (float64, bool) { return 97, f.firing.Get() }}); err != nil {
		t.Fatal(err)
	}

	f.mux = http.NewServeMux()
	f.mux.Handle("GET /debug/{$}", Index(
		Section{Title: "Server", Links: []Link{{Href: "latency", Title: "Latency", Description: "per entry point"}, {Href: "alerts", Title: "Alerts"}}},
		Section{Title: "Go", Links: []Link{{Href: "/debug/pprof/", Title: "pprof"}}},
	))
	f.mux.Handle("GET /debug/latency", Latency(f.p, f.sampler))
	f.mux.Handle("POST /debug/latency/reset", LatencyReset(f.p))
	f.mux.Handle("GET /debug/latency/plot.svg", LatencyPlot(f.p))
	f.mux.Handle("GET /debug/alerts", Alerts(f.alerts))
	f.mux.Handle("GET /debug/alerts/stream", AlertStream(f.alerts))
	return f
}

func (f *fixture) get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

// getOK serves GET target through h, with header given as name, value
// pairs, and fails t on anything but 200.
func getOK(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	return w
}

// htmlCase is one GET of a page and what its HTML must hold.
type htmlCase struct {
	name    string
	target  string
	want    []string // in this order
	without []string
}

// runHTMLCases serves each case's target through h, as a subtest, and
// checks the page with checkHTML.
func runHTMLCases(t *testing.T, h http.Handler, cases []htmlCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkHTML(t, getOK(t, h, tc.target), tc.want, tc.without)
		})
	}
}

// checkHTML fails t unless w is an HTML page holding every string of want
// in that order and none of without.
func checkHTML(t *testing.T, w *httptest.ResponseRecorder, want, without []string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type %q, want text/html", ct)
	}
	body := w.Body.String()
	at := 0
	for _, s := range want {
		i := strings.Index(body[at:], s)
		if i < 0 {
			t.Fatalf("page lacks, after offset %d: %s\n%s", at, s, body)
		}
		at += i + len(s)
	}
	for _, bad := range without {
		if strings.Contains(body, bad) {
			t.Errorf("page has %s", bad)
		}
	}
}

// decodeJSONPage fails t unless w is a JSON document with at least the
// top-level keys named, decodes it into doc and returns its top-level
// keys.
func decodeJSONPage(t *testing.T, w *httptest.ResponseRecorder, doc any, keys ...string) map[string]json.RawMessage {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q, want application/json", ct)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &shape); err != nil {
		t.Fatalf("body %s (%v), want an object with keys %v", w.Body, err, keys)
	}
	for _, k := range keys {
		if shape[k] == nil {
			t.Fatalf("body %s, want keys %v", w.Body, keys)
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), doc); err != nil {
		t.Fatal(err)
	}
	return shape
}

func (f *fixture) latencyJSON(t *testing.T, query string) LatencyJSON {
	t.Helper()
	w := f.get(t, "/debug/latency?format=json"+query)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET latency json: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var doc LatencyJSON
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return doc
}

func names(rs []RowJSON) string {
	var ns []string
	for _, r := range rs {
		ns = append(ns, r.Name)
	}
	return strings.Join(ns, ", ")
}

func TestLatencyJSONSortedByMax(t *testing.T) {
	f := newFixture(t)
	doc := f.latencyJSON(t, "")
	if got, want := names(doc.Rows), strings.Join(wantByMax, ", "); got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
	if doc.Sort != "max" || doc.Period != "start" {
		t.Errorf("sort, period = %q, %q; want max, start", doc.Sort, doc.Period)
	}
	top := doc.Rows[0]
	if top.Calls != 3 || top.MaxMs != 250 || !top.Request || top.TotalS != 0.255 {
		t.Errorf("top row %+v, want 3 calls, max 250 ms, request, total 0.255 s", top)
	}
	if doc.All.Calls != 12 || doc.All.MaxMs != 250 {
		t.Errorf("ALL %+v, want 12 calls, max 250 ms", doc.All)
	}
	// Requests: 255 ms + 4 ms over 7 calls.
	if got, want := doc.AvgRequestMs, 259.0/7; abs(got-want) > 1e-3 {
		t.Errorf("avg request = %v ms, want %v", got, want)
	}
	if doc.UnhaltedLoadPct == nil || abs(*doc.UnhaltedLoadPct-4.3) > 1e-9 || doc.SchedLatencyP99Ms == nil || doc.GOMAXPROCS != 2 {
		t.Errorf("load = %v, sched = %v, procs %d; want 4.3%%, a number, 2", doc.UnhaltedLoadPct, doc.SchedLatencyP99Ms, doc.GOMAXPROCS)
	}
	if doc.HardLimitMs != 200 || doc.HardLimitBreaches != 1 {
		t.Errorf("hard limit %v ms, %d breaches; want 200, 1", doc.HardLimitMs, doc.HardLimitBreaches)
	}
	if doc.WallSeconds != 20 {
		t.Errorf("wall = %v s, want 20", doc.WallSeconds)
	}
}

func abs(f float64) float64 { return max(f, -f) }

func TestLatencyJSONQuery(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		query string
		want  string
	}{
		{"&sort=name", "GET /api/v1/state, POST /api/v1/actions, action:build, autosave, s3:get"},
		{"&sort=calls", "GET /api/v1/state, POST /api/v1/actions, action:build, autosave, s3:get"},
		{"&sort=avg", "POST /api/v1/actions, s3:get, autosave, GET /api/v1/state, action:build"},
		{"&sort=total", "POST /api/v1/actions, s3:get, autosave, GET /api/v1/state, action:build"},
		{"&sort=p99", "POST /api/v1/actions, s3:get, autosave, GET /api/v1/state, action:build"},
		{"&sort=bogus", strings.Join(wantByMax, ", ")},
		{"&q=API", "POST /api/v1/actions, GET /api/v1/state"},
		{"&q=nothing-matches", ""},
		{"&period=recent", strings.Join(wantByMax, ", ")},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			if got := names(f.latencyJSON(t, tc.query).Rows); got != tc.want {
				t.Errorf("rows = %s, want %s", got, tc.want)
			}
		})
	}
	// The recent window empties after a minute; since-start does not.
	f.clk.Advance(2 * time.Minute)
	if doc := f.latencyJSON(t, "&period=recent"); len(doc.Rows) != 0 || doc.Period != "recent" {
		t.Errorf("recent after 2 minutes: %d rows (%s), want none", len(doc.Rows), doc.Period)
	}
	if doc := f.latencyJSON(t, ""); len(doc.Rows) != len(rows) {
		t.Errorf("since start after 2 minutes: %d rows, want %d", len(doc.Rows), len(rows))
	}
}

func TestLatencyInFlight(t *testing.T) {
	f := newFixture(t)
	t0 := f.clk.Now()
	hung := f.p.Row("POST /api/v1/actions").Begin(t0)
	defer hung.End(0)
	f.clk.Advance(time.Second)
	quick := f.p.Row("s3:get").Begin(f.clk.Now())
	defer quick.End(0)
	f.clk.Advance(50 * time.Millisecond)

	doc := f.latencyJSON(t, "")
	want := []FlightJSON{
		{Name: "POST /api/v1/actions", Request: true, Started: t0, AgeMs: 1050, OverHardLimit: true},
		{Name: "s3:get", Started: t0.Add(time.Second), AgeMs: 50},
	}
	if doc.InFlight.Total != 2 || len(doc.InFlight.Oldest) != 2 {
		t.Fatalf("in flight %+v, want 2 listed", doc.InFlight)
	}
	for i, w := range want {
		if g := doc.InFlight.Oldest[i]; g.Name != w.Name || g.Request != w.Request || !g.Started.Equal(w.Started) ||
			g.AgeMs != w.AgeMs || g.OverHardLimit != w.OverHardLimit {
			t.Errorf("oldest[%d] = %+v, want %+v", i, g, w)
		}
	}
	html := f.get(t, "/debug/latency").Body.String()
	for _, want := range []string{`id="in-flight"`, `<tr class="row over"><td class="name">POST /api/v1/actions</td><td class="max">1050.0 ms</td>`, "2 running now"} {
		if !strings.Contains(html, want) {
			t.Errorf("latency HTML lacks %q", want)
		}
	}
}

func TestLatencyJSONOutcomes(t *testing.T) {
	f := newFixture(t)
	r := f.p.Row("POST /api/v1/actions")
	r.RecordStatus(time.Millisecond, profiler.StatusClientClosed)
	r.RecordStatus(time.Millisecond, 500)
	r.RecordStatus(time.Millisecond, 404)
	r.RecordStatus(time.Millisecond, 404)
	for _, row := range f.latencyJSON(t, "").Rows {
		if row.Name == "POST /api/v1/actions" && (row.Aborted != 1 || row.ServerErrors != 1 || row.ClientErrors != 2) {
			t.Errorf("outcomes %+v, want 1 aborted, 1 server error, 2 client errors", row)
		}
	}
}

func TestLatencyHTML(t *testing.T) {
	f := newFixture(t)
	w := f.get(t, "/debug/latency?sort=avg&q=a&refresh=5")
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /debug/latency: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		"Approximate unhalted load: <b id=\"load\">4.3%</b>",
		"Average request latency: <b id=\"avg-request\">37.0 ms</b>",
		`<meta http-equiv="refresh" content="5">`,
		`<th class="sorted"><a href="/debug/latency?q=a&amp;refresh=5&amp;sort=avg" data-sort="avg">Average</a></th>`,
		`href="/debug/latency?q=a&amp;refresh=5" data-sort="max"`,
		`href="/debug/latency?period=recent&amp;q=a&amp;refresh=5&amp;sort=avg">last minute</a>`,
		`<form method="post" action="/debug/latency/reset" id="reset">`,
		`<input type="search" name="q" value="a"`,
		`<img id="plot" src="/debug/latency/plot.svg?row=POST&#43;%2Fapi%2Fv1%2Factions"`,
		`<tr class="row over"><td class="name"><a href="/debug/latency?q=a&amp;refresh=5&amp;row=POST&#43;%2Fapi%2Fv1%2Factions&amp;sort=avg">POST /api/v1/actions</a>`,
		"autosave", "action:build",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "s3:get") {
		t.Errorf("page shows s3:get, which the filter excludes")
	}
	if strings.Contains(body, "<script") {
		t.Errorf("page has a script; it must work without JavaScript")
	}
}

func TestLatencyReset(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		method   string
		target   string
		origin   string
		code     int
		location string
		emptied  bool
	}{
		{"GET is refused by the route", http.MethodGet, "/debug/latency/reset", "", http.StatusMethodNotAllowed, "", false},
		{"cross-site post", http.MethodPost, "/debug/latency/reset", "https://evil.example", http.StatusForbidden, "", false},
		{"form post redirects back", http.MethodPost, "/debug/latency/reset", "http://example.com", http.StatusSeeOther, "/debug/latency", true},
		{"json", http.MethodPost, "/debug/latency/reset?format=json", "", http.StatusOK, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.p.Record("GET /x", time.Millisecond)
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			f.mux.ServeHTTP(w, req)
			if w.Code != tc.code || w.Header().Get("Location") != tc.location {
				t.Fatalf("%s %s: %d location %q, want %d %q", tc.method, tc.target, w.Code, w.Header().Get("Location"), tc.code, tc.location)
			}
			calls := f.p.Snapshot(profiler.SinceReset).All.Calls
			if emptied := calls == 0; emptied != tc.emptied {
				t.Errorf("after: %d calls; emptied %v, want %v", calls, emptied, tc.emptied)
			}
		})
	}
	// The handler itself refuses other methods too, wherever it is mounted.
	w := httptest.NewRecorder()
	LatencyReset(f.p).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/latency/reset", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET on the bare handler: %d Allow %q, want 405 POST", w.Code, w.Header().Get("Allow"))
	}
}

func TestLatencyPlot(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		query string
		code  int
		want  []string
	}{
		{"?row=" + url.QueryEscape("POST /api/v1/actions"), http.StatusOK,
			[]string{`<path class="curve" d="M`, "POST /api/v1/actions — latency by percentile, since start", "3 calls, max 250.0 ms", `class="limit"`, "99.9%"}},
		{"?row=ALL&period=recent", http.StatusOK, []string{`<path class="curve"`, "ALL — latency by percentile, last minute"}},
		{"?row=%3Cscript%3E", http.StatusNotFound, []string{"&lt;script&gt;", "no measurements"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := f.get(t, "/debug/latency/plot.svg"+tc.query)
			body := w.Body.String()
			if w.Code != tc.code || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg ") {
				t.Fatalf("got %d %s %.40q, want %d image/svg+xml", w.Code, w.Header().Get("Content-Type"), body, tc.code)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("svg lacks %q", want)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("row name not escaped")
			}
		})
	}
}

func TestIndex(t *testing.T) {
	f := newFixture(t)
	body := f.get(t, "/debug/").Body.String()
	for _, want := range []string{`<h2>Server</h2>`, `<a href="latency">Latency</a> — <span class="muted">per entry point</span>`,
		`<a href="alerts">Alerts</a>`, `<h2>Go</h2>`, `<a href="/debug/pprof/">pprof</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s", want)
		}
	}
}

func TestIndexValues(t *testing.T) {
	var slow atomic.Int64
	idx := NewPages(nil).Index(
		Section{Title: "WebSocket", Values: []KV{
			KVFunc("slow clients closed", func() any { return slow.Load() }),
			{Key: "sockets replaced", Value: func() any { return 3 }},
		}},
		Section{Title: "Latency", Links: []Link{{Href: "latency", Title: "Latency table"}}},
	)
	slow.Store(7)
	html := getOK(t, idx, "/debug/").Body.String()
	for _, want := range []string{"<th>slow clients closed</th><td>7</td>", "<th>sockets replaced</th><td>3</td>", `<a href="latency">Latency table</a>`} {
		if !strings.Contains(html, want) {
			t.Errorf("index HTML lacks %q:\n%s", want, html)
		}
	}
	slow.Store(8) // read again on every request
	var doc IndexJSON
	if err := json.Unmarshal(getOK(t, idx, "/debug/?format=json").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	ws := doc.Sections[0]
	if ws.Title != "WebSocket" || ws.Values["slow clients closed"] != 8.0 || ws.Values["sockets replaced"] != 3.0 ||
		strings.Join(ws.Keys, ",") != "slow clients closed,sockets replaced" {
		t.Errorf("section %+v, want the two figures, 8 and 3, in order", ws)
	}
	if len(doc.Sections[1].Links) != 1 || doc.Sections[1].Values != nil {
		t.Errorf("links section %+v, want one link and no values", doc.Sections[1])
	}
}

func TestAlertsPage(t *testing.T) {
	f := newFixture(t)
	f.firing.Set(true)
	f.alerts.Evaluate()

	w := f.get(t, "/debug/alerts")
	body := w.Body.String()
	for _, want := range []string{`<tr class="firing"><td>disk-full</td><td>97.0%</td>`, "curl -N http://example.com/debug/alerts/stream",
		`<table id="recent">`, "disk ≥ 95%"} {
		if !strings.Contains(body, want) {
			t.Errorf("alerts page lacks %s", want)
		}
	}
	var s profiler.AlertsSnapshot
	if err := json.Unmarshal(f.get(t, "/debug/alerts?format=json").Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Active) != 1 || s.Active[0].Rule != "disk-full" || s.Active[0].Value != 97 || len(s.Recent) != 1 || len(s.Rules) != 1 {
		t.Errorf("json %+v, want disk-full active at 97, one recent, one rule", s)
	}
}

// TestAlertStream reads the SSE stream over a real loopback connection.
func TestAlertStream(t *testing.T) {
	f := newFixture(t)
	f.firing.Set(true)
	f.alerts.Evaluate() // already firing when the client connects
	srv := httptest.NewServer(f.mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/debug/alerts/stream", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q, want text/event-stream", ct)
	}
	rd := bufio.NewReader(resp.Body)
	next := func() (event, data string) {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("read stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && event != "":
				return event, data
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}

	ev, data := next()
	var active []profiler.Event
	if err := json.Unmarshal([]byte(data), &active); ev != "active" || err != nil || len(active) != 1 || active[0].Rule != "disk-full" {
		t.Fatalf("first event %s %s (%v), want active with disk-full", ev, data, err)
	}
	for _, want := range []struct {
		firing bool
		state  string
	}{{false, profiler.StateResolved}, {true, profiler.StateFiring}} {
		f.clk.Advance(time.Second)
		f.firing.Set(want.firing)
		f.alerts.Evaluate()
		ev, data := next()
		var e profiler.Event
		if err := json.Unmarshal([]byte(data), &e); ev != "alert" || err != nil || e.Rule != "disk-full" || e.State != want.state || e.Value != 97 {
			t.Fatalf("event %s %s (%v), want alert disk-full %s 97", ev, data, err, want.state)
		}
	}
	cancel()
	_, _ = io.Copy(io.Discard, rd) // the stream ends with the request
}

// failingWriter fails every write, as a client gone mid-response does.
type failingWriter struct{ h http.Header }

func (w *failingWriter) Header() http.Header       { return w.h }
func (w *failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
func (w *failingWriter) WriteHeader(int)           {}

func TestPagesLogThroughInjectedLogger(t *testing.T) {
	p := profiler.New()
	a := profiler.NewAlerts(profiler.AlertOptions{Log: slog.New(slog.DiscardHandler)})
	var buf bytes.Buffer
	pages := NewPages(slog.New(slog.NewJSONHandler(&buf, nil)))
	tests := []struct {
		name string
		h    http.Handler
	}{
		{"index", pages.Index(Section{Title: "x"})},
		{"latency", pages.Latency(p, nil)},
		{"alerts", pages.Alerts(a)},
		{"plot", pages.LatencyPlot(p)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			tc.h.ServeHTTP(&failingWriter{h: http.Header{}}, httptest.NewRequest(http.MethodGet, "/debug/x?row=ALL", nil))
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("injected logger got %q, want one JSON line: %v", buf.String(), err)
			}
			if line["msg"] != "debug page" || !strings.Contains(line["err"].(string), "broken pipe") {
				t.Errorf("logged %v, want the debug page error", line)
			}
		})
	}
}
