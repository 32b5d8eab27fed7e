package bookkeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name          string
		base, ceiling time.Duration
		n             int
		jitter        float64
		want          time.Duration
	}{
		{"first retry, no jitter, half step", 100 * ms, 10 * time.Second, 1, 0, 50 * ms},
		{"first retry, half jitter", 100 * ms, 10 * time.Second, 1, 0.5, 75 * ms},
		{"third retry doubles twice", 100 * ms, 10 * time.Second, 3, 0, 200 * ms},
		{"capped at ceiling", 100 * ms, time.Second, 10, 0, 500 * ms},
		{"capped, full jitter", 100 * ms, time.Second, 10, 1, time.Second},
		{"jitter clamped above", 100 * ms, time.Second, 1, 7, 100 * ms},
		{"jitter clamped below", 100 * ms, time.Second, 1, -3, 50 * ms},
		{"huge retry does not overflow", 100 * ms, time.Minute, 1000, 0, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backoff(tt.base, tt.ceiling, tt.n, tt.jitter); got != tt.want {
				t.Errorf("Backoff(%v, %v, %d, %v): got %v, want %v", tt.base, tt.ceiling, tt.n, tt.jitter, got, tt.want)
			}
		})
	}
	t.Run("random jitter stays within [step/2, step)", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for n := 1; n <= 12; n++ {
			step := min(100*ms<<(n-1), 5*time.Second)
			for range 100 {
				got := Backoff(100*ms, 5*time.Second, n, r.Float64())
				if got < step/2 || got >= step {
					t.Fatalf("retry %d: got %v, want in [%v, %v)", n, got, step/2, step)
				}
			}
		}
	})
}

func TestDoRetries(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name       string
		results    []error // one per try
		maxTries   int
		ceiling    time.Duration
		retryable  func(error) bool
		answer     func(error) bool
		wantErr    error
		wantSleeps []time.Duration
		want       counts
	}{
		{
			name: "an answer lands ok, is returned and never retried", results: []error{fmt.Errorf("get: %w", errRetry), nil}, maxTries: 3,
			retryable: isRetry, answer: isRetry,
			wantErr: errRetry,
			want:    counts{Accepted: 1, Attempted: 1, OK: 1},
		},
		{
			name: "ok at first try", results: []error{nil}, maxTries: 3, retryable: isRetry,
			want: counts{Accepted: 1, Attempted: 1, OK: 1},
		},
		{
			name: "retryable failures then ok", results: []error{errRetry, errRetry, nil}, maxTries: 3, retryable: isRetry,
			wantSleeps: []time.Duration{75 * ms, 150 * ms},
			want:       counts{Accepted: 1, Attempted: 3, OK: 1, Retries: 2},
		},
		{
			name: "non-retryable stops at once", results: []error{errFatal, nil}, maxTries: 3, retryable: isRetry,
			wantErr: errFatal,
			want:    counts{Accepted: 1, Attempted: 1, Errors: 1},
		},
		{
			name: "gives up after MaxTries with the last error", results: []error{errRetry, errRetry, fmt.Errorf("third: %w", errRetry)}, maxTries: 3, retryable: isRetry,
			wantErr: errRetry, wantSleeps: []time.Duration{75 * ms, 150 * ms},
			want: counts{Accepted: 1, Attempted: 3, Errors: 1, Retries: 2},
		},
		{
			name: "nil classifier retries nothing", results: []error{errRetry, nil}, maxTries: 3,
			wantErr: errRetry,
			want:    counts{Accepted: 1, Attempted: 1, Errors: 1},
		},
		{
			name: "backoff capped", results: []error{errRetry, errRetry, errRetry, errRetry, nil}, maxTries: 5, ceiling: 250 * ms, retryable: isRetry,
			wantSleeps: []time.Duration{75 * ms, 150 * ms, 187500 * time.Microsecond, 187500 * time.Microsecond},
			want:       counts{Accepted: 1, Attempted: 5, OK: 1, Retries: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			var sl sleeps
			var observed []time.Duration
			k := New(Config{
				Name: "s3", Concurrency: 2, QueueLimit: 2, MaxTries: tt.maxTries, Retryable: tt.retryable, Answer: tt.answer,
				BackoffBase: 100 * ms, BackoffMax: tt.ceiling,
				Jitter: func() float64 { return 0.5 }, Now: clk.Now, After: sl.After,
				Observe: func(op string, d time.Duration) {
					if op != "s3:get" {
						t.Errorf("observed op: got %q, want %q", op, "s3:get")
					}
					observed = append(observed, d)
				},
			})
			try := 0
			err := k.Do(context.Background(), "s3:get", func(context.Context) error {
				clk.Advance(7 * ms)
				try++
				return tt.results[try-1]
			})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("err: got %v, want %v", err, tt.wantErr)
			}
			if got := sl.got(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("backoff waits: got %v, want %v", got, tt.wantSleeps)
			}
			if want := slices.Repeat([]time.Duration{7 * ms}, try); !slices.Equal(observed, want) {
				t.Errorf("observed: got %v, want %v", observed, want)
			}
			checkCounts(t, k, tt.want)
			fails := int(tt.want.Attempted - tt.want.OK)
			if s := k.Stats(); s.RecentTries != int(tt.want.Attempted) || s.RecentErrors != fails {
				t.Errorf("recent tries/errors: got %d/%d, want %d/%d", s.RecentTries, s.RecentErrors, tt.want.Attempted, fails)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		queueLimit  int
		queued      int // calls to put in the queue before the extra one
		wantDrop    bool
	}{
		{"two on the wire, three queued, the next dropped", 2, 3, 3, true},
		{"one on the wire, one queued, the next dropped", 1, 1, 1, true},
		{"no queue limit never drops", 1, 0, 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := New(Config{Name: "mongo", Concurrency: tt.concurrency, QueueLimit: tt.queueLimit, Now: newFakeClock().Now})
			var onWire, peak atomic.Int64
			release := make(chan struct{})
			fn := func(context.Context) error {
				n := onWire.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				<-release
				onWire.Add(-1)
				return nil
			}
			var wg sync.WaitGroup
			n := tt.concurrency + tt.queued
			for i := range n {
				wg.Add(1)
				if err := k.Go(context.Background(), "mongo:insert", fn, func(err error) {
					defer wg.Done()
					if err != nil {
						t.Errorf("call %d: got %v, want nil", i, err)
					}
				}); err != nil {
					t.Fatalf("Go %d: got %v, want nil", i, err)
				}
			}
			checkCounts(t, k, counts{Accepted: int64(n), Attempted: int64(tt.concurrency), InQueue: tt.queued, OnWire: tt.concurrency})
			if got, want := k.QueueFill(), float64(tt.queued)/float64(max(tt.queueLimit, 1)); tt.queueLimit > 0 && got != want {
				t.Errorf("QueueFill: got %v, want %v", got, want)
			}

			var dropped int64
			if tt.wantDrop {
				dropped = 1
				err := k.Do(context.Background(), "mongo:insert", func(context.Context) error {
					t.Error("a dropped call ran")
					return nil
				})
				if !errors.Is(err, ErrDropped) || !strings.Contains(err.Error(), "mongo") {
					t.Errorf("extra call: got %v, want ErrDropped naming the bookkeeper", err)
				}
			}

			close(release)
			wg.Wait()
			if err := k.WaitIdle(t.Context()); err != nil {
				t.Fatalf("WaitIdle: %v", err)
			}
			checkCounts(t, k, counts{Accepted: int64(n) + dropped, Attempted: int64(n), OK: int64(n), Dropped: dropped})
			if p := peak.Load(); p > int64(tt.concurrency) {
				t.Errorf("peak on the wire: got %d, want at most %d", p, tt.concurrency)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name     string
		wantAlso error // another error the result must wrap
		want     counts
		// tries counted by ErrorRate: a try cut short by the caller is not
		// the channel's fault, one that failed before the caller gave up is
		wantRecent int
		cancelled  func(t *testing.T, k *Keeper, ctx context.Context, cancel context.CancelFunc, backingOff <-chan time.Duration) error
	}{
		{
			name: "before admission",
			want: counts{Accepted: 1, Cancelled: 1},
			cancelled: func(t *testing.T, k *Keeper, ctx context.Context, cancel context.CancelFunc, backingOff <-chan time.Duration) error {
				cancel()
				return k.Do(ctx, "op", func(context.Context) error { t.Error("fn ran"); return nil })
			},
		},
		{
			name: "while queued",
			want: counts{Accepted: 2, Attempted: 1, OK: 1, Cancelled: 1}, wantRecent: 1,
			cancelled: func(t *testing.T, k *Keeper, ctx context.Context, cancel context.CancelFunc, backingOff <-chan time.Duration) error {
				b := newBlocker()
				defer close(b.release)
				if err := k.Go(context.Background(), "blocker", b.fn("blocker"), nil); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				if err := k.Go(ctx, "op", func(context.Context) error { t.Error("fn ran"); return nil }, func(err error) { done <- err }); err != nil {
					t.Fatal(err)
				}
				if s := k.Stats(); s.InQueue != 1 {
					t.Errorf("in_queue before cancel: got %d, want 1", s.InQueue)
				}
				cancel()
				return <-done
			},
		},
		{
			name: "during a try",
			want: counts{Accepted: 1, Attempted: 1, Cancelled: 1},
			cancelled: func(t *testing.T, k *Keeper, ctx context.Context, cancel context.CancelFunc, backingOff <-chan time.Duration) error {
				started, done := make(chan struct{}), make(chan error, 1)
				if err := k.Go(ctx, "op", func(ctx context.Context) error {
					close(started)
					<-ctx.Done()
					return ctx.Err()
				}, func(err error) { done <- err }); err != nil {
					t.Fatal(err)
				}
				<-started
				cancel()
				return <-done
			},
		},
		{
			name:     "while waiting for retry",
			wantAlso: errRetry,
			want:     counts{Accepted: 1, Attempted: 1, Cancelled: 1}, wantRecent: 1,
			cancelled: func(t *testing.T, k *Keeper, ctx context.Context, cancel context.CancelFunc, backingOff <-chan time.Duration) error {
				done := make(chan error, 1)
				if err := k.Go(ctx, "op", func(context.Context) error { return errRetry }, func(err error) { done <- err }); err != nil {
					t.Fatal(err)
				}
				if d := <-backingOff; d <= 0 {
					t.Errorf("backoff: got %v, want > 0", d)
				}
				if s := k.Stats(); s.WaitingForRetry != 1 {
					t.Errorf("waiting_for_retry before cancel: got %d, want 1", s.WaitingForRetry)
				}
				cancel()
				return <-done
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backingOff := make(chan time.Duration, 1)
			k := New(Config{
				Name: "webhook", Concurrency: 1, QueueLimit: 5, MaxTries: 3, Retryable: isRetry,
				Now: newFakeClock().Now, After: heldAfter(backingOff),
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := tt.cancelled(t, k, ctx, cancel, backingOff)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err: got %v, want context.Canceled", err)
			}
			if tt.wantAlso != nil && !errors.Is(err, tt.wantAlso) {
				t.Errorf("err: got %v, want it to wrap %v", err, tt.wantAlso)
			}
			if err := k.WaitIdle(t.Context()); err != nil {
				t.Fatalf("WaitIdle: %v", err)
			}
			checkCounts(t, k, tt.want)
			if s := k.Stats(); s.RecentTries != tt.wantRecent {
				t.Errorf("recent tries: got %d, want %d", s.RecentTries, tt.wantRecent)
			}
		})
	}
}

func TestTryTimeout(t *testing.T) {
	const short = 5 * time.Millisecond
	waitDone := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name     string
		timeout  time.Duration
		callerTO time.Duration // 0: no caller deadline
		tries    []func(ctx context.Context) error
		wantErr  error
		want     counts
	}{
		{
			name: "a try that times out is retried", timeout: short,
			tries:   []func(context.Context) error{waitDone, func(context.Context) error { return nil }},
			wantErr: nil,
			want:    counts{Accepted: 1, Attempted: 2, OK: 1, Retries: 1},
		},
		{
			name: "every try times out", timeout: short,
			tries:   []func(context.Context) error{waitDone, waitDone},
			wantErr: context.DeadlineExceeded,
			want:    counts{Accepted: 1, Attempted: 2, Errors: 1, Retries: 1},
		},
		{
			name: "the caller's deadline is cancellation, never retried", timeout: time.Hour, callerTO: short,
			tries:   []func(context.Context) error{waitDone, waitDone},
			wantErr: context.DeadlineExceeded,
			want:    counts{Accepted: 1, Attempted: 1, Cancelled: 1},
		},
		{
			name: "each try gets its own deadline", timeout: time.Hour,
			tries: []func(context.Context) error{func(ctx context.Context) error {
				if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
					return fmt.Errorf("try deadline: got %v %v, want about an hour away", dl, ok)
				}
				return nil
			}},
			want: counts{Accepted: 1, Attempted: 1, OK: 1},
		},
		{
			name: "no Timeout, no try deadline",
			tries: []func(context.Context) error{func(ctx context.Context) error {
				if dl, ok := ctx.Deadline(); ok {
					return fmt.Errorf("try deadline: got %v, want none", dl)
				}
				return nil
			}},
			want: counts{Accepted: 1, Attempted: 1, OK: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sl sleeps
			k := New(Config{Name: "s3", Concurrency: 1, Timeout: tt.timeout, MaxTries: 2,
				Retryable: RetryTimeouts, Now: newFakeClock().Now, After: sl.After})
			ctx := context.Background()
			if tt.callerTO > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.callerTO)
				defer cancel()
			}
			try := 0
			err := k.Do(ctx, "s3:get", func(ctx context.Context) error {
				try++
				return tt.tries[try-1](ctx)
			})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("err: got %v, want %v", err, tt.wantErr)
			}
			checkCounts(t, k, tt.want)
		})
	}
}

func TestWaitIdle(t *testing.T) {
	tests := []struct {
		name    string
		busy    bool // leave a call on the wire
		give    bool // give up: ctx ends first
		wantErr error
	}{
		{name: "idle returns at once"},
		{name: "returns when the work lands", busy: true},
		{name: "gives up with ctx and logs what is in flight", busy: true, give: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			clk := newFakeClock()
			k := New(Config{Name: "s3", Concurrency: 2, Now: clk.Now,
				Log: slog.New(slog.NewTextHandler(&logs, nil))})
			b := newBlocker()
			if tt.busy {
				if err := k.Go(context.Background(), "s3:put", b.fn("s3:put"), nil); err != nil {
					t.Fatal(err)
				}
				<-b.started
				clk.Advance(1500 * time.Millisecond)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- k.WaitIdle(ctx) }()
			if tt.busy {
				select {
				case err := <-errc:
					t.Fatalf("WaitIdle returned %v with a call on the wire", err)
				default:
				}
				if tt.give {
					cancel()
					err := <-errc
					close(b.release)
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("WaitIdle: got %v, want %v", err, tt.wantErr)
					}
					for _, want := range []string{"still in flight", "op=s3:put", "state=on_wire", "age=1.5s", "bookkeeper=s3"} {
						if !strings.Contains(logs.String(), want) {
							t.Errorf("log: got %q, want it to contain %q", logs.String(), want)
						}
					}
					if err := k.WaitIdle(t.Context()); err != nil {
						t.Fatalf("WaitIdle after release: %v", err)
					}
					return
				}
				close(b.release)
			}
			if err := <-errc; err != nil {
				t.Errorf("WaitIdle: got %v, want nil", err)
			}
			if logs.Len() != 0 {
				t.Errorf("log: got %q, want nothing", logs.String())
			}
		})
	}
}

// TestWaitIdleWaitsForDone checks that a drain does not end while a Go
// call's done callback is still running: the callback is part of the work
// (it records what the call did), and a process that exits after WaitIdle
// must not cut it off.
func TestWaitIdleWaitsForDone(t *testing.T) {
	tests := []struct {
		name string
		err  error // what fn returns
	}{
		{"after a success", nil},
		{"after a failure", errFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := New(Config{Name: "mongo", Concurrency: 1, Retryable: isRetry})
			entered, release := make(chan struct{}), make(chan struct{})
			var got error
			done := func(err error) {
				close(entered)
				<-release
				got = err
			}
			if err := k.Go(context.Background(), "mongo:insert", func(context.Context) error { return tt.err }, done); err != nil {
				t.Fatal(err)
			}
			<-entered // the call has landed; done is running
			if s := k.Stats(); s.InQueue+s.OnWire+s.WaitingForRetry != 0 {
				t.Fatalf("in flight while done runs: %+v, want 0", countsOf(s))
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := k.WaitIdle(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("WaitIdle while done runs: got %v, want it to wait (context.Canceled)", err)
			}
			errc := make(chan error, 1)
			go func() { errc <- k.WaitIdle(t.Context()) }()
			close(release)
			if err := <-errc; err != nil {
				t.Fatalf("WaitIdle after done: %v", err)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("done got %v, want %v", got, tt.err)
			}
		})
	}
}

// TestMissingUnderLoad runs a random mix of outcomes, cancellations, drops
// and both call forms from many goroutines while another keeps checking that
// nothing is ever missing.
func TestMissingUnderLoad(t *testing.T) {
	tests := []struct {
		name                    string
		concurrency, queueLimit int
		timeout                 time.Duration
	}{
		{"tight limits", 2, 3, 0},
		{"roomy limits with a try timeout", 8, 64, time.Minute},
		{"no limits", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const workers, calls = 8, 300
			k := New(Config{Name: "load", Concurrency: tt.concurrency, QueueLimit: tt.queueLimit,
				Timeout: tt.timeout, MaxTries: 3, Retryable: isRetry, After: (&sleeps{}).After})

			stop := make(chan struct{})
			checked := make(chan int)
			go func() {
				n := 0
				defer func() { checked <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if m := k.Missing(); m != 0 {
						t.Errorf("missing: got %d, want 0", m)
						return
					}
					n++
				}
			}()

			var goAccepted, doneCalls atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 42))
					for range calls {
						ctx, cancel := context.WithCancel(context.Background())
						kind := r.IntN(5)
						fn := func(ctx context.Context) error {
							switch kind {
							case 0:
								return nil
							case 1:
								if r := rand.IntN(3); r > 0 {
									return errRetry
								}
								return nil
							case 2:
								return errFatal
							case 3:
								cancel()
								return ctx.Err()
							}
							return errRetry
						}
						if r.IntN(2) == 0 {
							_ = k.Do(ctx, "load:do", fn)
							cancel()
							continue
						}
						if err := k.Go(ctx, "load:go", fn, func(error) { doneCalls.Add(1); cancel() }); err == nil {
							goAccepted.Add(1)
						} else {
							cancel()
						}
					}
				})
			}
			wg.Wait()
			if err := k.WaitIdle(t.Context()); err != nil {
				t.Fatalf("WaitIdle: %v", err)
			}
			close(stop)
			if n := <-checked; n == 0 {
				t.Error("the checker never ran")
			}
			s := k.Stats()
			if s.Accepted != workers*calls {
				t.Errorf("accepted: got %d, want %d", s.Accepted, workers*calls)
			}
			if landed := s.OK + s.Errors + s.Dropped + s.Cancelled; landed != s.Accepted || s.Missing != 0 {
				t.Errorf("landed %d of %d accepted, missing %d: want all landed, missing 0 (%+v)", landed, s.Accepted, s.Missing, countsOf(s))
			}
			if g, d := goAccepted.Load(), doneCalls.Load(); g != d {
				t.Errorf("done called %d times for %d accepted Go calls, want once each", d, g)
			}
			if s.InQueue+s.OnWire+s.WaitingForRetry != 0 || len(s.InFlight) != 0 {
				t.Errorf("after WaitIdle: got %+v in flight, want none", countsOf(s))
			}
		})
	}
}

func TestErrorRateRule(t *testing.T) {
	tests := []struct {
		name       string
		oks, fails int
		later      time.Duration // when the rule is checked after the calls
		wantRate   float64
		wantTries  int
		wantFiring bool
	}{
		{"over half of 20 fails", 9, 11, 0, 0.55, 20, true},
		{"still in the window 9s later", 9, 11, 9 * time.Second, 0.55, 20, true},
		{"out of the window 10s later", 9, 11, 10 * time.Second, 0, 0, false},
		{"exactly half does not fire", 10, 10, 0, 0.5, 20, false},
		{"too few tries", 0, 19, 0, 1, 19, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			k := New(Config{Name: "s3", Now: clk.Now})
			for i := range tt.oks + tt.fails {
				_ = k.Do(context.Background(), "s3:get", func(context.Context) error {
					if i < tt.fails {
						return errFatal
					}
					return nil
				})
			}
			clk.Advance(tt.later)
			rate, tries := k.ErrorRate(clk.Now())
			if rate != tt.wantRate || tries != tt.wantTries {
				t.Errorf("ErrorRate: got %v over %d tries, want %v over %d", rate, tries, tt.wantRate, tt.wantTries)
			}
			r := ruleNamed(t, k.Rules(), "bookkeeper.s3.error_rate")
			if v, firing := r.Check(clk.Now()); v != tt.wantRate || firing != tt.wantFiring {
				t.Errorf("error_rate check: got %v %v, want %v %v", v, firing, tt.wantRate, tt.wantFiring)
			}
		})
	}
}

func ruleNamed(t *testing.T, rules []Rule, name string) Rule {
	t.Helper()
	for _, r := range rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %q in %v", name, rules)
	return Rule{}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name       string
		rule       string
		queued     int           // calls queued behind one blocker (Concurrency 1, QueueLimit 5)
		after      time.Duration // clock advance before the check
		corrupt    bool          // break the books by hand
		wantValue  float64
		wantFiring bool
		wantFor    time.Duration
	}{
		{name: "queue at 80% does not fire", rule: "queue_fill", queued: 4, wantValue: 0.8, wantFor: QueueFillFor},
		{name: "queue full fires", rule: "queue_fill", queued: 5, wantValue: 1, wantFiring: true, wantFor: QueueFillFor},
		{name: "try at 2x timeout is not stuck", rule: "stuck", after: 2 * time.Second, wantValue: 2},
		{name: "try past 3x timeout is stuck", rule: "stuck", after: 3500 * time.Millisecond, wantValue: 3.5, wantFiring: true},
		{name: "balanced books", rule: "missing"},
		{name: "a leak fires", rule: "missing", corrupt: true, wantValue: 1, wantFiring: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			k := New(Config{Name: "s3", Concurrency: 1, QueueLimit: 5, Timeout: time.Second, Now: clk.Now})
			b := newBlocker()
			defer func() {
				close(b.release)
				if err := k.WaitIdle(t.Context()); err != nil {
					t.Errorf("WaitIdle: %v", err)
				}
			}()
			for i := range 1 + tt.queued {
				if err := k.Go(context.Background(), "s3:put", b.fn("s3:put"), nil); err != nil {
					t.Fatalf("Go %d: %v", i, err)
				}
			}
			<-b.started
			clk.Advance(tt.after)
			if tt.corrupt {
				k.mu.Lock()
				k.accepted++
				k.mu.Unlock()
				defer func() { k.mu.Lock(); k.accepted--; k.mu.Unlock() }()
			}
			r := ruleNamed(t, k.Rules(), "bookkeeper.s3."+tt.rule)
			if r.For != tt.wantFor {
				t.Errorf("For: got %v, want %v", r.For, tt.wantFor)
			}
			if v, firing := r.Check(clk.Now()); v != tt.wantValue || firing != tt.wantFiring {
				t.Errorf("check: got %v %v, want %v %v", v, firing, tt.wantValue, tt.wantFiring)
			}
		})
	}
}

func TestStats(t *testing.T) {
	clk := newFakeClock()
	k := New(Config{Name: "webhook", Concurrency: 1, QueueLimit: 200, Timeout: 2 * time.Second, MaxTries: 4, Now: clk.Now})
	b := newBlocker()
	const n = StatsInFlightLimit + 5
	for i := range n {
		if err := k.Go(context.Background(), fmt.Sprintf("webhook:%d", i), b.fn(""), nil); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	<-b.started

	s := k.Stats()
	close(b.release)
	if err := k.WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(s.InFlight) != StatsInFlightLimit || s.InFlightOmitted != 5 {
		t.Errorf("in flight: got %d listed and %d omitted, want %d and 5", len(s.InFlight), s.InFlightOmitted, StatsInFlightLimit)
	}
	if want := (InFlight{Op: "webhook:0", State: "on_wire", Try: 1, AgeMS: n * 1000, StateAgeMS: n * 1000}); s.InFlight[0] != want {
		t.Errorf("oldest in flight: got %+v, want %+v", s.InFlight[0], want)
	}
	if want := (InFlight{Op: "webhook:1", State: "in_queue", Try: 0, AgeMS: (n - 1) * 1000, StateAgeMS: (n - 1) * 1000}); s.InFlight[1] != want {
		t.Errorf("next in flight: got %+v, want %+v", s.InFlight[1], want)
	}
	if s.OldestAgeMS != n*1000 || s.LongestTryMS != n*1000 {
		t.Errorf("oldest age, longest try: got %d, %d ms, want %d", s.OldestAgeMS, s.LongestTryMS, n*1000)
	}

	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"name": "webhook", "accepted": float64(n), "attempted": 1.0, "ok": 0.0, "errors": 0.0,
		"retries": 0.0, "dropped": 0.0, "cancelled": 0.0, "in_queue": float64(n - 1), "on_wire": 1.0,
		"waiting_for_retry": 0.0, "missing": 0.0, "concurrency": 1.0, "queue_limit": 200.0,
		"timeout_ms": 2000.0, "max_tries": 4.0, "oldest_age_ms": float64(n * 1000),
		"in_flight_omitted": 5.0, "recent_tries": 0.0, "recent_errors": 0.0,
	} {
		if m[key] != want {
			t.Errorf("json %q: got %v, want %v", key, m[key], want)
		}
	}
	if _, ok := m["in_flight"].([]any); !ok {
		t.Errorf("json in_flight: got %T, want a list", m["in_flight"])
	}
}

func TestPanicIsCountedAndReleasesTheSlot(t *testing.T) {
	k := New(Config{Name: "s3", Concurrency: 1, QueueLimit: 1, Now: newFakeClock().Now})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		_ = k.Do(context.Background(), "s3:get", func(context.Context) error { panic("boom") })
	}()
	if err := k.Do(context.Background(), "s3:get", func(context.Context) error { return nil }); err != nil {
		t.Errorf("call after the panic: got %v, want nil", err)
	}
	checkCounts(t, k, counts{Accepted: 2, Attempted: 2, OK: 1, Errors: 1})
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryTimeouts(t *testing.T) {
	var s3Retry = func(err error) bool { return errors.Is(err, errRetry) }
	tests := []struct {
		name     string
		classify func(error) bool
		err      error
		want     bool
	}{
		{"deadline exceeded", RetryTimeouts, context.DeadlineExceeded, true},
		{"wrapped deadline exceeded", RetryTimeouts, fmt.Errorf("get x: %w", context.DeadlineExceeded), true},
		{"net timeout", RetryTimeouts, &net.OpError{Op: "read", Err: timeoutErr{}}, true},
		{"os deadline", RetryTimeouts, fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true},
		{"cancelled", RetryTimeouts, context.Canceled, false},
		{"other", RetryTimeouts, errFatal, false},
		{"any: the second one retries", RetryAny(RetryTimeouts, nil, s3Retry), errRetry, true},
		{"any: none retries", RetryAny(RetryTimeouts, s3Retry), errFatal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.classify(tt.err); got != tt.want {
				t.Errorf("classify(%v): got %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	s3 := New(Config{Name: "s3", Concurrency: 1})
	mongo := New(Config{Name: "mongo", Concurrency: 1})
	r := NewRegistry(s3, mongo)

	t.Run("duplicate name panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("Add of a second s3: got no panic, want one")
			}
		}()
		r.Add(New(Config{Name: "s3"}))
	})
	t.Run("stats in registration order", func(t *testing.T) {
		var names []string
		for _, s := range r.Stats() {
			names = append(names, s.Name)
		}
		if want := []string{"s3", "mongo"}; !slices.Equal(names, want) {
			t.Errorf("names: got %v, want %v", names, want)
		}
	})
	t.Run("rules of every keeper", func(t *testing.T) {
		if got := len(r.Rules()); got != 8 {
			t.Errorf("rules: got %d, want 8", got)
		}
	})
	t.Run("WaitIdle names the busy keeper", func(t *testing.T) {
		b := newBlocker()
		if err := mongo.Go(context.Background(), "mongo:insert", b.fn(""), nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := r.WaitIdle(ctx)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "mongo") || strings.Contains(err.Error(), "s3") {
			t.Errorf("WaitIdle: got %v, want a cancellation naming mongo only", err)
		}
		close(b.release)
		if err := r.WaitIdle(t.Context()); err != nil {
			t.Errorf("WaitIdle after release: got %v, want nil", err)
		}
	})
}
