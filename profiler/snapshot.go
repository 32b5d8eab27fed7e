package profiler

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Period selects which measurements a snapshot covers.
type Period int

const (
	// SinceReset is everything since New or the last Reset.
	SinceReset Period = iota
	// Recent is the rolling window: the last minute by default.
	Recent
)

// String is the period's name in URLs and JSON: "start" or "recent".
func (p Period) String() string {
	if p == Recent {
		return "recent"
	}
	return "start"
}

// ParsePeriod is the inverse of Period.String; it also accepts "minute".
func ParsePeriod(s string) (Period, bool) {
	switch s {
	case "", "start", "since-start":
		return SinceReset, true
	case "recent", "minute", "last-minute":
		return Recent, true
	}
	return SinceReset, false
}

// Stats is one row of a snapshot. Durations are exact for Avg, Max and
// Total; percentiles come from HdrHistogram and are within the period's
// precision (see doc.go), never above Max.
type Stats struct {
	Name     string
	Request  bool // the row is a client request (Options.IsRequest)
	Calls    int64
	Avg      time.Duration
	P50      time.Duration
	P95      time.Duration
	P99      time.Duration
	P999     time.Duration
	Max      time.Duration
	Total    time.Duration
	TotalPct float64 // Total over the period's wall time, in percent; can pass 100 with concurrency
}

// Table is a consistent-enough copy of the profiler for one period: rows are
// read one after another without stopping recorders.
type Table struct {
	Period Period
	From   time.Time // start of the period (reset, start, or oldest window slot)
	To     time.Time // when the snapshot was taken
	Rows   []Stats   // sorted by Max, descending
	All    Stats     // every row merged; nested entry points count twice
	// Requests merges only the request rows: its Avg is the header's
	// "average request latency".
	Requests Stats
}

// Wall is the period's length.
func (t Table) Wall() time.Duration { return t.To.Sub(t.From) }

// SortRows orders rows by key: "max" (default), "avg", "p50", "p95", "p99",
// "p999", "total", "calls" (all descending) or "name" (ascending). It
// reports whether key was known; an unknown key sorts by max.
func SortRows(rows []Stats, key string) bool {
	var f func(s *Stats) int64
	known := true
	switch key {
	case "avg":
		f = func(s *Stats) int64 { return int64(s.Avg) }
	case "p50":
		f = func(s *Stats) int64 { return int64(s.P50) }
	case "p95":
		f = func(s *Stats) int64 { return int64(s.P95) }
	case "p99":
		f = func(s *Stats) int64 { return int64(s.P99) }
	case "p999":
		f = func(s *Stats) int64 { return int64(s.P999) }
	case "total":
		f = func(s *Stats) int64 { return int64(s.Total) }
	case "calls":
		f = func(s *Stats) int64 { return s.Calls }
	case "name":
		slices.SortStableFunc(rows, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
		return true
	default:
		known = key == "" || key == "max"
		f = func(s *Stats) int64 { return int64(s.Max) }
	}
	slices.SortStableFunc(rows, func(a, b Stats) int {
		return cmp.Or(cmp.Compare(f(&b), f(&a)), strings.Compare(a.Name, b.Name))
	})
	return known
}

// Snapshot copies the table for a period. It rotates the window first, so
// it is correct even when Run is not running.
func (p *Profiler) Snapshot(period Period) Table {
	now := p.opts.Now()
	p.rotate(now)
	t := Table{Period: period, To: now}
	p.mu.Lock()
	t.From = p.resetAt
	p.mu.Unlock()
	l := &p.cum
	if period == Recent {
		l = &p.win
		ws := p.start.Add(time.Duration((p.epoch.Load() - int64(p.opts.Slots) + 1) * p.slotW))
		if ws.After(t.From) {
			t.From = ws
		}
	}
	wall := t.To.Sub(t.From)

	rows := *p.rows.Load()
	t.Rows = make([]Stats, 0, len(rows))
	h := l.hdr()
	acc := make([]int64, l.n)
	all := make([]int64, l.n)
	req := make([]int64, l.n)
	var allS, reqS accum
	for _, r := range rows {
		clear(acc)
		var a accum
		if period == Recent {
			for _, s := range r.slots {
				a.add(s.addTo(acc))
			}
		} else {
			a.add(r.cum.addTo(acc))
		}
		if a.count == 0 {
			continue
		}
		st := stats(r.name, l, h, acc, a, wall)
		st.Request = r.request
		t.Rows = append(t.Rows, st)
		allS.merge(a)
		addCounts(all, acc)
		if r.request {
			reqS.merge(a)
			addCounts(req, acc)
		}
	}
	SortRows(t.Rows, "max")
	t.All = stats("ALL", l, h, all, allS, wall)
	t.Requests = stats("requests", l, h, req, reqS, wall)
	return t
}

// Point is one point of a percentile distribution.
type Point struct {
	Percentile float64 // 0–100
	Value      time.Duration
}

// Distribution is a row's latency by percentile, for a percentile plot:
// points are spaced evenly in "nines" (log10(1/(1-q))) up to the max.
type Distribution struct {
	Name   string
	Period Period
	Calls  int64
	Max    time.Duration
	Points []Point
}

// Distribution returns the percentile distribution of one row, or of every
// row merged when name is "ALL". ok is false if the row does not exist.
func (p *Profiler) Distribution(name string, period Period) (d Distribution, ok bool) {
	now := p.opts.Now()
	p.rotate(now)
	l := &p.cum
	if period == Recent {
		l = &p.win
	}
	acc := make([]int64, l.n)
	var a accum
	rows := *p.rows.Load()
	for _, r := range rows {
		if name != "ALL" && r.name != name {
			continue
		}
		ok = true
		if period == Recent {
			for _, s := range r.slots {
				a.add(s.addTo(acc))
			}
		} else {
			a.add(r.cum.addTo(acc))
		}
	}
	if name == "ALL" {
		ok = true
	}
	d = Distribution{Name: name, Period: period, Calls: a.count, Max: time.Duration(a.max)}
	if !ok || a.count == 0 {
		return d, ok
	}
	h := l.hdr()
	fill(h, l, acc)
	// Up to the nines the count can resolve, plus one.
	top := math.Log10(float64(a.count)) + 1
	const step = 0.05
	for x := 0.0; x < top; x += step {
		q := 100 * (1 - math.Pow(10, -x))
		d.Points = append(d.Points, Point{q, min(time.Duration(h.ValueAtQuantile(q)), d.Max)})
	}
	d.Points = append(d.Points, Point{100, d.Max})
	return d, true
}

// accum is a count, sum and max being merged over histograms.
type accum struct{ count, sum, max int64 }

func (a *accum) add(count, sum, maxv int64) {
	a.count += count
	a.sum += sum
	a.max = max(a.max, maxv)
}

func (a *accum) merge(b accum) { a.add(b.count, b.sum, b.max) }

func addCounts(dst, src []int64) {
	for i, c := range src {
		dst[i] += c
	}
}

// fill makes h hold counts (h is reused between rows to save allocations).
func fill(h *hdrhistogram.Histogram, l *layout, counts []int64) {
	h.Reset()
	for i, c := range counts {
		if c != 0 {
			_ = h.RecordValues(l.value(i), c) // in range by construction
		}
	}
}

func stats(name string, l *layout, h *hdrhistogram.Histogram, counts []int64, a accum, wall time.Duration) Stats {
	s := Stats{Name: name, Calls: a.count, Max: time.Duration(a.max), Total: time.Duration(a.sum)}
	if a.count == 0 {
		return s
	}
	s.Avg = time.Duration(a.sum / a.count)
	if wall > 0 {
		s.TotalPct = 100 * float64(a.sum) / float64(wall)
	}
	fill(h, l, counts)
	q := func(pct float64) time.Duration { return min(time.Duration(h.ValueAtQuantile(pct)), s.Max) }
	s.P50, s.P95, s.P99, s.P999 = q(50), q(95), q(99), q(99.9)
	return s
}
