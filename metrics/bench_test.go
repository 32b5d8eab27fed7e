package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"rampart/bookkeeper"
	"rampart/profiler"
)

// BenchmarkScrape is one GET /metrics of a server with 100 routes that
// have all recorded a spread of latencies, 3 bookkeepers and 14 alert
// rules: what a Prometheus scrape costs the server.
func BenchmarkScrape(b *testing.B) {
	p := profiler.New()
	for i := range 100 {
		r := p.Row(fmt.Sprintf("POST /api/v1/route%02d", i))
		for j := range 1000 {
			r.Record(time.Duration(2000<<(j%12)) * time.Nanosecond)
		}
	}
	sampler := profiler.NewSampler(profiler.SamplerOptions{})
	sampler.Sample()
	sampler.Sample()
	reg := bookkeeper.NewRegistry(bookkeeper.New(bookkeeper.Config{Name: "s3"}),
		bookkeeper.New(bookkeeper.Config{Name: "mongo"}), bookkeeper.New(bookkeeper.Config{Name: "webhook"}))
	alerts := profiler.NewAlerts(profiler.AlertOptions{Log: slog.New(slog.DiscardHandler)})
	_ = alerts.AddRule(profiler.LoadRule(sampler, 0.5, 10*time.Second))
	_ = alerts.AddRule(profiler.HardLimitRule(p, time.Minute))
	for _, r := range reg.Rules() {
		_ = alerts.AddRule(profiler.Rule{Name: r.Name, For: r.For, Check: r.Check})
	}
	alerts.Evaluate()
	m := New(Sources{Profiler: p, Sampler: sampler, Alerts: alerts, Keepers: reg})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		w := &countingWriter{h: http.Header{}}
		m.Handler().ServeHTTP(w, req)
		size = w.n
	}
	b.ReportMetric(float64(size), "body-B")
}

type countingWriter struct {
	h http.Header
	n int
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return io.Discard.Write(p)
}
func (w *countingWriter) WriteHeader(int) {}
