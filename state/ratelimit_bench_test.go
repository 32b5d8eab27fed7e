package state

import (
	"context"
	"sync/atomic"
	"testing"

	"rampart/internal/testenv"
)

// BenchmarkRateLimit is what the per-player budget costs each request
// (Store.Allow: one x/time/rate AllowN), alone and with every core
// spending budgets of different players at once.
func BenchmarkRateLimit(b *testing.B) {
	blobs := newBlobs(b, testenv.EmbeddedS3(b))
	s := rateStore(b, blobs, 1e9, 1<<30)
	const players = 64
	sessions := make([]Session, players)
	for i := range sessions {
		res, err := s.DevLogin(context.Background(), "rl"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		if err != nil {
			b.Fatal(err)
		}
		if sessions[i], err = s.Authenticate(res.Session); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, _ := s.Allow(sessions[0]); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			sess := sessions[next.Add(1)%players]
			for pb.Next() {
				s.Allow(sess)
			}
		})
	})
	b.Run("refused", func(b *testing.B) {
		// Past the budget: the answer plus its Retry-After.
		tight := rateStore(b, blobs, 1e-9, 1)
		res, err := tight.DevLogin(context.Background(), "tight")
		if err != nil {
			b.Fatal(err)
		}
		sess, _ := tight.Authenticate(res.Session)
		tight.Allow(sess)
		b.ReportAllocs()
		for b.Loop() {
			if ok, after := tight.Allow(sess); ok || after <= 0 {
				b.Fatal("allowed")
			}
		}
	})
}

func rateStore(b *testing.B, blobs Blobs, limit float64, burst int) *Store {
	b.Helper()
	return NewStore(Config{ServerID: "bench-" + NewSessionID(), RateLimit: limit, RateBurst: burst}, testDeps(b, blobs, nil))
}
