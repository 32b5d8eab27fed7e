package testenv

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestReceive: a value that is there is returned; none within the bound
// fails the test with the failure text.
func TestReceive(t *testing.T) {
	ready := make(chan int, 1)
	ready <- 7
	if got := Receive(t, ready, time.Minute, "no value"); got != 7 {
		t.Errorf("Receive = %d, want 7", got)
	}
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine that calls it
		defer close(done)
		Receive(rec, make(chan int), time.Millisecond, "nothing came")
		rec.returned = true
	}()
	<-done
	if want := "nothing came (waited 1ms)"; rec.msg != want || rec.returned {
		t.Errorf("on timeout: message %q, returned %v; want %q and no return", rec.msg, rec.returned, want)
	}
}

// fatalRecorder records Fatalf instead of failing, and ends the goroutine
// as Fatalf does.
type fatalRecorder struct {
	testing.TB
	msg      string
	returned bool
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
