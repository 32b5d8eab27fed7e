package profiler

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// durations is a spread of realistic latencies, so parallel recorders hit
// different buckets the way real traffic does.
var durations = func() []time.Duration {
	ds := make([]time.Duration, 1024)
	x := uint64(88172645463325252)
	for i := range ds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		// 2 µs .. ~8 ms, log-uniform-ish.
		ds[i] = time.Duration(2000 << (x % 12) * (1 + x%7) / 4)
	}
	return ds
}()

// benchRow runs loop on each of b.RunParallel's goroutines with p's row
// name, allocations reported. loop owns its pb.Next loop, so what is timed
// is exactly that loop's body.
func benchRow(b *testing.B, p *Profiler, name string, loop func(r *Row, pb *testing.PB)) {
	r := p.Row(name)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) { loop(r, pb) })
}

// recordSpread records the durations in turn.
func recordSpread(r *Row, pb *testing.PB) {
	i := 0
	for pb.Next() {
		r.Record(durations[i&1023])
		i++
	}
}

// BenchmarkRecord is one measurement through a row pointer resolved once.
func BenchmarkRecord(b *testing.B) { benchRow(b, New(), "POST /api/v1/actions", recordSpread) }

// BenchmarkRecordByName includes the row lookup by name.
func BenchmarkRecordByName(b *testing.B) {
	p := New()
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("POST /api/v1/route%02d", i)
		p.Row(names[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p.Record(names[i%7], durations[i&1023])
			i++
		}
	})
}

// BenchmarkRecordSameValue is the worst case: every recorder bumps the same
// counter.
func BenchmarkRecordSameValue(b *testing.B) {
	benchRow(b, New(), "action:build", func(r *Row, pb *testing.PB) {
		for pb.Next() {
			r.Record(3 * time.Microsecond)
		}
	})
}

// BenchmarkRecordTimed is what a caller pays: two clock reads and a record.
func BenchmarkRecordTimed(b *testing.B) {
	benchRow(b, New(), "action:build", func(r *Row, pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			r.Record(time.Since(t0))
		}
	})
}

// BenchmarkRecordDisabled is the floor: SetEnabled(false).
func BenchmarkRecordDisabled(b *testing.B) {
	p := New()
	p.SetEnabled(false)
	benchRow(b, p, "action:build", recordSpread)
}

var sink atomic.Pointer[Table]

// BenchmarkTableMemory reports the heap held by a table of 100 entry points
// that have all recorded, and the cost of one snapshot of it.
func BenchmarkTableMemory(b *testing.B) {
	for _, c := range []struct{ sig, win int }{{1, 1}, {2, 1}, {2, 2}, {3, 1}, {3, 2}} {
		b.Run(fmt.Sprintf("sig=%d/window=%d", c.sig, c.win), func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p := NewWithOptions(Options{SigFigs: c.sig, WindowSigFigs: c.win})
			for i := range 100 {
				r := p.Row(fmt.Sprintf("POST /api/v1/route%02d", i))
				for _, d := range durations {
					r.Record(d)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapAlloc - before.HeapAlloc)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t := p.Snapshot(SinceReset)
				sink.Store(&t)
			}
			b.StopTimer()
			runtime.KeepAlive(p)
			b.ReportMetric(heap, "table-B")
			b.ReportMetric(heap/100, "row-B")
		})
	}
}

// BenchmarkRecordInFlight is BenchmarkRecord with in-flight tracking:
// Begin and End around each measurement instead of Record alone.
func BenchmarkRecordInFlight(b *testing.B) {
	t0 := time.Now()
	benchRow(b, New(), "POST /api/v1/actions", func(r *Row, pb *testing.PB) {
		i := 0
		for pb.Next() {
			f := r.Begin(t0)
			f.End(durations[i&1023])
			i++
		}
	})
}

// BenchmarkRecordTimedInFlight is BenchmarkRecordTimed with in-flight
// tracking: what api's timed wrapper pays per request.
func BenchmarkRecordTimedInFlight(b *testing.B) {
	benchRow(b, New(), "action:build", func(r *Row, pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			f := r.Begin(t0)
			f.End(time.Since(t0))
		}
	})
}
