package keepertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"rampart/bookkeeper"
)

// ErrRetry is the retryable failure: IsRetry is a Config.Retryable that
// retries it and nothing else.
var ErrRetry = errors.New("retryable")

// IsRetry reports whether err is ErrRetry.
func IsRetry(err error) bool { return errors.Is(err, ErrRetry) }

// Immediate is a Config.After whose backoff has passed at once.
func Immediate(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// Land runs three calls to op through k, one after the other: one ok, one
// failing for good, one failing with ErrRetry once and then ok (k retries
// it when its Config says so).
func Land(ctx context.Context, k *bookkeeper.Keeper, op string) {
	tries := 0
	for _, fn := range []func(context.Context) error{
		func(context.Context) error { return nil },
		func(context.Context) error { return errors.New("fatal") },
		func(context.Context) error {
			if tries++; tries == 1 {
				return ErrRetry
			}
			return nil
		},
	} {
		_ = k.Do(ctx, op, fn)
	}
}

// Hold returns the context to give reg's keepers calls in and block, a
// call that returns only when t ends. Then the calls are released and the
// context cancelled, and t fails unless reg drains within 10 s.
func Hold(t testing.TB, reg *bookkeeper.Registry) (ctx context.Context, block func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	t.Cleanup(func() {
		close(release)
		cancel()
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if err := reg.WaitIdle(wctx); err != nil {
			t.Errorf("keepers did not drain: %v", err)
		}
	})
	return ctx, func(context.Context) error { <-release; return nil }
}
