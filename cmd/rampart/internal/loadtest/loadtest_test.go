package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Tests in this file run against the stand-in server of fake_test.go.

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

func TestExecuteAgainstStandIn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"http raw", func(c *Config) {}},
		{"http std", func(c *Config) { c.Client = "std" }},
		{"http batches and sessions", func(c *Config) { c.Batch = 4; c.Session = 400 * time.Millisecond }},
		{"ping mix", func(c *Config) { c.Mix = "ping" }},
		{"ws", func(c *Config) { c.Transport = "ws" }},
		{"ws sessions", func(c *Config) { c.Transport = "ws"; c.Session = 400 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, url := newFakeServer(t, faults{})
			cfg := fakeConfig(url)
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
			if rep.PeakOnline == 0 || rep.PeakOnline > int64(cfg.Players) {
				t.Errorf("peak online %d, want 1..%d", rep.PeakOnline, cfg.Players)
			}
			if cfg.Mix == "standard" && rep.ExpectedFailures["unknown_action"] == 0 {
				t.Errorf("expected failures %v, want some unknown_action", rep.ExpectedFailures)
			}
			fake.mu.Lock()
			online := len(fake.sessions)
			fake.mu.Unlock()
			if online != 0 {
				t.Errorf("%d sessions still open at the server after the run, want 0", online)
			}
			var text bytes.Buffer
			rep.WriteText(&text)
			if !strings.Contains(text.String(), "ledger OK") {
				t.Errorf("text report lacks the ledger verdict:\n%s", text.String())
			}
		})
	}
}

func TestLedgerCatchesFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     faults
		cfg   func(*Config)
		want  string // in some problem
		clean bool   // no problems expected
	}{
		{name: "lost acknowledged action", f: faults{loseOnLogout: true}, want: "was lost"},
		{name: "applied twice", f: faults{applyTwice: true}, want: "applied again"},
		{name: "lost replies are not mismatches", f: faults{dropEvery: 7}, clean: true},
		{name: "lost replies over batches", f: faults{dropEvery: 5}, cfg: func(c *Config) { c.Batch = 3 }, clean: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := newFakeServer(t, tc.f)
			cfg := fakeConfig(url)
			cfg.Players = 8
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			rep, err := Execute(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := rep.Ledger
			if tc.clean {
				if l.Mismatches != 0 {
					t.Errorf("mismatches %d, want 0: %v", l.Mismatches, l.Problems)
				}
				if rep.TransportErrors["eof"]+rep.TransportErrors["reset"] == 0 && rep.Moves["ping"].Duplicate == 0 {
					t.Errorf("transport errors %v; want the dropped replies to show", rep.TransportErrors)
				}
				return
			}
			if l.Mismatches == 0 {
				t.Fatalf("no mismatch found, want one mentioning %q", tc.want)
			}
			if !strings.Contains(strings.Join(l.Problems, "\n"), tc.want) {
				t.Errorf("problems %q, want one mentioning %q", l.Problems, tc.want)
			}
		})
	}
}

func TestRunJSONAndExitError(t *testing.T) {
	_, url := newFakeServer(t, faults{})
	var out, errOut bytes.Buffer
	args := []string{"--target", url, "--players", "5", "--ramp-up", "100ms", "--duration", "800ms",
		"--apm", "600", "--conns", "2", "--json"}
	if err := Run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.Players != 5 || rep.Ledger.Checked != 5 || rep.Latency["actions"].Count == 0 {
		t.Errorf("got players %d, checked %d, actions latency count %d; want 5, 5, >0",
			rep.Players, rep.Ledger.Checked, rep.Latency["actions"].Count)
	}

	_, bad := newFakeServer(t, faults{loseOnLogout: true})
	args[1] = bad
	out.Reset()
	if err := Run(context.Background(), args, &out, &errOut); err == nil || !strings.Contains(err.Error(), "ledger") {
		t.Errorf("Run against a server that loses actions: got error %v, want a ledger failure", err)
	}
}

func TestInterrupt(t *testing.T) {
	_, url := newFakeServer(t, faults{})
	cfg := fakeConfig(url)
	cfg.Duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	rep, err := Execute(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > 10*time.Second {
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
