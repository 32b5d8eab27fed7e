// Package clock owns the one fake clock the tests use: time moves only
// when a test says, and the timers it fires (AfterFunc) run when Advance
// passes them. It imports only the standard library, so the tests of any
// package, leaves included, can use it.
package clock

import (
	"sync"
	"time"
)

// Clock is a hand-moved clock, safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer // guarded by mu
}

type timer struct {
	at      time.Time
	f       func()
	stopped bool
}

// New returns a clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Default is 21 November 2026, 12:00 UTC: the day the game data's tests
// were written against.
var Default = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (forward or back) and runs the timers due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
	c.fire()
}

// Advance moves the clock forward by d and runs the timers due, in the
// order they come due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	c.fire()
}

// AfterFunc runs f once the clock has passed now+d; the returned stop
// reports whether it stopped the timer before it ran.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

func (c *Clock) fire() {
	c.mu.Lock()
	var due []*timer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for i := 1; i < len(due); i++ { // in the order they came due (few: insertion sort)
		for j := i; j > 0 && due[j].at.Before(due[j-1].at); j-- {
			due[j], due[j-1] = due[j-1], due[j]
		}
	}
	for _, t := range due {
		t.f()
	}
}
