package wschoice

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const idleConns = 2000

func addrOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func memSnapshot() runtime.MemStats {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms
}

// BenchmarkIdleConnMemory opens idleConns idle connections from the raw
// client to each server and reports the server-side heap (HeapInuse delta
// after GC) and goroutine stack (StackInuse delta) per connection. The client
// side (one net.Conn each, no goroutine) is identical for every server and is
// bounded by the "raw-hold" floor, which holds hijacked conns with nothing else.
// Run with -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, lib := range libs {
		for _, detach := range []bool{false, true} {
			shape := "inhandler"
			if detach {
				shape = "detached"
			}
			b.Run(lib.name+"/"+shape, func(b *testing.B) {
				benchIdle(b, func(t *tracker) (http.Handler, func()) { return lib.handler(t, detach), func() {} })
			})
		}
	}
	b.Run("raw-hold", func(b *testing.B) {
		benchIdle(b, func(t *tracker) (http.Handler, func()) {
			held := make(chan io.Closer, idleConns+1)
			return rawHoldHandler(t, held), func() {
				for len(held) > 0 {
					(<-held).Close()
				}
			}
		})
	})
}

func benchIdle(b *testing.B, mk func(*tracker) (http.Handler, func())) {
	var heap, stack, gor float64
	for i := 0; i < b.N; i++ {
		t := &tracker{}
		h, release := mk(t)
		srv := httptest.NewServer(h)
		addr := addrOf(srv)
		clients := make([]net.Conn, 0, idleConns)
		// Warm up: one connection through the whole path so lazily
		// initialised package state is not charged to the measurement.
		if c, err := dialRaw(addr); err != nil {
			b.Fatal(err)
		} else {
			clients = append(clients, c)
		}
		waitFor(b, "warm-up conn", func() bool { return t.up.Load() == 1 })

		before := memSnapshot()
		g0 := runtime.NumGoroutine()
		for len(clients) < idleConns+1 {
			c, err := dialRaw(addr)
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
		}
		waitFor(b, "server conns", func() bool { return t.up.Load() == idleConns+1 })
		time.Sleep(200 * time.Millisecond)
		after := memSnapshot()
		g1 := runtime.NumGoroutine()

		heap = (float64(after.HeapInuse) - float64(before.HeapInuse)) / idleConns
		stack = (float64(after.StackInuse) - float64(before.StackInuse)) / idleConns
		gor = float64(g1-g0) / idleConns

		for _, c := range clients {
			c.Close()
		}
		release()
		t.wg.Wait()
		srv.Close()
	}
	b.ReportMetric(heap, "heapB/conn")
	b.ReportMetric(stack, "stackB/conn")
	b.ReportMetric(heap+stack, "B/conn")
	b.ReportMetric(gor, "goroutines/conn")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEcho measures request→reply round trips through the server's
// reader → handler → writer-channel path, over 1 and 64 concurrent
// connections, each client doing one request at a time. One op is one round
// trip; allocs/op are almost all the server's (the client allocates nothing).
func BenchmarkEcho(b *testing.B) {
	for _, lib := range libs {
		for _, conns := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/conns=%d", lib.name, conns), func(b *testing.B) {
				benchEcho(b, lib, conns)
			})
		}
	}
}

func benchEcho(b *testing.B, lib serverLib, conns int) {
	t := &tracker{}
	srv := httptest.NewServer(lib.handler(t, true))
	defer srv.Close()
	addr := addrOf(srv)
	clients := make([]*echoClient, conns)
	for i := range clients {
		c, err := newEchoClient(addr, sampleRequest(int64(i)))
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
		// Warm up and check the reply once.
		p, err := c.roundTrip()
		if err != nil {
			b.Fatal(err)
		}
		var rep reply
		if err := json.Unmarshal(p, &rep); err != nil || rep.ID != int64(i) || !rep.OK {
			b.Fatalf("bad reply %q: %v", p, err)
		}
	}
	defer func() {
		for _, c := range clients {
			c.nc.Close()
		}
		t.wg.Wait()
	}()

	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := c.roundTrip(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// Process CPU (user+sys, client included: identical for every server)
	// per round trip; steadier than msgs/s on a shared, loaded machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
