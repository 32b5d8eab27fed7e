package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"rampart/internal/testenv"
)

// Tests run against the real server (testenv.StartRampart starts the
// binary); faults are injected by a proxy in front of it (faults_test.go).

// server is a real `rampart serve` for a test (its runs sign up their own
// accounts, so subtests share it). Players sign in from one loopback
// address: no per-address sign-in budget.
func server(t *testing.T, extra ...string) *testenv.Rampart {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs against the real server")
	}
	return testenv.StartRampart(t, nil, append([]string{"--signin-rate", "0"}, extra...)...)
}

// openBudgets lifts the per-player request budget, for the closed-loop
// A/B mixes (as bench/e2e.sh does).
var openBudgets = []string{"--rate-limit", "100000", "--rate-burst", "100000"}

// testConfig is a short run against url.
func testConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.Target = url
	cfg.Players = 8
	cfg.RampUp = 100 * time.Millisecond
	cfg.Duration = 2 * time.Second
	cfg.APM = 600 // 10 a second: inside the server's per-player budget
	cfg.Conns = 4
	cfg.Drain = 20 * time.Second
	cfg.Timeout = 5 * time.Second
	return cfg
}

func execute(t *testing.T, cfg Config) *Report {
	t.Helper()
	var progress bytes.Buffer
	rep, err := Execute(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("Execute: %v\nprogress:\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "online=") {
		t.Errorf("no progress line in %q", progress.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			rep.WriteText(&b)
			t.Logf("progress:\n%s\nreport:\n%s", progress.String(), b.String())
		}
	})
	return rep
}

// onlineAt reads how many players the server has online.
func onlineAt(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/debug/players?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Online  int               `json:"online"`
		Players []json.RawMessage `json:"players"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("/debug/players: %v", err)
	}
	return max(v.Online, len(v.Players))
}

func TestExecuteAgainstServer(t *testing.T) {
	srv := server(t)
	var invalidSent int64 // over every standard-mix run
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"http raw", func(c *Config) {}},
		{"http std", func(c *Config) { c.Client = "std" }},
		{"http batches and sessions", func(c *Config) { c.Batch = 4; c.Session = 700 * time.Millisecond }},
		{"ping mix", func(c *Config) { c.Mix = "ping" }},
		{"ws", func(c *Config) { c.Transport = "ws" }},
		{"ws batches and sessions", func(c *Config) { c.Transport = "ws"; c.Batch = 3; c.Session = 700 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.IDPrefix = strings.ReplaceAll(tc.name, " ", "-")
			tc.mutate(&cfg)
			rep := execute(t, cfg)
			if rep.Ledger.Mismatches != 0 {
				t.Errorf("ledger mismatches %d, want 0: %v", rep.Ledger.Mismatches, rep.Ledger.Problems)
			}
			if rep.Ledger.Checked != cfg.Players {
				t.Errorf("ledger checked %d players, want %d", rep.Ledger.Checked, cfg.Players)
			}
			if rep.Actions == 0 || rep.Moves["ping"].OK == 0 {
				t.Errorf("got %d actions, %d ok pings; want some", rep.Actions, rep.Moves["ping"].OK)
			}
			if len(rep.HTTPErrors) != 0 || len(rep.TransportErrors) != 0 || len(rep.ActionFailures) != 0 {
				t.Errorf("errors: http %v transport %v actions %v; want none", rep.HTTPErrors, rep.TransportErrors, rep.ActionFailures)
			}
			if rep.Refused != 0 {
				t.Errorf("%d attempts refused at 10 actions/s per player, inside the budget of 20: want none", rep.Refused)
			}
			if rep.PeakOnline == 0 || rep.PeakOnline > int64(cfg.Players) {
				t.Errorf("peak online %d, want 1..%d", rep.PeakOnline, cfg.Players)
			}
			pr := rep.Prediction
			if pr.Divergences != 0 || pr.Actions == 0 || pr.StateChecks == 0 {
				t.Errorf("prediction %+v: want actions and state reads held against the rules, no divergence", pr)
			}
			// Every invalid move sent failed with its code. How many were sent
			// is chance (20 per mille of a few hundred moves), so that some
			// were is asked of the whole table below.
			for _, code := range []string{"unknown_action", "bad_args"} {
				m := rep.Moves["invalid:"+code]
				if m.Failed != m.Sent || rep.ExpectedFailures[code] != m.Sent {
					t.Errorf("invalid:%s: %+v, %d failed %s; want every one sent to fail with that code", code, m, rep.ExpectedFailures[code], code)
				}
				invalidSent += m.Sent
			}
			if n := onlineAt(t, srv.URL); n != 0 {
				t.Errorf("%d players still online at the server after the run, want 0", n)
			}
			var text bytes.Buffer
			rep.WriteText(&text)
			if !strings.Contains(text.String(), "ledger OK") || !strings.Contains(text.String(), "0 divergences") {
				t.Errorf("text report lacks the ledger or prediction verdict:\n%s", text.String())
			}
		})
	}
	if invalidSent == 0 && !t.Failed() {
		t.Error("no standard-mix run sent an invalid move (unknown_action, bad_args): the mix lost them")
	}
}

// Players past their budget are refused 429 and the client resends after
// Retry-After: the report counts it and says the figures are not the
// server's alone.
func TestReportCountsRefused(t *testing.T) {
	srv := server(t, "--rate-limit", "2", "--rate-burst", "2")
	cfg := testConfig(srv.URL)
	cfg.IDPrefix = "refused"
	cfg.Mix, cfg.Players, cfg.APM = "ping", 2, 6000 // 100 a second each
	cfg.Duration = time.Second
	rep := execute(t, cfg)
	if rep.Refused == 0 {
		t.Errorf("client refused 0 attempts at 100 actions/s on a budget of 2/s, want some")
	}
	if rep.Ledger.Mismatches != 0 {
		t.Errorf("ledger mismatches %d, want 0 (refused batches were applied once): %v", rep.Ledger.Mismatches, rep.Ledger.Problems)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "REFUSED") {
		t.Errorf("text report does not say the run was refused:\n%s", text.String())
	}
}

func TestRunJSONAndExitError(t *testing.T) {
	srv := server(t)
	var out, errOut bytes.Buffer
	args := []string{"--target", srv.URL, "--players", "5", "--ramp-up", "100ms", "--duration", "1s",
		"--apm", "600", "--conns", "2", "--id-prefix", "json", "--json"}
	if err := Run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.Players != 5 || rep.Ledger.Checked != 5 || rep.Latency["actions"].Count == 0 || rep.Prediction.Actions == 0 {
		t.Errorf("got players %d, checked %d, actions latency count %d, predicted %d; want 5, 5, >0, >0",
			rep.Players, rep.Ledger.Checked, rep.Latency["actions"].Count, rep.Prediction.Actions)
	}

	bad := tamper(t, srv.URL, faults{loseOnSignIn: true})
	args[1] = bad
	out.Reset()
	if err := Run(context.Background(), args, &out, &errOut); err == nil || !strings.Contains(err.Error(), "ledger") {
		t.Errorf("Run against a server that loses actions: got error %v, want a ledger failure", err)
	}
}

func TestInterrupt(t *testing.T) {
	srv := server(t)
	cfg := testConfig(srv.URL)
	cfg.IDPrefix = "interrupt"
	cfg.Duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	rep, err := Execute(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > 15*time.Second {
		t.Errorf("interrupted run took %v", took)
	}
	if !rep.Interrupted || rep.Ledger.Mismatches != 0 || rep.Ledger.Checked != cfg.Players {
		t.Errorf("interrupted %v, mismatches %d, checked %d; want true, 0, %d",
			rep.Interrupted, rep.Ledger.Mismatches, rep.Ledger.Checked, cfg.Players)
	}
}

func TestUnreachableTargetFailsFast(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Target = "http://127.0.0.1:1" // nothing listens on port 1
	t0 := time.Now()
	_, err := Execute(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("got %v, want a cannot-reach error", err)
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("took %v to give up", took)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default", func(c *Config) {}, ""},
		{"localhost", func(c *Config) { c.Target = "http://localhost:9" }, ""},
		{"ipv6 loopback", func(c *Config) { c.Target = "http://[::1]:9" }, ""},
		{"remote refused", func(c *Config) { c.Target = "http://192.0.2.1:80" }, "allow-remote"},
		{"remote allowed", func(c *Config) { c.Target = "http://192.0.2.1:80"; c.AllowRemote = true }, ""},
		{"bad scheme", func(c *Config) { c.Target = "ftp://127.0.0.1" }, "scheme"},
		{"raw over https", func(c *Config) { c.Target = "https://127.0.0.1" }, "client raw"},
		{"unknown mix", func(c *Config) { c.Mix = "chaos" }, "mix"},
		{"ramp-up past duration", func(c *Config) { c.RampUp = c.Duration }, "ramp-up"},
		{"too many sockets", func(c *Config) { c.Transport = "ws"; c.Players = 50_000 }, "open files"},
		{"bad prefix", func(c *Config) { c.IDPrefix = "a b" }, "id-prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			_, err := cfg.validate(context.Background(), 20_000)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestFileLimit: the Go runtime raised the soft open-file limit to the
// hard one at start, which the load generator relies on instead of
// raising it itself.
func TestFileLimit(t *testing.T) {
	soft, hard, err := FileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if soft != hard || soft < 1024 {
		t.Fatalf("open file limit soft %d, hard %d: want the runtime to have raised soft to hard", soft, hard)
	}
}

func TestDeviceID(t *testing.T) {
	tests := []struct{ name, salt string }{
		{"a", "b"}, {"lt-1-0", "s1"}, {strings.Repeat("n", 32) + "-99-9999999", strings.Repeat("s", 64)}, {"lt-1-0", randomSalt()},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		d := deviceID(tt.name, tt.salt)
		if len(d) < 16 || len(d) > 128 || !validIDChars(d) {
			t.Errorf("deviceID(%q, %q) = %q: want 16-128 characters of [A-Za-z0-9_-]", tt.name, tt.salt, d)
		}
		if seen[d] {
			t.Errorf("deviceID(%q, %q) = %q twice", tt.name, tt.salt, d)
		}
		seen[d] = true
	}
}
