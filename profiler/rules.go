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
// the profiler's hard limit (Options.HardLimit), and resolves once none has
// for hold. Its value is the slowest such measurement, in ms, since it
// fired; the detail names the rows.
func HardLimitRule(p *Profiler, hold time.Duration) Rule {
	var (
		mu    sync.Mutex // Check and Detail may run on different goroutines
		seen  = map[*Row]uint64{}
		last  time.Time // of the last evaluation that saw a new breach
		worst int64     // ns, since the alert started
		rows  = map[string]int64{}
	)
	return Rule{
		Name: "hard-limit",
		Help: fmt.Sprintf("a request took longer than the %s hard limit (held %s)", p.opts.HardLimit, hold),
		Unit: "ms",
		Check: func(now time.Time) (float64, bool) {
			if p.breaches.Load() == 0 {
				return 0, false
			}
			mu.Lock()
			defer mu.Unlock()
			fresh, episode := false, last.IsZero() || now.Sub(last) >= hold
			for _, r := range *p.rows.Load() {
				n := r.breaches.Load()
				if n == seen[r] {
					continue
				}
				if episode {
					worst, rows, episode = 0, map[string]int64{}, false
				}
				seen[r], fresh = n, true
				v := r.lastBreach.Load()
				worst = max(worst, v)
				rows[r.name] = max(rows[r.name], v)
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
			}
			return b.String()
		},
	}
}
