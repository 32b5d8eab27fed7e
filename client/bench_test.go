package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
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

// BenchmarkFloorHTTP is the floor under BenchmarkDoHTTPRaw: the same
// request written and its reply read by hand on one connection, no
// library, so the difference is the client's own cost.
func BenchmarkFloorHTTP(b *testing.B) {
	p := startServer(b)
	c := newClient(b, p.URL)
	ctx := context.Background()
	s, err := c.DevLogin(ctx, uniqueID("floor-"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u, _ := url.Parse(p.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	var req, body []byte
	reply := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := range b.N {
		body = append(strconv.AppendInt(append(body[:0], `{"actions":[{"seq":`...), int64(i+1), 10), `,"name":"ping","args":{}}]}`...)
		req = append(req[:0], "POST /api/v1/actions HTTP/1.1\r\nHost: "+u.Host+"\r\nAuthorization: Bearer "+s.Token()+
			"\r\nContent-Type: application/json\r\nContent-Length: "...)
		req = append(strconv.AppendInt(req, int64(len(body)), 10), "\r\n\r\n"...)
		req = append(req, body...)
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "Content-Length") {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if n < 0 {
			b.Fatal("reply without Content-Length")
		}
		reply = reply[:n]
		if _, err := io.ReadFull(br, reply); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
