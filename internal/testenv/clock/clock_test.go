package clock

import (
	"slices"
	"testing"
	"time"
)

func TestAdvanceFiresDueTimersInOrder(t *testing.T) {
	c := New(Default)
	var fired []string
	c.AfterFunc(3*time.Second, func() { fired = append(fired, "3s") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "1s") })
	stop := c.AfterFunc(2*time.Second, func() { fired = append(fired, "2s") })
	c.AfterFunc(time.Hour, func() { fired = append(fired, "1h") })
	if !stop() || stop() {
		t.Fatal("stop: want true once, then false")
	}
	c.Advance(5 * time.Second)
	if want := []string{"1s", "3s"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if got, want := c.Now(), Default.Add(5*time.Second); !got.Equal(want) {
		t.Fatalf("now %v, want %v", got, want)
	}
	c.Set(Default.Add(2 * time.Hour))
	if len(fired) != 3 || fired[2] != "1h" {
		t.Fatalf("after Set: fired %v, want the 1h timer too", fired)
	}
}
