package profiler

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for the built-in rules.
const (
	DefaultLoadThreshold = 0.5
	DefaultLoadFor       = 10 * time.Second
	DefaultHardLimitHold = time.Minute
)

// LoadRule fires when unhalted load (Load.Recent, one sample interval) has
// stayed at or above threshold (0–1) for sustained. Its value is the load
// in percent.
func LoadRule(s *Sampler, threshold float64, sustained time.Duration) Rule {
	return Rule{
		Name: "unhalted-load",
		Help: fmt.Sprintf("unhalted load ≥ %.0f%% for %s: requests start to queue", threshold*100, sustained),
		Unit: "%",
		For:  sustained,
		Check: func(time.Time) (float64, bool) {
			l := s.Load()
			if !l.Valid {
				return 0, false
			}
			return l.Recent * 100, l.Recent >= threshold
		},
	}
}

// HardLimitRule fires as soon as a request row records a measurement over
// the profiler's hard limit (Options.HardLimit), or has one still running
// past it (Row.Begin without End), and resolves once neither has been seen
// for hold. Its value is the slowest such measurement (or age), in ms,
// since it fired; the detail names the rows, "(running)" for a request
// still in flight.
func HardLimitRule(p *Profiler, hold time.Duration) Rule {
	var (
		mu      sync.Mutex // Check and Detail may run on different goroutines
		seen    = map[*Row]uint64{}
		last    time.Time // of the last evaluation that saw a new breach
		worst   int64     // ns, since the alert started
		rows    = map[string]int64{}
		running = map[string]bool{} // rows with a request over the limit at the last evaluation
	)
	return Rule{
		Name: "hard-limit",
		Help: fmt.Sprintf("a request took longer than the %s hard limit, or is still running past it (held %s)", p.opts.HardLimit, hold),
		Unit: "ms",
		Check: func(now time.Time) (float64, bool) {
			type slow struct {
				name string
				age  int64
			}
			var over []slow
			if p.opts.HardLimit > 0 {
				p.eachFlight(p.opts.Now(), func(r *Row, age int64) {
					if r.limit != 0 && age > r.limit {
						over = append(over, slow{r.name, age})
					}
				})
			}
			mu.Lock()
			defer mu.Unlock()
			clear(running)
			if p.breaches.Load() == 0 && len(over) == 0 {
				return 0, false
			}
			fresh, episode := false, last.IsZero() || now.Sub(last) >= hold
			note := func(name string, v int64) {
				if episode {
					worst, rows, episode = 0, map[string]int64{}, false
				}
				fresh = true
				worst = max(worst, v)
				rows[name] = max(rows[name], v)
			}
			for _, r := range *p.rows.Load() {
				n := r.breaches.Load()
				if n == seen[r] {
					continue
				}
				seen[r] = n
				note(r.name, r.lastBreach.Load())
			}
			for _, s := range over {
				note(s.name, s.age)
				running[s.name] = true
			}
			if fresh {
				last = now
			}
			firing := !last.IsZero() && now.Sub(last) < hold
			if !firing {
				return 0, false
			}
			return float64(worst) / 1e6, true
		},
		Detail: func() string {
			mu.Lock()
			defer mu.Unlock()
			names := make([]string, 0, len(rows))
			for n := range rows {
				names = append(names, n)
			}
			slices.Sort(names)
			var b strings.Builder
			for i, n := range names {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s %s", n, time.Duration(rows[n]).Round(time.Millisecond/10))
				if running[n] {
					b.WriteString(" (running)")
				}
			}
			return b.String()
		},
	}
}
