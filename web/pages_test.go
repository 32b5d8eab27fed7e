package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rampart/profiler"
)

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

func TestIndexValues(t *testing.T) {
	var slow atomic.Int64
	idx := NewPages(nil).Index(
		Section{Title: "WebSocket", Values: []KV{
			KVFunc("slow clients closed", func() any { return slow.Load() }),
			{Key: "sockets replaced", Value: func() any { return 3 }},
		}},
		Section{Title: "Latency", Links: []Link{{Href: "latency", Title: "Latency table"}}},
	)
	get := func(target string) string {
		t.Helper()
		w := httptest.NewRecorder()
		idx.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", target, w.Code)
		}
		return w.Body.String()
	}
	slow.Store(7)
	html := get("/debug/")
	for _, want := range []string{"<th>slow clients closed</th><td>7</td>", "<th>sockets replaced</th><td>3</td>", `<a href="latency">Latency table</a>`} {
		if !strings.Contains(html, want) {
			t.Errorf("index HTML lacks %q:\n%s", want, html)
		}
	}
	slow.Store(8) // read again on every request
	var doc IndexJSON
	if err := json.Unmarshal([]byte(get("/debug/?format=json")), &doc); err != nil {
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
