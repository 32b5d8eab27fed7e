package profiler

import (
	"sync"
	"sync/atomic"
	"time"
)

// Profiler is the latency table. It is safe for concurrent use.
//
// CONTRACT STUB: the full implementation (HDR histograms, windows, snapshots,
// unhalted load, alerts) replaces the internals; the exported methods below
// keep their signatures.
type Profiler struct {
	rows    sync.Map // name -> *Row
	enabled atomic.Bool
}

// New returns an empty, enabled table.
func New() *Profiler {
	p := &Profiler{}
	p.enabled.Store(true)
	return p
}

// Row returns the row for name, creating it on first use. The pointer is
// stable, so hot paths resolve it once and call Record on it.
func (p *Profiler) Row(name string) *Row {
	if r, ok := p.rows.Load(name); ok {
		return r.(*Row)
	}
	r, _ := p.rows.LoadOrStore(name, &Row{name: name, p: p})
	return r.(*Row)
}

// Record adds one measurement to the row called name.
func (p *Profiler) Record(name string, d time.Duration) { p.Row(name).Record(d) }

// SetEnabled turns recording on or off (exists only to measure the
// profiler's own overhead).
func (p *Profiler) SetEnabled(on bool) { p.enabled.Store(on) }

// Row is one entry point's statistics.
type Row struct {
	name  string
	p     *Profiler
	calls atomic.Int64
	total atomic.Int64
}

// Name is the entry point's name.
func (r *Row) Name() string { return r.name }

// Record adds one measurement. It allocates nothing.
func (r *Row) Record(d time.Duration) {
	if !r.p.enabled.Load() {
		return
	}
	r.calls.Add(1)
	r.total.Add(int64(d))
}
