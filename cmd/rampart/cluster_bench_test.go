package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/client"
)

// BenchmarkClusterCPU: the same load per server on clusters of 1, 2 and
// 3 servers behind the committed haproxy config (versitygw and FerretDB
// as processes of their own): each server's players send pings on a
// fixed pace for the run. Reported per cluster size: server CPU per
// action (all servers' user+system time over all actions), and what
// crossed between servers per second (calls and forwarded requests).
// Nothing should grow with the cluster. Run it as
//
//	RAMPART_VERSITYGW=$PWD/bin/versitygw RAMPART_FERRETDB=$PWD/bin/ferretdb \
//	  go test -run '^$' -bench BenchmarkClusterCPU -benchtime 1x ./cmd/rampart/
func BenchmarkClusterCPU(b *testing.B) {
	const perServer = 40                // players per server
	const pace = 100 * time.Millisecond // each player's pause between pings
	window := 20 * time.Second
	if v := os.Getenv("BENCH_CLUSTER_WINDOW"); v != "" {
		window, _ = time.ParseDuration(v)
	}
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			for range b.N {
				_, nodes, _, hp := behindHaproxy(b, 3, n, "--log-level", "warn")
				ctx := context.Background()
				cl, err := client.New(hp.URL, client.WithRetries(20))
				if err != nil {
					b.Fatal(err)
				}
				players := perServer * n
				sessions := make([]*client.Session, players)
				for i := range players {
					dev := deviceID(fmt.Sprintf("cpu-%d-%03d", n, i))
					s, err := cl.SignInDevice(ctx, dev, true)
					if err != nil {
						b.Fatal(err)
					}
					// Signed in again as a returning player: the balancer
					// hashes the sign-in to the player's server (a handoff
					// moves it there when the first one landed elsewhere).
					if s, err = cl.SignInDevice(ctx, dev, false, client.KnownPlayer(s.PlayerID())); err != nil {
						b.Fatal(err)
					}
					sessions[i] = s
				}
				cpu0 := make([]time.Duration, n)
				cross0 := 0.0
				for i, p := range nodes {
					cpu0[i] = procCPU(b, p.Cmd.Process.Pid)
					cross0 += crossings(b, p.URL)
				}
				var acts atomic.Int64
				var wg sync.WaitGroup
				stop := time.Now().Add(window)
				t0 := time.Now()
				for _, s := range sessions {
					wg.Go(func() {
						for time.Now().Before(stop) {
							if _, err := s.Do(ctx, client.Act("ping", `{}`)); err != nil {
								b.Error(err)
								return
							}
							acts.Add(1)
							time.Sleep(pace) // the player's pace, on the wall clock
						}
					})
				}
				wg.Wait()
				took := time.Since(t0)
				var cpu time.Duration
				cross := -cross0
				for i, p := range nodes {
					cpu += procCPU(b, p.Cmd.Process.Pid) - cpu0[i]
					cross += crossings(b, p.URL)
				}
				b.ReportMetric(float64(cpu.Microseconds())/float64(acts.Load()), "server-cpu-µs/action")
				b.ReportMetric(float64(acts.Load())/took.Seconds(), "actions/s")
				b.ReportMetric(cross/took.Seconds(), "crossings/s")
			}
		})
	}
}

// procCPU is process pid's user+system CPU time so far.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start at ")".
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// crossings sums what a server sent to the others: calls and forwarded
// requests (its /metrics).
func crossings(tb testing.TB, base string) float64 {
	tb.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "rampart_cluster_calls_total ") || strings.HasPrefix(line, "rampart_cluster_forwarded_total ") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			sum += v
		}
	}
	return sum
}
