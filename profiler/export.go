package profiler

import (
	"slices"
	"strings"
	"time"
)

// Exporter folds every row's since-reset histogram into fixed upper bounds,
// for a metrics exporter (Prometheus' cumulative buckets). The profiler's
// recording is the only clock read: an exporter reads the same counters
// the snapshot does, at scrape time. Make one per scrape target and reuse
// it; it is safe for concurrent use.
type Exporter struct {
	p      *Profiler
	bounds []time.Duration
	// to maps each since-reset counter to the index of the first bound at
	// or above its bucket's highest value (len(bounds): above them all).
	to []int
}

// RowExport is one row for an exporter. Count, Sum and Cumulative cover
// the period since New or the last Reset (after a Reset they start again
// from 0, which Prometheus reads as a counter reset).
type RowExport struct {
	Name    string
	Request bool
	Count   uint64
	Sum     time.Duration
	// Cumulative[i] counts the measurements at or below Bounds()[i]: a
	// measurement counts in the first bound at or above its histogram
	// bucket's highest value, so it may count up to the table's precision
	// (1% by default) above where it belongs, never below.
	Cumulative []uint64
	Max        time.Duration // since reset, exact
	RecentMax  time.Duration // over the recent window (the last minute)
	InFlight   int           // begun and not ended now
	// OldestInFlight is the age of the oldest of them; OverLimit counts
	// those past the hard limit (request rows only).
	OldestInFlight time.Duration
	OverLimit      int
	Breaches       uint64 // measurements over the hard limit, since New
	Outcomes              // since New
}

// NewExporter returns an exporter for bounds (sorted and deduplicated; a
// copy is kept).
func (p *Profiler) NewExporter(bounds []time.Duration) *Exporter {
	b := slices.Clone(bounds)
	slices.Sort(b)
	b = slices.Compact(b)
	l := &p.cum
	to := make([]int, l.n)
	for i := range to {
		hi := l.highest
		if i+1 < l.n {
			hi = min(l.value(i+1)-1, l.highest)
		}
		j, _ := slices.BinarySearch(b, time.Duration(hi))
		to[i] = j
	}
	return &Exporter{p: p, bounds: b, to: to}
}

// Bounds are the exporter's upper bounds, ascending.
func (e *Exporter) Bounds() []time.Duration { return slices.Clone(e.bounds) }

// Export reads every row, sorted by name. Rows that never recorded and have
// nothing in flight are included (Count 0), so a route's series exist from
// its registration on.
func (e *Exporter) Export() []RowExport {
	p := e.p
	now := p.opts.Now()
	p.rotate(now)
	type fl struct {
		n, over int
		oldest  int64
	}
	inflight := map[*Row]fl{}
	p.eachFlight(now, func(r *Row, age int64) {
		f := inflight[r]
		f.n++
		f.oldest = max(f.oldest, age)
		if r.limit != 0 && age > r.limit {
			f.over++
		}
		inflight[r] = f
	})
	rows := *p.rows.Load()
	out := make([]RowExport, 0, len(rows))
	nb := len(e.bounds)
	for _, r := range rows {
		f := inflight[r]
		x := RowExport{Name: r.name, Request: r.request, Cumulative: make([]uint64, nb),
			InFlight: f.n, OldestInFlight: time.Duration(f.oldest), OverLimit: f.over,
			Breaches: r.breaches.Load(), Outcomes: r.Outcomes()}
		h := r.cum
		for i := range h.counts {
			c := h.counts[i].Load()
			if c == 0 {
				continue
			}
			x.Count += c
			if j := e.to[i]; j < nb {
				x.Cumulative[j] += c
			}
		}
		for j := 1; j < nb; j++ {
			x.Cumulative[j] += x.Cumulative[j-1]
		}
		var sum int64
		for i := range h.sums {
			sum += h.sums[i].Load()
		}
		x.Sum, x.Max = time.Duration(sum), time.Duration(h.max.Load())
		for _, s := range r.slots {
			x.RecentMax = max(x.RecentMax, time.Duration(s.max.Load()))
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b RowExport) int { return strings.Compare(a.Name, b.Name) })
	return out
}
