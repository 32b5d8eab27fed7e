package profiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for AlertOptions.
const (
	DefaultEvalInterval  = time.Second
	DefaultAlertHistory  = 100
	DefaultNotifyQueue   = 64
	DefaultNotifyTimeout = 10 * time.Second
	subscriberBuffer     = 32
)

// Rule is a condition the alert engine evaluates every interval. It is
// generic: the profiler's own rules (LoadRule, HardLimitRule) and other
// packages' rules (bookkeepers) go through AddRule alike.
type Rule struct {
	Name string // unique, stable: it keys the alert
	Help string // one line for the page, e.g. "unhalted load ≥ 50% for 10s"
	Unit string // of Value, for display: "%", "ms", ""

	// For is how long Check must keep reporting firing before the alert
	// fires; 0 fires on the first evaluation that reports it.
	For time.Duration

	// Check returns the current value and whether the condition holds. It is
	// called from one goroutine at a time, without the engine's lock held,
	// and must not block.
	Check func(now time.Time) (value float64, firing bool)

	// Detail, if set, is called when the alert fires, for context such as
	// which entry point was slow.
	Detail func() string
}

// Event is one alert transition: what is logged, streamed and sent to the
// webhook, as JSON.
type Event struct {
	Seq        uint64    `json:"seq"`
	Rule       string    `json:"rule"`
	State      string    `json:"state"` // "firing" or "resolved"
	At         time.Time `json:"at"`    // of the transition
	Value      float64   `json:"value"` // that fired it, or the last one when resolved
	Unit       string    `json:"unit,omitempty"`
	Since      time.Time `json:"since"` // when the condition started to hold
	FiredAt    time.Time `json:"fired_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Detail     string    `json:"detail,omitempty"`
}

// Alert states.
const (
	StateOK       = "ok"
	StatePending  = "pending" // holding, but not yet for Rule.For
	StateFiring   = "firing"
	StateResolved = "resolved" // only in events
)

// RuleStatus is a rule's state at the last evaluation.
type RuleStatus struct {
	Name    string        `json:"name"`
	Help    string        `json:"help,omitempty"`
	Unit    string        `json:"unit,omitempty"`
	For     time.Duration `json:"for_ns"`
	State   string        `json:"state"`
	Value   float64       `json:"value"`
	Since   time.Time     `json:"since,omitzero"` // condition holding since
	Checked time.Time     `json:"checked,omitzero"`
	// Firing is the event that fired it, while it is firing.
	Firing *Event `json:"firing,omitempty"`
}

// AlertsSnapshot is a copy of the engine's state for the pages.
type AlertsSnapshot struct {
	At            time.Time    `json:"at"`
	Active        []Event      `json:"active"` // the firing events of the rules still firing
	Recent        []Event      `json:"recent"` // newest first
	Rules         []RuleStatus `json:"rules"`
	NotifyDropped uint64       `json:"notify_dropped"` // webhook queue full
	NotifyFailed  uint64       `json:"notify_failed"`
	StreamDropped uint64       `json:"stream_dropped"` // a slow stream subscriber missed events
}

// AlertOptions configure an Alerts engine; zero fields take defaults.
type AlertOptions struct {
	Log      *slog.Logger     // default slog.Default()
	Now      func() time.Time // default time.Now
	Interval time.Duration    // between evaluations; default 1 s
	Ticks    <-chan time.Time // if set, Run evaluates on these instead of a ticker
	History  int              // events kept; default 100

	// Notifier, if set, receives every transition as JSON, from a goroutine
	// Run owns. The queue to it holds NotifyQueue events; more are dropped
	// and counted. Each call gets NotifyTimeout.
	Notifier      Notifier
	NotifyQueue   int
	NotifyTimeout time.Duration
}

// Alerts evaluates rules and keeps active and recent alerts.
type Alerts struct {
	opts AlertOptions
	log  *slog.Logger

	evalMu sync.Mutex // serializes Evaluate, so Checks run one at a time

	mu     sync.Mutex // guards the fields below
	rules  []*ruleState
	byName map[string]*ruleState
	recent []Event // ring of opts.History, oldest first
	seq    uint64
	subs   map[chan Event]struct{}

	notify        chan Event // nil without a Notifier; drained by Run
	notifyDropped atomic.Uint64
	notifyFailed  atomic.Uint64
	streamDropped atomic.Uint64
}

type ruleState struct {
	rule    Rule
	value   float64
	checked time.Time
	since   time.Time // zero: condition not holding
	firing  *Event    // the firing event while firing
}

// NewAlerts returns an engine with no rules.
func NewAlerts(o AlertOptions) *Alerts {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	positiveOr(&o.Interval, DefaultEvalInterval)
	positiveOr(&o.History, DefaultAlertHistory)
	positiveOr(&o.NotifyQueue, DefaultNotifyQueue)
	positiveOr(&o.NotifyTimeout, DefaultNotifyTimeout)
	a := &Alerts{
		opts:   o,
		log:    o.Log,
		byName: map[string]*ruleState{},
		subs:   map[chan Event]struct{}{},
	}
	if o.Notifier != nil {
		a.notify = make(chan Event, o.NotifyQueue)
	}
	return a
}

// AddRule adds a rule; it is evaluated from the next evaluation on.
func (a *Alerts) AddRule(r Rule) error {
	if r.Name == "" || r.Check == nil {
		return errors.New("add alert rule: name and check are required")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byName[r.Name] != nil {
		return fmt.Errorf("add alert rule %q: already exists", r.Name)
	}
	rs := &ruleState{rule: r}
	a.rules = append(a.rules, rs)
	a.byName[r.Name] = rs
	return nil
}

// Run evaluates the rules every interval, and sends webhook notifications,
// until ctx is done. Notifications still queued then are dropped.
func (a *Alerts) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.notify != nil {
		wg.Go(func() { a.sendLoop(ctx) })
	}
	return every(ctx, a.opts.Ticks, a.opts.Interval, a.Evaluate)
}

func (a *Alerts) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-a.notify:
			body, err := json.Marshal(ev)
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, a.opts.NotifyTimeout)
				err = a.opts.Notifier.Notify(sctx, body)
				cancel()
			}
			if err != nil {
				a.notifyFailed.Add(1)
				a.log.Error("alert notification failed", "rule", ev.Rule, "state", ev.State, "err", err)
			}
		}
	}
}

// Evaluate checks every rule once at the engine clock's now and records
// the transitions.
func (a *Alerts) Evaluate() {
	a.evalMu.Lock()
	defer a.evalMu.Unlock()
	now := a.opts.Now()

	a.mu.Lock()
	rules := append([]*ruleState(nil), a.rules...)
	a.mu.Unlock()

	type result struct {
		value  float64
		ok     bool
		detail string
	}
	results := make([]result, len(rules))
	for i, rs := range rules {
		results[i].value, results[i].ok = a.check(rs.rule, now)
		if results[i].ok && rs.rule.Detail != nil {
			results[i].detail = rs.rule.Detail()
		}
	}

	var events []Event
	a.mu.Lock()
	for i, rs := range rules {
		res := results[i]
		rs.value, rs.checked = res.value, now
		switch {
		case res.ok:
			if rs.since.IsZero() {
				rs.since = now
			}
			if rs.firing == nil && now.Sub(rs.since) >= rs.rule.For {
				a.seq++
				ev := Event{Seq: a.seq, Rule: rs.rule.Name, State: StateFiring, At: now, Value: res.value,
					Unit: rs.rule.Unit, Since: rs.since, FiredAt: now, Detail: res.detail}
				rs.firing = &ev
				events = append(events, ev)
			}
		default:
			rs.since = time.Time{}
			if rs.firing != nil {
				a.seq++
				ev := *rs.firing
				ev.Seq, ev.State, ev.At, ev.Value, ev.ResolvedAt = a.seq, StateResolved, now, res.value, now
				rs.firing = nil
				events = append(events, ev)
			}
		}
	}
	for _, ev := range events {
		a.publishLocked(ev)
	}
	a.mu.Unlock()

	for _, ev := range events {
		attrs := []any{"rule", ev.Rule, "value", ev.Value, "unit", ev.Unit, "since", ev.Since}
		if ev.Detail != "" {
			attrs = append(attrs, "detail", ev.Detail)
		}
		if ev.State == StateFiring {
			a.log.Warn("alert firing", attrs...)
		} else {
			a.log.Info("alert resolved", append(attrs, "fired_at", ev.FiredAt)...)
		}
	}
}

// check runs a rule's Check; a panicking check counts as not firing and is
// logged, so one bad rule cannot stop the others.
func (a *Alerts) check(r Rule, now time.Time) (v float64, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("alert rule panicked", "rule", r.Name, "panic", p)
			v, ok = 0, false
		}
	}()
	return r.Check(now)
}

func (a *Alerts) publishLocked(ev Event) {
	if len(a.recent) >= a.opts.History {
		a.recent = append(a.recent[:0], a.recent[1:]...)
	}
	a.recent = append(a.recent, ev)
	for ch := range a.subs {
		select {
		case ch <- ev:
		default:
			a.streamDropped.Add(1)
		}
	}
	if a.notify != nil {
		select {
		case a.notify <- ev:
		default:
			a.notifyDropped.Add(1)
			a.log.Error("alert notification dropped: queue full", "rule", ev.Rule, "state", ev.State)
		}
	}
}

// Subscribe returns a channel that receives every transition from now on,
// and a function that ends the subscription. A subscriber that falls
// behind by more than its buffer misses events (counted as stream_dropped).
func (a *Alerts) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	a.mu.Lock()
	a.subs[ch] = struct{}{}
	a.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			a.mu.Lock()
			delete(a.subs, ch)
			a.mu.Unlock()
		})
	}
}

// Snapshot copies the engine's state.
func (a *Alerts) Snapshot() AlertsSnapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := AlertsSnapshot{
		At:            a.opts.Now(),
		Active:        []Event{},
		Recent:        make([]Event, 0, len(a.recent)),
		Rules:         make([]RuleStatus, 0, len(a.rules)),
		NotifyDropped: a.notifyDropped.Load(),
		NotifyFailed:  a.notifyFailed.Load(),
		StreamDropped: a.streamDropped.Load(),
	}
	for i := len(a.recent) - 1; i >= 0; i-- {
		s.Recent = append(s.Recent, a.recent[i])
	}
	for _, rs := range a.rules {
		st := RuleStatus{Name: rs.rule.Name, Help: rs.rule.Help, Unit: rs.rule.Unit, For: rs.rule.For,
			State: StateOK, Value: rs.value, Since: rs.since, Checked: rs.checked}
		switch {
		case rs.firing != nil:
			st.State = StateFiring
			ev := *rs.firing
			st.Firing = &ev
			s.Active = append(s.Active, ev)
		case !rs.since.IsZero():
			st.State = StatePending
		}
		s.Rules = append(s.Rules, st)
	}
	return s
}
