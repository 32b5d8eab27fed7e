package bookkeeper

import (
	"context"
	"errors"
	testclock "rampart/internal/testenv/clock"
	"sync"
	"testing"
	"time"
)

var (
	errRetry = errors.New("retryable failure")
	errFatal = errors.New("fatal failure")
)

func isRetry(err error) bool { return errors.Is(err, errRetry) }

type fakeClock = testclock.Clock

func newFakeClock() *fakeClock {
	return testclock.New(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
}

// sleeps records the backoff waits asked of After and fires them at once.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) After(d time.Duration) <-chan time.Time {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

// heldAfter reports each wait on asked and never fires.
func heldAfter(asked chan<- time.Duration) func(time.Duration) <-chan time.Time {
	return func(d time.Duration) <-chan time.Time {
		asked <- d
		return make(chan time.Time)
	}
}

// counts is the part of Stats most tests compare.
type counts struct {
	Accepted, Attempted, OK, Errors, Retries, Dropped, Cancelled int64
	InQueue, OnWire, WaitingForRetry                             int
}

func countsOf(s Stats) counts {
	return counts{s.Accepted, s.Attempted, s.OK, s.Errors, s.Retries, s.Dropped, s.Cancelled,
		s.InQueue, s.OnWire, s.WaitingForRetry}
}

// checkCounts compares k's counters and gauges with want and checks that
// nothing is missing.
func checkCounts(t *testing.T, k *Keeper, want counts) {
	t.Helper()
	s := k.Stats()
	if got := countsOf(s); got != want {
		t.Errorf("counts:\n got %+v\nwant %+v", got, want)
	}
	if s.Missing != 0 {
		t.Errorf("missing: got %d, want 0", s.Missing)
	}
}

// blocker is a fn that stays on the wire until release is closed.
type blocker struct {
	started chan string
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 1000), release: make(chan struct{})}
}

func (b *blocker) fn(op string) func(context.Context) error {
	return func(context.Context) error {
		b.started <- op
		<-b.release
		return nil
	}
}
