package bookkeeper

import "time"

// Alert thresholds, from issue 5.
const (
	QueueFillThreshold = 0.8              // queue over 80% of its limit…
	QueueFillFor       = 10 * time.Second // …for this long
	ErrorRateThreshold = 0.5              // over half the tries failing…
	ErrorRateMinTries  = 20               // …out of at least this many in RateWindow
	StuckFactor        = 3                // a try on the wire past 3× Timeout
)

// Rule is an alert input for the profiler's generic alert engine: Check
// reports a value and whether it is over its threshold; the engine fires
// when it has been over for For. Names are stable: "bookkeeper.<name>.<rule>".
type Rule struct {
	Name  string
	For   time.Duration
	Check func(now time.Time) (value float64, firing bool)
}

// Rules returns the bookkeeper's alert inputs:
//
//   - queue_fill: QueueFill() over QueueFillThreshold, for QueueFillFor
//     (never fires with no QueueLimit);
//   - error_rate: ErrorRate over ErrorRateThreshold with at least
//     ErrorRateMinTries tries in RateWindow;
//   - stuck: LongestTry, in seconds, over StuckFactor × Timeout (never fires
//     with no Timeout): fn is ignoring its ctx;
//   - missing: Missing() ≠ 0.
func (k *Keeper) Rules() []Rule {
	prefix := "bookkeeper." + k.cfg.Name + "."
	return []Rule{
		{Name: prefix + "queue_fill", For: QueueFillFor, Check: func(time.Time) (float64, bool) {
			f := k.QueueFill()
			return f, k.cfg.QueueLimit > 0 && f > QueueFillThreshold
		}},
		{Name: prefix + "error_rate", Check: func(now time.Time) (float64, bool) {
			r, n := k.ErrorRate(now)
			return r, n >= ErrorRateMinTries && r > ErrorRateThreshold
		}},
		{Name: prefix + "stuck", Check: func(now time.Time) (float64, bool) {
			d := k.LongestTry(now)
			return d.Seconds(), k.cfg.Timeout > 0 && d > StuckFactor*k.cfg.Timeout
		}},
		{Name: prefix + "missing", Check: func(time.Time) (float64, bool) {
			m := k.Missing()
			return float64(m), m != 0
		}},
	}
}
