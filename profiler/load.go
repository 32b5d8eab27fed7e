package profiler

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// Defaults for SamplerOptions.
const (
	DefaultSampleInterval = time.Second
	DefaultLoadWindow     = 10 * time.Second
)

const schedMetric = "/sched/latencies:seconds"

// RuntimeReading is one reading of the process's cumulative counters.
type RuntimeReading struct {
	CPU   time.Duration // user+system CPU time used since the process started
	Procs int           // the threads' CPUs: GOMAXPROCS, at most the CPUs the process may run on
	// Sched is the cumulative histogram of how long runnable goroutines
	// waited for a thread (/sched/latencies:seconds); nil if unknown.
	Sched *metrics.Float64Histogram
}

// ReadRuntime reads the process: CPU time from getrusage(2) (runtime/metrics
// elsewhere), scheduling latencies from runtime/metrics.
func ReadRuntime() RuntimeReading {
	s := []metrics.Sample{{Name: schedMetric}}
	metrics.Read(s)
	r := RuntimeReading{CPU: processCPU(), Procs: min(runtime.GOMAXPROCS(0), runtime.NumCPU())}
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		r.Sched = s[0].Value.Float64Histogram()
	}
	return r
}

func cpuFromMetrics() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 || s[1].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration((s[0].Value.Float64() - s[1].Value.Float64()) * float64(time.Second))
}

// SamplerOptions configure a Sampler; zero fields take defaults.
type SamplerOptions struct {
	Interval time.Duration         // between samples; default 1 s
	Window   time.Duration         // the load is averaged over it; default 10 s
	Now      func() time.Time      // default time.Now
	Read     func() RuntimeReading // default ReadRuntime
	Ticks    <-chan time.Time      // if set, Run samples on these instead of a ticker
}

// Load is the sampler's latest figure. See the package doc for the
// definition.
type Load struct {
	At    time.Time
	Valid bool // false until two samples exist
	// Unhalted is the share (0–1, can exceed 1 slightly by measurement
	// skew) of Procs × wall time the process spent on CPU over Span.
	Unhalted float64
	Span     time.Duration // the wall time Unhalted covers (≤ Window)
	// Recent is the same share over the last interval only; the load alert
	// watches it.
	Recent float64
	// SchedP99 is the 99th percentile of how long runnable goroutines waited
	// for a thread over Span (upper bound of its runtime bucket).
	SchedP99 time.Duration
	Procs    int
}

// Sampler measures unhalted load. Run it; read it with Load.
type Sampler struct {
	opts SamplerOptions

	mu    sync.Mutex   // guards ring and load
	ring  []loadSample // oldest first; the first is at least Window old once the sampler is warm
	load  Load
	bucks []float64 // sched histogram bucket bounds; fixed for the process
}

type loadSample struct {
	at    time.Time
	cpu   time.Duration
	procs int
	sched []uint64
}

// NewSampler returns a sampler that has taken no sample yet.
func NewSampler(o SamplerOptions) *Sampler {
	positiveOr(&o.Interval, DefaultSampleInterval)
	positiveOr(&o.Window, DefaultLoadWindow)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Read == nil {
		o.Read = ReadRuntime
	}
	return &Sampler{opts: o}
}

// Run samples every interval until ctx is done.
func (s *Sampler) Run(ctx context.Context) error {
	s.Sample()
	return every(ctx, s.opts.Ticks, s.opts.Interval, s.Sample)
}

// Sample takes one reading and updates Load.
func (s *Sampler) Sample() {
	now := s.opts.Now()
	r := s.opts.Read()
	cur := loadSample{at: now, cpu: r.CPU, procs: max(r.Procs, 1)}
	if r.Sched != nil {
		cur.sched = r.Sched.Counts
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Sched != nil && s.bucks == nil {
		s.bucks = r.Sched.Buckets
	}
	s.ring = append(s.ring, cur)
	// Keep one sample at least Window old as the baseline.
	cut := now.Add(-s.opts.Window)
	for len(s.ring) > 2 && !s.ring[1].at.After(cut) {
		s.ring = s.ring[1:]
	}
	if len(s.ring) > 4*int(s.opts.Window/s.opts.Interval)+4 { // a stalled clock must not grow the ring
		s.ring = s.ring[1:]
	}
	s.ring = append([]loadSample(nil), s.ring...) // let the dropped prefix be collected
	if len(s.ring) < 2 {
		s.load = Load{At: now, Procs: cur.procs}
		return
	}
	base, prev := s.ring[0], s.ring[len(s.ring)-2]
	s.load = Load{
		At:       now,
		Valid:    true,
		Unhalted: share(base, cur),
		Span:     now.Sub(base.at),
		Recent:   share(prev, cur),
		SchedP99: schedQuantile(s.bucks, base.sched, cur.sched, 0.99),
		Procs:    cur.procs,
	}
}

// Load returns the latest figure.
func (s *Sampler) Load() Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load
}

func share(a, b loadSample) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return max(0, float64(b.cpu-a.cpu)/(float64(wall)*float64(b.procs)))
}

// schedQuantile is the q quantile of the difference of two cumulative
// histograms, as the upper bound of the bucket it falls in (the lower bound
// for the last, unbounded bucket).
func schedQuantile(bounds []float64, a, b []uint64, q float64) time.Duration {
	if len(b) == 0 || len(bounds) != len(b)+1 {
		return 0
	}
	var total uint64
	for i := range b {
		total += b[i] - at(a, i)
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i := range b {
		n += b[i] - at(a, i)
		if n >= want {
			hi := bounds[i+1]
			if math.IsInf(hi, 1) {
				hi = bounds[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}

func at(xs []uint64, i int) uint64 {
	if i < len(xs) {
		return xs[i]
	}
	return 0
}
