package testenv

import (
	"testing"
	"time"
)

// Receive is the next value on ch. If none comes within the bound, it
// fails tb with failure, which says what did not happen ("Run did not
// return after its context ended"): a test waits on a goroutine's result
// without sleeping, and a hang fails it instead of the whole suite.
func Receive[T any](tb testing.TB, ch <-chan T, within time.Duration, failure string) T {
	tb.Helper()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case v := <-ch:
		return v
	case <-t.C:
		tb.Fatalf("%s (waited %v)", failure, within)
		var zero T
		return zero
	}
}
