package bookkeeper

import (
	"context"
	"sync"
	"testing"
	"time"
)

func noop(context.Context) error { return nil }

// BenchmarkDo measures what tracking costs per call with a no-op fn: the
// "direct" case is the bare call, for comparison.
func BenchmarkDo(b *testing.B) {
	observe := func(string, time.Duration) {}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"timeout=0", Config{Name: "bench", Concurrency: 64, QueueLimit: 1024, MaxTries: 3, Retryable: RetryTimeouts}},
		{"timeout=0,observe", Config{Name: "bench", Concurrency: 64, QueueLimit: 1024, MaxTries: 3, Retryable: RetryTimeouts, Observe: observe}},
		{"timeout=0,no_limits", Config{Name: "bench", MaxTries: 3}},
		{"timeout=1s", Config{Name: "bench", Concurrency: 64, QueueLimit: 1024, Timeout: time.Second, MaxTries: 3, Retryable: RetryTimeouts}},
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			_ = noop(ctx)
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			k := New(c.cfg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := k.Do(ctx, "bench:noop", noop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("timeout=0,parallel", func(b *testing.B) {
		k := New(Config{Name: "bench", Concurrency: 64, QueueLimit: 1 << 20, MaxTries: 3})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := k.Do(ctx, "bench:noop", noop); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGo measures the asynchronous form, goroutine included.
func BenchmarkGo(b *testing.B) {
	k := New(Config{Name: "bench", Concurrency: 64, MaxTries: 3})
	ctx := context.Background()
	var wg sync.WaitGroup
	done := func(error) { wg.Done() }
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		if err := k.Go(ctx, "bench:noop", noop, done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}
