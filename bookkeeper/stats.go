package bookkeeper

import (
	"slices"
	"time"
)

// StatsInFlightLimit caps the in-flight list in Stats (oldest first); the
// gauges still count everything.
const StatsInFlightLimit = 100

// Stats is a snapshot of one bookkeeper for the /debug/bookkeepers page and
// for logs. Counters are totals since New; gauges are now.
type Stats struct {
	Name string `json:"name"`

	// Accepted counts every call handed to Do or Go, dropped ones included,
	// so that Missing below balances.
	Accepted  int64 `json:"accepted"`
	Attempted int64 `json:"attempted"` // tries started
	OK        int64 `json:"ok"`
	Errors    int64 `json:"errors"` // calls that landed with an error after their last try
	Retries   int64 `json:"retries"`
	Dropped   int64 `json:"dropped"`
	Cancelled int64 `json:"cancelled"` // calls whose caller's ctx ended first

	InQueue         int `json:"in_queue"`
	OnWire          int `json:"on_wire"`
	WaitingForRetry int `json:"waiting_for_retry"`

	// Missing is Accepted − (OK + Errors + Dropped + Cancelled + InQueue +
	// OnWire + WaitingForRetry). Anything but 0 is a bookkeeping leak.
	Missing int64 `json:"missing"`

	Concurrency int   `json:"concurrency"` // 0: no limit
	QueueLimit  int   `json:"queue_limit"` // 0: no limit
	TimeoutMS   int64 `json:"timeout_ms"`  // per try; 0: none
	MaxTries    int   `json:"max_tries"`

	OldestAgeMS  int64 `json:"oldest_age_ms"`  // oldest call in flight, since it was accepted
	LongestTryMS int64 `json:"longest_try_ms"` // oldest try on the wire
	RecentTries  int   `json:"recent_tries"`   // tries that ended in the last RateWindow
	RecentErrors int   `json:"recent_errors"`  // of which failed

	InFlight        []InFlight `json:"in_flight"`         // oldest first, at most StatsInFlightLimit
	InFlightOmitted int        `json:"in_flight_omitted"` // beyond the limit
}

// InFlight is one call not yet landed.
type InFlight struct {
	Op         string `json:"op"`
	State      string `json:"state"` // in_queue, on_wire or waiting_for_retry
	Try        int    `json:"try"`   // tries started
	AgeMS      int64  `json:"age_ms"`
	StateAgeMS int64  `json:"state_age_ms"` // in the current state; the try's age on the wire
}

// Stats returns a snapshot taken under one short lock; sorting and
// formatting happen outside it.
func (k *Keeper) Stats() Stats {
	type raw struct {
		op              string
		accepted, since time.Time
		state           state
		try             int
	}
	k.mu.Lock()
	now := k.cfg.Now()
	s := Stats{
		Name:            k.cfg.Name,
		Accepted:        k.accepted,
		Attempted:       k.attempted,
		OK:              k.ok,
		Errors:          k.errs,
		Retries:         k.retries,
		Dropped:         k.dropped,
		Cancelled:       k.cancelled,
		InQueue:         k.gauge[inQueue],
		OnWire:          k.gauge[onWire],
		WaitingForRetry: k.gauge[waitingForRetry],
		Missing:         k.missingLocked(),
		Concurrency:     max(k.cfg.Concurrency, 0),
		QueueLimit:      max(k.cfg.QueueLimit, 0),
		TimeoutMS:       k.cfg.Timeout.Milliseconds(),
		MaxTries:        k.maxTries,
	}
	s.RecentTries, s.RecentErrors = k.win.sum(now)
	items := make([]raw, len(k.live))
	for i, it := range k.live {
		items[i] = raw{it.op, it.accepted, it.since, it.state, it.try}
	}
	k.mu.Unlock()

	slices.SortFunc(items, func(a, b raw) int { return a.accepted.Compare(b.accepted) })
	for _, r := range items {
		if r.state == onWire {
			s.LongestTryMS = max(s.LongestTryMS, now.Sub(r.since).Milliseconds())
		}
	}
	if len(items) > 0 {
		s.OldestAgeMS = now.Sub(items[0].accepted).Milliseconds()
	}
	if len(items) > StatsInFlightLimit {
		s.InFlightOmitted = len(items) - StatsInFlightLimit
		items = items[:StatsInFlightLimit]
	}
	s.InFlight = make([]InFlight, len(items))
	for i, r := range items {
		s.InFlight[i] = InFlight{
			Op:         r.op,
			State:      r.state.String(),
			Try:        r.try,
			AgeMS:      now.Sub(r.accepted).Milliseconds(),
			StateAgeMS: now.Sub(r.since).Milliseconds(),
		}
	}
	return s
}

func (k *Keeper) missingLocked() int64 {
	return k.accepted - (k.ok + k.errs + k.dropped + k.cancelled +
		int64(k.gauge[inQueue]+k.gauge[onWire]+k.gauge[waitingForRetry]))
}

// Missing is Stats().Missing without the snapshot: 0 unless the bookkeeping
// itself leaks.
func (k *Keeper) Missing() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.missingLocked()
}

// QueueFill is the queue's length over its limit (0 with no limit). It can
// pass 1: retries coming back from backoff are queued, never dropped.
func (k *Keeper) QueueFill() float64 {
	if k.cfg.QueueLimit <= 0 {
		return 0
	}
	k.mu.Lock()
	n := k.gauge[inQueue]
	k.mu.Unlock()
	return float64(n) / float64(k.cfg.QueueLimit)
}

// ErrorRate is the share of tries that failed among those that ended in the
// RateWindow up to now, and how many ended. Tries cut short by the caller's
// ctx are not the channel's fault and are left out.
func (k *Keeper) ErrorRate(now time.Time) (rate float64, tries int) {
	k.mu.Lock()
	tries, errs := k.win.sum(now)
	k.mu.Unlock()
	if tries == 0 {
		return 0, 0
	}
	return float64(errs) / float64(tries), tries
}

// OldestAge is how long the oldest call in flight has been accepted (0 when
// idle).
func (k *Keeper) OldestAge(now time.Time) time.Duration {
	return k.oldest(now, func(*item) bool { return true }, func(it *item) time.Time { return it.accepted })
}

// LongestTry is how long the oldest try on the wire has run (0 when none
// is). A try past its Timeout means fn ignores its ctx.
func (k *Keeper) LongestTry(now time.Time) time.Duration {
	return k.oldest(now, func(it *item) bool { return it.state == onWire }, func(it *item) time.Time { return it.since })
}

func (k *Keeper) oldest(now time.Time, keep func(*item) bool, at func(*item) time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	var d time.Duration
	for _, it := range k.live {
		if keep(it) {
			d = max(d, now.Sub(at(it)))
		}
	}
	return d
}

// RateWindow is how far back ErrorRate looks, in whole seconds.
const RateWindow = 10 * time.Second

const windowSlots = int64(RateWindow / time.Second)

// window counts tries and failures per second over the last RateWindow.
// Guarded by Keeper.mu.
type window struct {
	sec   [windowSlots]int64 // the Unix second each slot holds
	tries [windowSlots]int
	errs  [windowSlots]int
}

func (w *window) add(t time.Time, failed bool) {
	s := t.Unix()
	i := (s%windowSlots + windowSlots) % windowSlots
	if w.sec[i] != s {
		w.sec[i], w.tries[i], w.errs[i] = s, 0, 0
	}
	w.tries[i]++
	if failed {
		w.errs[i]++
	}
}

// sum adds the slots of the seconds (now−RateWindow, now].
func (w *window) sum(now time.Time) (tries, errs int) {
	s := now.Unix()
	for i := range w.sec {
		if age := s - w.sec[i]; age >= 0 && age < windowSlots {
			tries += w.tries[i]
			errs += w.errs[i]
		}
	}
	return tries, errs
}
