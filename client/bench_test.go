package client_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rampart/client"
)

// cpuTime is this process's user+system CPU time: the client's cost, since
// the server runs in a process of its own.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds client-cpu-ns/op: what one op costs this process, which
// bounds how many players one core of load generator can drive.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "client-cpu-ns/op")
}

func BenchmarkDoHTTP(b *testing.B)    { benchDo(b, modes[0]) }
func BenchmarkDoHTTPRaw(b *testing.B) { benchDo(b, modes[1]) }
func BenchmarkDoWS(b *testing.B)      { benchDo(b, modes[2]) }

// benchDo times Do against the real server over loopback: one session
// sending batches of pings back to back, and sessions on every CPU.
func benchDo(b *testing.B, tr mode) {
	p := startServer(b)
	c := newClient(b, p.URL, tr.opt())
	ctx := context.Background()
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, err := c.DevLogin(ctx, uniqueID("bench-"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			acts := make([]client.Action, n)
			for i := range acts {
				acts[i] = client.Act("ping", "")
			}
			res := make([]client.Result, 0, n)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				if res, err = s.DoAppend(ctx, res[:0], acts...); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
	b.Run("parallel", func(b *testing.B) {
		var failed atomic.Value
		b.ReportAllocs()
		b.SetParallelism(4)
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			s, err := c.DevLogin(ctx, uniqueID("benchp-"))
			if err != nil {
				failed.Store(err)
				return
			}
			defer s.Close()
			act := client.Act("ping", "")
			res := make([]client.Result, 0, 1)
			for pb.Next() {
				if res, err = s.DoAppend(ctx, res[:0], act); err != nil {
					failed.Store(err)
					return
				}
			}
		})
		reportCPU(b, cpu)
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkIdleSessions measures what an idle session costs the client:
// heap bytes and goroutines, for 500 signed-in sessions. Run with
// -benchtime=1x; b.N only repeats the measurement.
func BenchmarkIdleSessions(b *testing.B) {
	p := startServer(b)
	const n = 500
	for _, tr := range modes {
		b.Run(tr.String(), func(b *testing.B) {
			c := newClient(b, p.URL, tr.opt())
			ctx := context.Background()
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				sessions := make([]*client.Session, n)
				for i := range sessions {
					s, err := c.DevLogin(ctx, uniqueID("idle-"))
					if err != nil {
						b.Fatal(err)
					}
					s.TakeLoginPlayer()
					if _, err := s.Do(ctx, client.Act("ping", "")); err != nil {
						b.Fatal(err)
					}
					sessions[i] = s
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/session")
				b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stack-B/session")
				b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/session")
				for _, s := range sessions {
					s.Close()
				}
			}
		})
	}
}
