package state

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"rampart/actions"
	"rampart/gamedata"
	"rampart/internal/testenv"
)

// seed20KB writes n saved players of about 20 KB each (a full reply window
// with padded results) and returns their ids.
func seed20KB(b *testing.B, blobs Blobs, prefix string, n int, clk *clock) []string {
	b.Helper()
	ids := make([]string, n)
	gd, err := gamedata.Embedded()
	if err != nil {
		b.Fatal(err)
	}
	pad := json.RawMessage(`{"note":"` + strings.Repeat("x", 280) + `"}`)
	for i := range ids {
		id := fmt.Sprintf("%s%d", prefix, i)
		p := Player{Schema: Schema, ID: id, Created: clk.Now().UnixMilli()}
		p.Base = actions.New(gd, clk.Now())
		for s := int64(1); s <= Replies; s++ {
			p.remember(Reply{Seq: s, OK: true, Result: pad})
		}
		p.LastSeq = Replies
		data, _ := encodePlayer(&p)
		if _, err := blobs.Put(context.Background(), Key(id), data, Cond{}); err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// reportPercentiles reports the p50 and p99 of d as <what>-p50-µs and
// <what>-p99-µs.
func reportPercentiles(b *testing.B, what string, d []time.Duration) {
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e3 }
	b.ReportMetric(at(0.50), what+"-p50-µs")
	b.ReportMetric(at(0.99), what+"-p99-µs")
}

// BenchmarkLoginSave measures login (S3 GET, decode, lease PUT) and the
// logout save (encode, conditional PUT) of a 20 KB player.
func BenchmarkLoginSave(b *testing.B) {
	targets := map[string]func(testing.TB) testenv.S3{"embedded": testenv.EmbeddedS3, "versitygw": testenv.VersityGW}
	for _, name := range []string{"embedded", "versitygw"} {
		b.Run(name, func(b *testing.B) {
			target := targets[name](b)
			blobs := newBlobs(b, target)
			clk := newClock()
			s := newStore(b, blobs, clk, "bench")
			ids := seed20KB(b, blobs, "p", b.N, clk)
			logins := make([]time.Duration, 0, b.N)
			saves := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for _, id := range ids {
				t0 := time.Now()
				res, err := s.DevLogin(context.Background(), id)
				logins = append(logins, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				sess, _ := s.Authenticate(res.Session)
				s.Apply(sess, []Action{ping(Replies + 1)})
				t0 = time.Now()
				if err := s.Logout(context.Background(), sess, 0); err != nil {
					b.Fatal(err)
				}
				saves = append(saves, time.Since(t0))
			}
			b.StopTimer()
			reportPercentiles(b, "login", logins)
			reportPercentiles(b, "save", saves)
		})
	}
}

// BenchmarkIdlePlayerMemory logs in 10,000 new players and reports the
// live heap they add, per player.
func BenchmarkIdlePlayerMemory(b *testing.B) {
	const n = 10_000
	blobs := newBlobs(b, testenv.EmbeddedS3(b))
	clk := newClock()
	for range b.N {
		s := newStore(b, blobs, clk, "bench")
		before := liveHeap()
		for i := range n {
			if _, err := s.DevLogin(context.Background(), fmt.Sprintf("m%d", i)); err != nil {
				b.Fatal(err)
			}
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/n, "B/player")
		runtime.KeepAlive(s)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
