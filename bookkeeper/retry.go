package bookkeeper

import (
	"context"
	"errors"
	"net"
	"time"
)

// Backoff is the wait before retry n (1 for the first retry): the step
// min(ceiling, base·2^(n−1)), scaled by jitter ∈ [0, 1) into [step/2, step).
// Half the step is kept so that a server asking us to slow down (S3
// SlowDown) always gets a real pause; the other half spreads the retries of
// many callers that failed together.
func Backoff(base, ceiling time.Duration, n int, jitter float64) time.Duration {
	step := base
	for i := 1; i < n && step < ceiling; i++ {
		step *= 2
	}
	step = min(step, ceiling)
	jitter = min(jitter, 1)
	jitter = max(jitter, 0)
	return step/2 + time.Duration(float64(step/2)*jitter)
}

// RetryTimeouts is a retry classifier for the failures every channel shares:
// a try that ran out of time (context.DeadlineExceeded) and network
// timeouts (net.Error with Timeout()). Keeper never consults the classifier
// once the caller's ctx is done, so a caller's deadline is never retried:
// only the try's own.
func RetryTimeouts(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RetryAny returns a classifier that retries what any of fs retries, e.g.
// RetryAny(RetryTimeouts, s3Retryable).
func RetryAny(fs ...func(error) bool) func(error) bool {
	return func(err error) bool {
		for _, f := range fs {
			if f != nil && f(err) {
				return true
			}
		}
		return false
	}
}
