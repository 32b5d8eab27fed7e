package api

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Check is one dependency /readyz watches: Fn answers nil while it works.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Readiness runs its checks in the background and answers /readyz from
// their last results, so a load balancer's probes cost nothing and a
// hung store cannot hang them.
type Readiness struct {
	checks  []Check
	every   time.Duration
	timeout time.Duration

	mu     sync.Mutex
	failed map[string]error // guarded by mu; the checks failing at their last run
	ran    bool             // guarded by mu; every check has run once
	full   func() bool      // nil: never full
}

// NewReadiness watches checks every 2 s, each with a 5 s budget (a check
// bounds its own calls more tightly). full, if set, reports whether the
// server takes no more players.
func NewReadiness(full func() bool, checks ...Check) *Readiness {
	return &Readiness{checks: checks, every: 2 * time.Second, timeout: 5 * time.Second, full: full,
		failed: map[string]error{}}
}

// Run checks until ctx ends.
func (rd *Readiness) Run(ctx context.Context) error {
	t := time.NewTicker(rd.every)
	defer t.Stop()
	for {
		rd.checkAll(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (rd *Readiness) checkAll(ctx context.Context) {
	for _, c := range rd.checks {
		cctx, cancel := context.WithTimeout(ctx, rd.timeout)
		err := c.Fn(cctx)
		cancel()
		rd.mu.Lock()
		if err != nil {
			rd.failed[c.Name] = err
		} else {
			delete(rd.failed, c.Name)
		}
		rd.mu.Unlock()
	}
	rd.mu.Lock()
	rd.ran = true
	rd.mu.Unlock()
}

// Ready is nil when the server can take players, else the reason.
func (rd *Readiness) Ready() error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.ran {
		return fmt.Errorf("starting: stores not checked yet")
	}
	for _, c := range rd.checks {
		if err := rd.failed[c.Name]; err != nil {
			return fmt.Errorf("%s: %v", c.Name, err)
		}
	}
	if rd.full != nil && rd.full() {
		return fmt.Errorf("full: no more players on this server")
	}
	return nil
}
