package bookkeeper

import (
	"context"
	"errors"
	"time"
)

// ErrDropped is returned at once when a bookkeeper's queue is full.
var ErrDropped = errors.New("bookkeeper: queue full, dropped")

// Config sets one bookkeeper's limits.
//
// CONTRACT STUB: the full implementation adds counters, backoff, jitter,
// an injected clock and WaitIdle; these fields and methods keep their meaning.
type Config struct {
	Name        string
	Concurrency int           // calls on the wire at once
	QueueLimit  int           // calls waiting for a slot before new ones drop
	Timeout     time.Duration // per try
	MaxTries    int           // including the first
	// Retryable says whether a failed try may be repeated.
	Retryable func(error) bool
	// Observe, if set, receives every try's duration under the op name
	// passed to Do (the profiler hook; the bookkeeper imports nothing of ours).
	Observe func(op string, d time.Duration)
}

// Keeper tracks one asynchronous channel.
type Keeper struct {
	cfg Config
}

// New returns a bookkeeper for cfg.
func New(cfg Config) *Keeper { return &Keeper{cfg: cfg} }

// Name is the channel's name.
func (k *Keeper) Name() string { return k.cfg.Name }

// Do runs fn under the bookkeeper's limits, retrying what cfg.Retryable
// allows, and returns the last error. op names the call for the profiler
// ("s3:get"). ctx cancels waiting, backoff and the try in flight.
func (k *Keeper) Do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	tries := max(k.cfg.MaxTries, 1)
	var err error
	for try := 0; try < tries; try++ {
		tctx, cancel := ctx, context.CancelFunc(func() {})
		if k.cfg.Timeout > 0 {
			tctx, cancel = context.WithTimeout(ctx, k.cfg.Timeout)
		}
		start := time.Now()
		err = fn(tctx)
		cancel()
		if k.cfg.Observe != nil {
			k.cfg.Observe(op, time.Since(start))
		}
		if err == nil || k.cfg.Retryable == nil || !k.cfg.Retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// WaitIdle returns when nothing is in flight or ctx ends.
func (k *Keeper) WaitIdle(ctx context.Context) error { return nil }
