package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"rampart/bookkeeper"
	"rampart/profiler"
)

// DefaultBuckets are the latency histogram's upper bounds; New adds the
// profiler's hard limit if it is not among them, so "over the hard limit"
// is exact in PromQL too. They stop at 30 s: the profiler's histograms
// clamp at 60 s.
var DefaultBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
}

// MaxSeriesPerVec bounds the series of one labelled name the wiring
// registers: labels are for small fixed sets (sign-in kind × result).
const MaxSeriesPerVec = 64

// Sources are what /metrics reads. Every field but Profiler may be nil.
type Sources struct {
	Profiler *profiler.Profiler
	Sampler  *profiler.Sampler
	Alerts   *profiler.Alerts
	Keepers  *bookkeeper.Registry
	// Buckets are the latency histogram's upper bounds; nil: DefaultBuckets.
	Buckets []time.Duration
	// Log receives scrape errors; nil: slog.Default().
	Log *slog.Logger
}

// Metrics is the process's Prometheus registry. Register the wiring's own
// series with CounterFunc, GaugeFunc, CounterVec and GaugeVec before
// serving; they panic on a wiring mistake (a bad or duplicate name), like
// bookkeeper.Registry.Add. It is safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	log     *slog.Logger
	handler http.Handler
}

// New returns a registry holding the Go runtime and process collectors
// and a collector over src.
func New(src Sources) *Metrics {
	log := src.Log
	if log == nil {
		log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.Profiler != nil || src.Sampler != nil || src.Alerts != nil || src.Keepers != nil {
		reg.MustRegister(newCollector(src))
	}
	m := &Metrics{reg: reg, log: log}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{log},
		ErrorHandling: promhttp.ContinueOnError, // a partial scrape beats none
		Registry:      reg,                      // promhttp_metric_handler_errors_total
	})
	return m
}

// Handler serves the registry in the Prometheus text format (or protobuf /
// OpenMetrics when the scraper asks). Mount at GET /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the underlying registry, for collectors beyond the Func
// helpers (the tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// CounterFunc registers a counter read by calling fn at each scrape. name
// must start with "rampart_" and end with "_total"; fn must not block.
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	mustName(name, true)
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// GaugeFunc registers a gauge read by calling fn at each scrape. name must
// start with "rampart_" and not end with "_total"; fn must not block.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	mustName(name, false)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// CounterVec declares a labelled counter; add its series one by one with
// Func, each with fixed label values:
//
//	v := m.CounterVec("rampart_signins_total", "sign-ins by kind and result", "kind", "result")
//	v.Func(func() float64 { return float64(st.PasswordOK.Load()) }, "password", "ok")
func (m *Metrics) CounterVec(name, help string, labels ...string) *FuncVec {
	mustName(name, true)
	return m.vec(name, help, labels, true)
}

// GaugeVec declares a labelled gauge; see CounterVec.
func (m *Metrics) GaugeVec(name, help string, labels ...string) *FuncVec {
	mustName(name, false)
	return m.vec(name, help, labels, false)
}

func (m *Metrics) vec(name, help string, labels []string, counter bool) *FuncVec {
	for _, l := range labels {
		if !model.LabelName(l).IsValidLegacy() || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("metrics: %s: bad label name %q", name, l))
		}
	}
	return &FuncVec{m: m, name: name, help: help, labels: slices.Clone(labels), counter: counter, seen: map[string]bool{}}
}

// FuncVec is a labelled name whose series are declared one by one.
type FuncVec struct {
	m       *Metrics
	name    string
	help    string
	labels  []string
	counter bool

	mu   sync.Mutex // guards seen
	seen map[string]bool
}

// Func adds the series with these label values (one per label, in order),
// read by calling fn at each scrape. It returns v for chaining and panics
// on a wrong number of values, a duplicate, or more than MaxSeriesPerVec
// series.
func (v *FuncVec) Func(fn func() float64, values ...string) *FuncVec {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for labels %v", v.name, len(values), v.labels))
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	if v.seen[key] {
		v.mu.Unlock()
		panic(fmt.Sprintf("metrics: %s%v: declared twice", v.name, values))
	}
	if len(v.seen) >= MaxSeriesPerVec {
		v.mu.Unlock()
		panic(fmt.Sprintf("metrics: %s: more than %d series: labels must be a small fixed set", v.name, MaxSeriesPerVec))
	}
	v.seen[key] = true
	v.mu.Unlock()
	cl := prometheus.Labels{}
	for i, l := range v.labels {
		cl[l] = values[i]
	}
	if v.counter {
		v.m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: v.name, Help: v.help, ConstLabels: cl}, fn))
	} else {
		v.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: v.name, Help: v.help, ConstLabels: cl}, fn))
	}
	return v
}

// mustName enforces the conventions: our prefix, a valid name, and
// "_total" on counters only.
func mustName(name string, counter bool) {
	switch {
	case !strings.HasPrefix(name, "rampart_") || !model.IsValidLegacyMetricName(name):
		panic(fmt.Sprintf("metrics: bad name %q: want rampart_[a-z0-9_]+", name))
	case counter && !strings.HasSuffix(name, "_total"):
		panic(fmt.Sprintf("metrics: counter %q must end with _total", name))
	case !counter && strings.HasSuffix(name, "_total"):
		panic(fmt.Sprintf("metrics: gauge %q must not end with _total", name))
	}
}

// errorLog adapts slog to promhttp.Logger.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Error("metrics scrape", "err", fmt.Sprint(v...)) }
