package loadtest

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// Tests of the benchmark parts: A/B mixes and the server's own figures.

func TestABMixesAgainstServer(t *testing.T) {
	srv := server(t, openBudgets...)
	for _, mix := range []string{"healthz-vs-ping", "http-vs-ws"} {
		t.Run(mix, func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.IDPrefix = mix
			cfg.Mix = mix
			cfg.Conns = 3
			cfg.PlayersPerConn = 2
			cfg.Slice = 100 * time.Millisecond
			cfg.Duration = 800 * time.Millisecond
			cfg.ServerStats = true
			cfg.ServerPID = srv.Cmd.Process.Pid
			var progress bytes.Buffer
			rep, err := ExecuteAB(context.Background(), cfg, &progress)
			if err != nil {
				t.Fatalf("ExecuteAB: %v\n%s", err, progress.String())
			}
			if want := cfg.Conns * cfg.PlayersPerConn; rep.Checked != want || len(rep.Problems) > 0 {
				t.Errorf("checked %d players, problems %v; want %d, none", rep.Checked, rep.Problems, want)
			}
			if rep.A.Requests == 0 || rep.B.Requests == 0 || rep.Ratio <= 0 {
				t.Errorf("A %d requests, B %d, ratio %v: want both sides served", rep.A.Requests, rep.B.Requests, rep.Ratio)
			}
			if n := len(rep.A.RatesPerS) + len(rep.B.RatesPerS); n != 5 {
				t.Errorf("%d measured slices, want 5 (8 minus two warm-up slices and the last)", n)
			}
			if rep.A.Errors+rep.B.Errors != 0 || rep.A.RateLimitedRun+rep.B.RateLimitedRun != 0 {
				t.Errorf("errors: A %d, B %d; rate limited: A %d, B %d; want none with the budgets open",
					rep.A.Errors, rep.B.Errors, rep.A.RateLimitedRun, rep.B.RateLimitedRun)
			}
			if rep.Server == nil || len(rep.Server.Rows) == 0 {
				t.Errorf("no server rows: %+v", rep.Server)
			}
			if rep.A.ServerCPUPerReqUs <= 0 || rep.B.ServerCPUPerReqUs <= 0 {
				t.Errorf("server CPU per request A %v µs, B %v µs: want both read from /proc", rep.A.ServerCPUPerReqUs, rep.B.ServerCPUPerReqUs)
			}
			var out bytes.Buffer
			rep.WriteText(&out)
			if !strings.Contains(out.String(), "ratio B/A") || !strings.Contains(out.String(), "ledger OK") || strings.Contains(out.String(), "RATE-LIMITED") {
				t.Errorf("text report:\n%s", out.String())
			}
		})
	}
}

func TestTargetVsBAgainstTwoServers(t *testing.T) {
	a, b := server(t, openBudgets...), server(t, openBudgets...)
	cfg := testConfig(a.URL)
	cfg.IDPrefix = "tvb"
	cfg.Mix, cfg.TargetB = "target-vs-b", b.URL
	cfg.Conns, cfg.PlayersPerConn = 2, 3
	cfg.DeviceSalt = "tvb"
	cfg.Slice = 100 * time.Millisecond
	cfg.Duration = 600 * time.Millisecond
	cfg.ServerPID, cfg.ServerPIDB = a.Cmd.Process.Pid, b.Cmd.Process.Pid
	rep, err := ExecuteAB(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("ExecuteAB: %v", err)
	}
	if rep.Checked != 6 || rep.A.Requests == 0 || rep.B.Requests == 0 {
		t.Errorf("checked %d, A %d requests, B %d: want both servers played and 6 players checked", rep.Checked, rep.A.Requests, rep.B.Requests)
	}
	for _, srv := range []string{a.URL, b.URL} {
		checkEveryPlayerPlayed(t, srv, cfg)
	}
	if rep.A.ServerCPUPerReqUs <= 0 || rep.B.ServerCPUPerReqUs <= 0 {
		t.Errorf("server CPU per request A %v µs, B %v µs: want each server's read", rep.A.ServerCPUPerReqUs, rep.B.ServerCPUPerReqUs)
	}
	cfg.TargetB = ""
	if _, err := ExecuteAB(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "target-b") {
		t.Errorf("without --target-b: %v, want an error", err)
	}
}

func TestServerStatsAgainstServer(t *testing.T) {
	srv := server(t)
	cfg := testConfig(srv.URL)
	cfg.Mix = "ping"
	cfg.Duration = 1500 * time.Millisecond
	cfg.MeasureAfter = 500 * time.Millisecond
	cfg.ServerStats, cfg.ServerMem = true, true
	cfg.ServerPID = srv.Cmd.Process.Pid
	rep := execute(t, cfg)
	s := rep.Server
	if s == nil || s.Before == nil || s.Start == nil || s.End == nil {
		t.Fatalf("server report %+v: want before, start and end", s)
	}
	if s.Start.Online != int64(cfg.Players) {
		t.Errorf("online at window start %d, want %d", s.Start.Online, cfg.Players)
	}
	if s.WindowS < 0.9 || s.WindowS > 1.2 {
		t.Errorf("window %.2fs, want about 1s", s.WindowS)
	}
	if s.ActionsInWindow <= 0 || s.ActionsInWindow >= rep.Actions {
		t.Errorf("%d actions in the window of %d: want some, not all", s.ActionsInWindow, rep.Actions)
	}
	if s.WorstP99Row == "" || s.WorstMaxMs <= 0 || s.All.Calls == 0 || s.All.MaxMs < s.WorstMaxMs {
		t.Errorf("worst p99 row %q, worst max %v, ALL %d calls max %v: want the table read", s.WorstP99Row, s.WorstMaxMs, s.All.Calls, s.All.MaxMs)
	}
	if s.HeapPerPlayerB == 0 || s.Start.Goroutines == 0 || s.Start.HeapAlloc == 0 {
		t.Errorf("per player heap %v, goroutines at start %d, heap %d: want the server's memory read", s.HeapPerPlayerB, s.Start.Goroutines, s.Start.HeapAlloc)
	}
	if s.End.CPUS <= 0 || s.Start.RSSKiB <= 0 {
		t.Errorf("no /proc readings: %+v", s.End)
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	for _, want := range []string{"server, over the window", "per online player: heap"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoginStormReportsAllOnline(t *testing.T) {
	srv := server(t)
	cfg := testConfig(srv.URL)
	cfg.Players = 50
	cfg.RampUp = 0
	cfg.APM = 0.01
	cfg.Verify, cfg.FinalLogout = false, false
	rep := execute(t, cfg)
	// The figure is measured (a benchmark reports it), not judged here:
	// it must be there and lie within the run.
	if rep.AllOnlineS <= 0 || rep.AllOnlineS > rep.ElapsedS {
		t.Errorf("all online after %.3fs of a %.3fs run: want the moment the last sign-in answered", rep.AllOnlineS, rep.ElapsedS)
	}
	if rep.Requests["logout"] != 0 {
		t.Errorf("%d logouts with --logout=false", rep.Requests["logout"])
	}
}

func TestBenchConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no logout needs no verify", func(c *Config) { c.FinalLogout = false }, "--logout=false needs --verify=false"},
		{"measure after the end", func(c *Config) { c.MeasureAfter = c.Duration }, "measure-after"},
		{"A/B over ws", func(c *Config) { c.Mix = "http-vs-ws"; c.Transport = "ws" }, "chooses its own transports"},
		{"tiny slice", func(c *Config) { c.Mix = "healthz-vs-ping"; c.Slice = time.Millisecond }, "slice"},
		{"negative players per conn", func(c *Config) { c.Mix = "healthz-vs-ping"; c.PlayersPerConn = -1 }, "players-per-conn"},
		{"too many players", func(c *Config) { c.Mix = "target-vs-b"; c.TargetB = c.Target; c.Conns = 20_000; c.PlayersPerConn = 51 }, "players-per-conn"},
		{"a socket per player", func(c *Config) { c.Mix = "http-vs-ws"; c.Conns = 32; c.PlayersPerConn = 100 }, "open files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1")
			tc.mutate(&cfg)
			_, err := cfg.validate(context.Background(), 1024)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate: %v; want an error about %q", err, tc.want)
			}
		})
	}
}

func TestPlayersPerConn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		conns, ppc int
		want       int
	}{
		{"given", 3, 2, 2},
		{"default, production's 256 conns", 256, 0, 32},
		{"default, embedded's 32 conns", 32, 0, 256},
		{"default rounds up", 3, 0, 2731},
		{"default, more conns than players", 20_000, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Conns: tc.conns, PlayersPerConn: tc.ppc}
			if got := cfg.playersPerConn(); got != tc.want {
				t.Errorf("%d conns, --players-per-conn %d: %d per conn, want %d", tc.conns, tc.ppc, got, tc.want)
			}
		})
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("1234 (rampart serve) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 1000 50 rest")
	if cpu, err := parseStatCPU(stat, 100); err != nil || cpu != 3.25 {
		t.Errorf("parseStatCPU = %v, %v; want 3.25", cpu, err)
	}
	if _, err := parseStatCPU([]byte("garbage"), 100); err == nil {
		t.Error("parseStatCPU(garbage): no error")
	}
	var s ServerSnapshot
	parseMemStats([]byte("x\n# runtime.MemStats\n# HeapAlloc = 42\n# HeapInuse = 50\n# Stack = 7 / 9\n# Sys = 99\n# NumGC = 3\n"), &s)
	if s.HeapAlloc != 42 || s.HeapInuse != 50 || s.StackInuse != 7 || s.Sys != 99 {
		t.Errorf("parseMemStats: %+v", s)
	}
	if n := parseGoroutines([]byte("goroutine profile: total 17\n1 @ 0x1\n")); n != 17 {
		t.Errorf("parseGoroutines = %d, want 17", n)
	}
	if rss, err := procRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("procRSS = %d, %v", rss, err)
	}
}
