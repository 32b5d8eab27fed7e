package metrics_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"rampart/bookkeeper"
	"rampart/metrics"
	"rampart/profiler"
)

// The wiring in cmd/rampart: one Metrics over the profiler, sampler,
// alerts and bookkeepers, the server's own figures registered as
// functions, Handler mounted at GET /metrics.
func ExampleNew() {
	prof := profiler.New()
	sampler := profiler.NewSampler(profiler.SamplerOptions{})
	alerts := profiler.NewAlerts(profiler.AlertOptions{Log: slog.New(slog.DiscardHandler)})
	keepers := bookkeeper.NewRegistry(bookkeeper.New(bookkeeper.Config{Name: "s3"}))

	m := metrics.New(metrics.Sources{Profiler: prof, Sampler: sampler, Alerts: alerts, Keepers: keepers,
		Log: slog.New(slog.DiscardHandler)})
	var online, slowClosed atomic.Int64 // stand-ins for store.OnlineCount and api's WSStats
	m.GaugeFunc(metrics.PlayersOnline, "Players in memory.", func() float64 { return float64(online.Load()) })
	m.CounterFunc(metrics.WSSlowClosedTotal, "Sockets closed because their send queue was full.",
		func() float64 { return float64(slowClosed.Load()) })
	m.CounterVec(metrics.RateLimitedTotal, "Requests refused by a rate limit.", "scope").
		Func(func() float64 { return 2 }, "player").
		Func(func() float64 { return 0 }, "address")

	// api's timed wrapper: the profiler is the only clock.
	row := prof.Row("POST /api/v1/actions")
	t0 := time.Now()
	f := row.Begin(t0)
	f.EndStatus(time.Since(t0), http.StatusOK)
	online.Store(3)

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	mfs, _ := metrics.ParseText(w.Body)
	fmt.Println(mfs["rampart_request_duration_seconds"].Metric[0].GetHistogram().GetSampleCount())
	fmt.Println(mfs[metrics.PlayersOnline].Metric[0].GetGauge().GetValue())
	for _, s := range mfs[metrics.RateLimitedTotal].Metric {
		fmt.Println(s.Label[0].GetValue(), s.GetCounter().GetValue())
	}
	fmt.Println(strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain"))
	// Output:
	// 1
	// 3
	// address 0
	// player 2
	// true
}
