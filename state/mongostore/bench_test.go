package mongostore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rampart/state"
)

// BenchmarkAnalyticsThroughput measures the events per second the pipeline
// sustains into each FerretDB backend (with the events indexes), for
// several batch sizes. The queue holds all b.N events, so none is dropped
// and the figure is the insert rate: emit b.N, then Flush.
//
//	go test -run '^$' -bench AnalyticsThroughput -benchtime 20000x ./state/mongostore/
func BenchmarkAnalyticsThroughput(b *testing.B) {
	for _, target := range mongoTargets() {
		b.Run(target.name, func(b *testing.B) { benchmarkAnalyticsThroughput(b, target) })
	}
}

func benchmarkAnalyticsThroughput(b *testing.B, target mongoTarget) {
	ctx := context.Background()
	_, client := startMongo(b, target)
	for _, batch := range []int{100, 500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(ctx, client, fmt.Sprint("bench", batch), mongoKeeper(3, 30*time.Second), testLog(b))
			if err != nil {
				b.Fatal(err)
			}
			a := NewAnalytics(s, AnalyticsConfig{QueueSize: b.N, MaxBatch: batch})
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go a.Run(rctx)
			e := state.Event{Player: "player-0001", Kind: "action", Name: "upgrade", OK: true,
				Duration: 42 * time.Microsecond, Deltas: map[string]int64{"gold": -500, "elixir": -20}}
			t0 := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				e.Time = t0.Add(time.Duration(i) * time.Millisecond)
				a.Emit(e)
			}
			if err := a.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := a.Stats()
			if st.Inserted != int64(b.N) {
				b.Fatalf("stats %+v: want all %d inserted", st, b.N)
			}
			b.ReportMetric(float64(st.Inserted)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Batches), "batches")
		})
	}
}
