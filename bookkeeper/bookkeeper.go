package bookkeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrDropped is returned at once when a bookkeeper's queue is full. Callers
// see it wrapped with the bookkeeper's name and the op; check it with
// errors.Is.
var ErrDropped = errors.New("bookkeeper: queue full, dropped")

// Defaults applied by New to zero fields.
const (
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
)

// freeListCap bounds the recycled items a Keeper keeps, so a burst does not
// pin its peak memory forever.
const freeListCap = 256

// Config sets one bookkeeper's limits. Zero fields take the documented
// defaults; only Name is required.
type Config struct {
	Name        string
	Concurrency int           // calls on the wire at once; <= 0: no limit
	QueueLimit  int           // calls waiting for a slot before new ones drop; <= 0: no limit (moot without Concurrency)
	Timeout     time.Duration // per try; 0: the try runs under the caller's ctx only
	MaxTries    int           // including the first; < 1 means 1
	// Retryable says whether a failed try may be repeated. nil retries
	// nothing: only the owner of a channel knows what is safe to repeat. It
	// is never asked once the caller's ctx is done, so it may treat
	// context.DeadlineExceeded as a try's own timeout (see RetryTimeouts).
	Retryable func(error) bool
	// Answer says whether an error is the call's answer rather than a
	// failure: S3's "no such key" for a credential that does not exist yet,
	// or a conditional write that lost. Such a call lands as ok (so a
	// sign-up storm does not fire error_rate) and its error is returned as
	// is, never retried. nil: every error is a failure.
	Answer func(error) bool
	// Observe, if set, receives every try's duration under the op name
	// passed to Do (the profiler hook; the bookkeeper imports nothing of ours).
	Observe func(op string, d time.Duration)

	// BackoffBase and BackoffMax shape the wait before a retry: see Backoff.
	// Defaults DefaultBackoffBase and DefaultBackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Jitter returns a number in [0, 1); default math/rand/v2.Float64.
	Jitter func() float64
	// Now and After are the clock: ages, try durations and the rolling error
	// window use Now, backoff waits on After. Defaults time.Now, time.After.
	// Per-try deadlines are real time (they are context deadlines).
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
	// Log receives the in-flight list when WaitIdle gives up; nil discards.
	Log *slog.Logger
}

// state is where an accepted call is; the three states are the gauges.
type state uint8

const (
	inQueue         state = iota // waiting for a concurrency slot
	onWire                       // holding a slot, its try running
	waitingForRetry              // a try failed, backing off
	numStates
)

func (s state) String() string {
	switch s {
	case inQueue:
		return "in_queue"
	case onWire:
		return "on_wire"
	case waitingForRetry:
		return "waiting_for_retry"
	}
	return "unknown"
}

// item is one accepted call. Its fields change only under Keeper.mu, and
// only by the goroutine running the call; that goroutine may read them
// without the lock. Once landed it goes back to the free list and the
// goroutine must not touch it again.
type item struct {
	op       string
	accepted time.Time // when Do or Go was called
	since    time.Time // when it entered its state; the try's start when on the wire
	state    state
	try      int // tries started, the current one included
	idx      int // position in Keeper.live
}

// outcome is how a call lands.
type outcome uint8

const (
	landedOK outcome = iota
	landedError
	landedCancelled
)

// Keeper tracks one asynchronous channel. It is safe for concurrent use.
type Keeper struct {
	cfg      Config // normalized by New; read-only afterwards
	maxTries int
	sem      *semaphore.Weighted // nil when Concurrency <= 0
	log      *slog.Logger

	mu sync.Mutex
	// Counters and gauges move together under mu, so every snapshot
	// satisfies accepted = ok + errors + dropped + cancelled + gauges.
	accepted, attempted, ok, errs, retries, dropped, cancelled int64
	gauge                                                      [numStates]int

	live  []*item       // every call accepted and not landed; guarded by mu
	free  []*item       // recycled items, at most freeListCap; guarded by mu
	dones int           // Go calls whose done has not returned yet; guarded by mu
	idle  chan struct{} // closed when live and dones are empty; nil when nobody waits; guarded by mu
	win   window        // tries and failures of the last RateWindow; guarded by mu
}

// New returns a bookkeeper for cfg.
func New(cfg Config) *Keeper {
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = cfg.BackoffBase
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	k := &Keeper{cfg: cfg, maxTries: max(cfg.MaxTries, 1), log: cfg.Log}
	if cfg.Concurrency > 0 {
		k.sem = semaphore.NewWeighted(int64(cfg.Concurrency))
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k
}

// Name is the channel's name.
func (k *Keeper) Name() string { return k.cfg.Name }

// Do runs fn under the bookkeeper's limits, retrying what cfg.Retryable
// allows, and returns the last try's error as fn returned it. op names the
// call for the profiler ("s3:get"). ctx cancels waiting, backoff and the try
// in flight; a call whose ctx ends is counted as cancelled, not as an error,
// and if it ends outside a try the error wraps both ctx.Err() and the last
// try's error. A full queue returns an error wrapping ErrDropped at once.
//
// If fn panics the call is counted as an error, its slot is released and
// the panic goes on up.
func (k *Keeper) Do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	it, err := k.admit(ctx, op)
	if err != nil {
		return err
	}
	return k.run(ctx, it, fn)
}

// Go is Do for fire-and-forget work, accounted identically. The call is
// accepted (or dropped) before Go returns, so a WaitIdle that starts after
// Go returns waits for it. If Go returns an error (ErrDropped, or ctx
// already done) fn does not run and done is not called; otherwise done, if
// not nil, is called exactly once with Do's result, on the goroutine that
// ran fn, and WaitIdle waits for it to return. Work that must outlive a
// request should pass a ctx that does (context.WithoutCancel, or the
// server's lifetime ctx).
func (k *Keeper) Go(ctx context.Context, op string, fn func(ctx context.Context) error, done func(error)) error {
	it, err := k.admit(ctx, op)
	if err != nil {
		return err
	}
	if done != nil {
		// Counted while the item is live, so no WaitIdle can return between
		// the item's landing and done's end.
		k.mu.Lock()
		k.dones++
		k.mu.Unlock()
	}
	go k.runAsync(ctx, it, fn, done)
	return nil
}

func (k *Keeper) runAsync(ctx context.Context, it *item, fn func(context.Context) error, done func(error)) {
	err := k.run(ctx, it, fn)
	if done == nil {
		return
	}
	defer func() {
		k.mu.Lock()
		k.dones--
		k.wakeIdleLocked()
		k.mu.Unlock()
	}()
	done(err)
}

// admit accepts a call and puts it on the wire or in the queue, or drops it.
func (k *Keeper) admit(ctx context.Context, op string) (*item, error) {
	now := k.cfg.Now()
	if err := ctx.Err(); err != nil {
		k.mu.Lock()
		k.accepted++
		k.cancelled++
		k.mu.Unlock()
		return nil, fmt.Errorf("bookkeeper %s: %s: %w", k.cfg.Name, op, err)
	}
	k.mu.Lock()
	k.accepted++
	// TryAcquire under mu is safe: the semaphore never calls back into us.
	slot := k.sem == nil || k.sem.TryAcquire(1)
	if !slot && k.cfg.QueueLimit > 0 && k.gauge[inQueue] >= k.cfg.QueueLimit {
		k.dropped++
		n := k.gauge[inQueue]
		k.mu.Unlock()
		return nil, fmt.Errorf("bookkeeper %s: %s: %d waiting: %w", k.cfg.Name, op, n, ErrDropped)
	}
	it := k.newItemLocked(op, now)
	k.placeLocked(it, slot, now)
	k.mu.Unlock()
	return it, nil
}

// run drives an admitted call to the end: wait for a slot, try, back off,
// retry. It lands the item exactly once on every path.
func (k *Keeper) run(ctx context.Context, it *item, fn func(context.Context) error) error {
	var err error // the last try's
	for {
		if it.state == inQueue {
			if aerr := k.sem.Acquire(ctx, 1); aerr != nil {
				k.land(it, landedCancelled, k.cfg.Now())
				return joinCancel(aerr, err)
			}
			k.mu.Lock()
			k.moveLocked(it, onWire, k.cfg.Now())
			k.mu.Unlock()
		}

		err = k.try(ctx, it, fn)
		end := k.cfg.Now()
		if k.cfg.Observe != nil {
			k.cfg.Observe(it.op, end.Sub(it.since))
		}
		if k.sem != nil {
			k.sem.Release(1)
		}
		switch {
		case err == nil:
			k.land(it, landedOK, end)
			return nil
		case k.cfg.Answer != nil && k.cfg.Answer(err):
			k.land(it, landedOK, end)
			return err
		case ctx.Err() != nil:
			k.land(it, landedCancelled, end)
			return err
		case it.try >= k.maxTries || k.cfg.Retryable == nil || !k.cfg.Retryable(err):
			k.land(it, landedError, end)
			return err
		}

		k.mu.Lock()
		k.win.add(end, true)
		k.moveLocked(it, waitingForRetry, end)
		k.mu.Unlock()
		select {
		case <-k.cfg.After(Backoff(k.cfg.BackoffBase, k.cfg.BackoffMax, it.try, k.cfg.Jitter())):
		case <-ctx.Done():
			k.land(it, landedCancelled, k.cfg.Now())
			return joinCancel(ctx.Err(), err)
		}

		now := k.cfg.Now()
		k.mu.Lock()
		k.retries++
		k.gauge[it.state]--
		k.placeLocked(it, k.sem == nil || k.sem.TryAcquire(1), now)
		k.mu.Unlock()
	}
}

// try runs one try of fn under its own timeout. If fn panics it lands the
// item as an error and releases the slot before the panic goes on.
func (k *Keeper) try(ctx context.Context, it *item, fn func(context.Context) error) error {
	tctx, cancel := k.tryContext(ctx)
	returned := false
	defer func() {
		if cancel != nil {
			cancel()
		}
		if !returned {
			if k.sem != nil {
				k.sem.Release(1)
			}
			k.land(it, landedError, k.cfg.Now())
		}
	}()
	err := fn(tctx)
	returned = true
	return err
}

// tryContext bounds one try by cfg.Timeout. It allocates only when it must:
// with no Timeout, or when the caller's own deadline comes first (so its
// expiry is the caller's and counts as cancelled either way), the try runs
// under ctx itself.
func (k *Keeper) tryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if k.cfg.Timeout <= 0 {
		return ctx, nil
	}
	if dl, ok := ctx.Deadline(); ok && !dl.After(time.Now().Add(k.cfg.Timeout)) {
		return ctx, nil
	}
	return context.WithTimeout(ctx, k.cfg.Timeout)
}

// joinCancel reports a call cancelled outside a try, keeping the last try's
// error (if any) visible to errors.Is/As.
func joinCancel(ctxErr, last error) error {
	if last == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last try: %w)", ctxErr, last)
}

// newItemLocked takes an item from the free list and adds it to live.
func (k *Keeper) newItemLocked(op string, now time.Time) *item {
	var it *item
	if n := len(k.free); n > 0 {
		it = k.free[n-1]
		k.free[n-1] = nil
		k.free = k.free[:n-1]
	} else {
		it = new(item)
	}
	*it = item{op: op, accepted: now, idx: len(k.live)}
	k.live = append(k.live, it)
	return it
}

// placeLocked puts a new or retried item on the wire if it holds a slot,
// in the queue otherwise. The caller has taken it out of its old gauge.
func (k *Keeper) placeLocked(it *item, slot bool, now time.Time) {
	it.state = inQueue
	if slot {
		it.state = onWire
		it.try++
		k.attempted++
	}
	it.since = now
	k.gauge[it.state]++
}

// moveLocked moves an item to another state; to the wire starts a try.
func (k *Keeper) moveLocked(it *item, to state, now time.Time) {
	k.gauge[it.state]--
	if to == onWire {
		it.try++
		k.attempted++
	}
	it.state = to
	it.since = now
	k.gauge[to]++
}

// land ends a call: it leaves its gauge and live, and is counted once.
func (k *Keeper) land(it *item, o outcome, now time.Time) {
	k.mu.Lock()
	tried := it.state == onWire
	k.gauge[it.state]--
	switch o {
	case landedOK:
		k.ok++
	case landedError:
		k.errs++
	case landedCancelled:
		k.cancelled++
	}
	if tried && o != landedCancelled {
		k.win.add(now, o == landedError)
	}
	last := len(k.live) - 1
	k.live[it.idx] = k.live[last]
	k.live[it.idx].idx = it.idx
	k.live[last] = nil
	k.live = k.live[:last]
	if len(k.free) < freeListCap {
		*it = item{}
		k.free = append(k.free, it)
	}
	k.wakeIdleLocked()
	k.mu.Unlock()
}

// wakeIdleLocked wakes the WaitIdle callers once nothing is live and no
// done callback is running.
func (k *Keeper) wakeIdleLocked() {
	if len(k.live) == 0 && k.dones == 0 && k.idle != nil {
		close(k.idle)
		k.idle = nil
	}
}

// WaitIdle returns nil when nothing is in flight (queued, on the wire or
// waiting to retry) and no done callback of Go is running, or an error wrapping ctx.Err() when ctx ends first; then
// it logs what is still in flight, oldest first. It does not stop new work
// from arriving: stop the producers first.
func (k *Keeper) WaitIdle(ctx context.Context) error {
	k.mu.Lock()
	if len(k.live) == 0 && k.dones == 0 {
		k.mu.Unlock()
		return nil
	}
	if k.idle == nil {
		k.idle = make(chan struct{})
	}
	idle := k.idle
	k.mu.Unlock()

	select {
	case <-idle:
		return nil
	case <-ctx.Done():
	}
	s := k.Stats()
	n := s.InQueue + s.OnWire + s.WaitingForRetry
	k.log.Warn("bookkeeper drain gave up", "bookkeeper", k.cfg.Name, "in_flight", n,
		"in_queue", s.InQueue, "on_wire", s.OnWire, "waiting_for_retry", s.WaitingForRetry,
		"oldest_age", time.Duration(s.OldestAgeMS)*time.Millisecond)
	for _, f := range s.InFlight {
		k.log.Warn("bookkeeper still in flight", "bookkeeper", k.cfg.Name, "op", f.Op,
			"state", f.State, "try", f.Try, "age", time.Duration(f.AgeMS)*time.Millisecond)
	}
	return fmt.Errorf("bookkeeper %s: drain: %d still in flight: %w", k.cfg.Name, n, ctx.Err())
}
