package profiler

import (
	"cmp"
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options. They are chosen by measured memory (see doc.go).
const (
	DefaultSigFigs       = 2
	DefaultWindowSigFigs = 1
	DefaultSlots         = 6
	DefaultSlotWidth     = 10 * time.Second
	DefaultHighest       = 60 * time.Second
	DefaultHardLimit     = 200 * time.Millisecond
)

// Options configure a Profiler. The zero value of every field means its
// default.
type Options struct {
	// Now is the clock used for periods and window rotation. Recording never
	// reads it.
	Now func() time.Time

	// SigFigs is the precision of the since-reset histograms (1–5 decimal
	// digits); WindowSigFigs that of each slot of the recent window.
	SigFigs       int
	WindowSigFigs int

	// The recent window is Slots slots of SlotWidth each: "the last minute"
	// is 6 × 10 s. The newest slot is partly filled, so the window covers
	// between (Slots-1)·SlotWidth and Slots·SlotWidth.
	Slots     int
	SlotWidth time.Duration

	// Highest is the largest duration the histograms tell apart; slower
	// measurements count in the top bucket (max stays exact).
	Highest time.Duration

	// HardLimit is the latency no request may exceed (negative: none).
	// A slower measurement on a request row bumps a counter that
	// HardLimitRule watches.
	HardLimit time.Duration

	// IsRequest tells which rows are requests: the hard limit applies to
	// them and the header's average request latency is over them. Called
	// once per row, when it is created. Default: IsRequestName.
	IsRequest func(name string) bool
}

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	// SigFigs and HardLimit: only zero takes the default (a negative hard
	// limit means none).
	o.SigFigs = cmp.Or(o.SigFigs, DefaultSigFigs)
	o.WindowSigFigs = cmp.Or(o.WindowSigFigs, DefaultWindowSigFigs)
	o.HardLimit = cmp.Or(o.HardLimit, DefaultHardLimit)
	positiveOr(&o.Slots, DefaultSlots)
	positiveOr(&o.SlotWidth, DefaultSlotWidth)
	positiveOr(&o.Highest, DefaultHighest)
	if o.IsRequest == nil {
		o.IsRequest = IsRequestName
	}
}

// positiveOr sets *v to def unless it is positive: how the options of this
// package take their defaults.
func positiveOr[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// every calls f on each of ticks until ctx is done, and returns nil; with
// no ticks it ticks every interval. The Run loops of the profiler, the
// sampler and the alert engine.
func every(ctx context.Context, ticks <-chan time.Time, interval time.Duration, f func()) error {
	if ticks == nil {
		t := time.NewTicker(interval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			f()
		}
	}
}

// IsRequestName reports whether name is a client request: an HTTP route
// ("POST /api/v1/actions") or a WebSocket message ("WS action", "ws:action").
func IsRequestName(name string) bool {
	method, _, ok := strings.Cut(name, " ")
	if !ok {
		method, _, ok = strings.Cut(name, ":")
		return ok && strings.EqualFold(method, "ws")
	}
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS", "ws":
		return true
	}
	return false
}

// Profiler is the latency table. It is safe for concurrent use.
type Profiler struct {
	opts  Options
	cum   layout // since-reset histograms
	win   layout // window slot histograms
	slotW int64  // ns
	start time.Time

	enabled atomic.Bool
	// epoch is the number of whole slot widths from start to the last
	// rotation; recorders write into slot epoch % Slots. Written by rotate
	// under mu.
	epoch atomic.Int64

	// rows is an immutable map replaced under mu when a row is added, so
	// lookups take no lock.
	rows atomic.Pointer[map[string]*Row]
	// byID is every row by Row.id, replaced with rows; the in-flight table
	// names rows by id.
	byID atomic.Pointer[[]*Row]

	// breaches counts measurements over a row's hard limit, over all rows.
	breaches atomic.Uint64

	// flights is the in-flight table (inflight.go); untracked counts the
	// Begins that found it full.
	flights   [flightShards]flightShard
	untracked atomic.Uint64

	mu      sync.Mutex // guards resetAt, and serializes rows additions, rotation and reset
	resetAt time.Time
}

// New returns an empty, enabled table with default options.
func New() *Profiler { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty, enabled table.
func NewWithOptions(o Options) *Profiler {
	o.fill()
	p := &Profiler{
		opts:  o,
		cum:   newLayout(int64(o.Highest), o.SigFigs),
		win:   newLayout(int64(o.Highest), o.WindowSigFigs),
		slotW: int64(o.SlotWidth),
		start: o.Now(),
	}
	p.resetAt = p.start
	p.enabled.Store(true)
	m := map[string]*Row{}
	p.rows.Store(&m)
	p.byID.Store(&[]*Row{})
	return p
}

// Row returns the row for name, creating it on first use. The pointer is
// stable, so hot paths resolve it once and call Record on it.
func (p *Profiler) Row(name string) *Row {
	if r := (*p.rows.Load())[name]; r != nil {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.rows.Load()
	if r := old[name]; r != nil {
		return r
	}
	r := &Row{
		id:      len(old),
		name:    name,
		p:       p,
		request: p.opts.IsRequest(name),
		cum:     newHist(&p.cum),
		slots:   make([]*hist, p.opts.Slots),
	}
	if r.request && p.opts.HardLimit > 0 {
		r.limit = int64(p.opts.HardLimit)
	}
	for i := range r.slots {
		r.slots[i] = newHist(&p.win)
	}
	m := make(map[string]*Row, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = r
	ids := append(append(make([]*Row, 0, len(old)+1), *p.byID.Load()...), r)
	p.byID.Store(&ids)
	p.rows.Store(&m)
	return r
}

// HardLimit is the latency no request row may exceed; 0 if none.
func (p *Profiler) HardLimit() time.Duration { return max(p.opts.HardLimit, 0) }

// Breaches counts measurements over the hard limit since New (Reset does
// not clear it).
func (p *Profiler) Breaches() uint64 { return p.breaches.Load() }

// Record adds one measurement to the row called name.
func (p *Profiler) Record(name string, d time.Duration) { p.Row(name).Record(d) }

// SetEnabled turns recording on or off (exists only to measure the
// profiler's own overhead).
func (p *Profiler) SetEnabled(on bool) { p.enabled.Store(on) }

// Reset empties every row (both periods) and restarts "since start" now.
// Rows stay, so pointers held by callers remain valid. Measurements
// recorded while Reset runs may land on either side of it.
func (p *Profiler) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range *p.rows.Load() {
		r.cum.zero()
		for _, s := range r.slots {
			s.zero()
		}
	}
	p.resetAt = p.opts.Now()
}

// Run rotates the recent window every second until ctx is done, so each
// measurement lands in the slot of the second it was recorded in. Without
// Run the window rotates only when it is read, and measurements made
// between reads may leave the window up to a slot early.
func (p *Profiler) Run(ctx context.Context) error {
	return every(ctx, nil, min(time.Second, p.opts.SlotWidth), func() { p.rotate(p.opts.Now()) })
}

// rotate advances the window to now, emptying the slots that fall out of it
// before recorders are pointed at them.
func (p *Profiler) rotate(now time.Time) {
	target := int64(now.Sub(p.start)) / p.slotW
	if target <= p.epoch.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rotateLocked(target)
}

func (p *Profiler) rotateLocked(target int64) {
	cur := p.epoch.Load()
	if target <= cur {
		return
	}
	n := int64(p.opts.Slots)
	rows := *p.rows.Load()
	for e := cur + 1; e <= target && e <= cur+n; e++ {
		for _, r := range rows {
			r.slots[e%n].zero()
		}
	}
	p.epoch.Store(target)
}

// Row is one entry point's statistics.
type Row struct {
	id      int // index in Profiler.byID
	name    string
	p       *Profiler
	request bool
	limit   int64 // ns; 0: no hard limit

	cum   *hist   // since start or reset
	slots []*hist // recent window, indexed by epoch % len

	breaches   atomic.Uint64 // measurements over limit, never reset
	lastBreach atomic.Int64  // ns, the latest of them

	// Non-success counts (RecordStatus), never reset.
	aborted, clientErrors, serverErrors atomic.Uint64
}

// Name is the entry point's name.
func (r *Row) Name() string { return r.name }

// Record adds one measurement. It allocates nothing, takes no lock and does
// not read the clock.
func (r *Row) Record(d time.Duration) {
	p := r.p
	if !p.enabled.Load() {
		return
	}
	v := int64(d)
	if v < 0 {
		v = 0
	}
	stripe := rand.Uint32() // cheap per-thread generator in the runtime
	r.cum.record(&p.cum, v, stripe)
	r.slots[p.epoch.Load()%int64(len(r.slots))].record(&p.win, v, stripe)
	if r.limit != 0 && v > r.limit {
		r.lastBreach.Store(v)
		r.breaches.Add(1)
		p.breaches.Add(1)
	}
}
