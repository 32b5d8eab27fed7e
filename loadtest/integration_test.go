package loadtest

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestAgainstServer drives a real server: set RAMPART_LOADTEST_TARGET to
// its base URL (for example http://127.0.0.1:8080), and optionally
// RAMPART_LOADTEST_TRANSPORT (http or ws) and RAMPART_LOADTEST_PLAYERS.
// It fails on any ledger mismatch, transport error or HTTP error.
func TestAgainstServer(t *testing.T) {
	target := os.Getenv("RAMPART_LOADTEST_TARGET")
	if target == "" {
		t.Skip("RAMPART_LOADTEST_TARGET is not set")
	}
	for _, transport := range transportsToTest() {
		t.Run(transport, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Target = target
			cfg.Transport = transport
			cfg.Players = 50
			if n, err := strconv.Atoi(os.Getenv("RAMPART_LOADTEST_PLAYERS")); err == nil && n > 0 {
				cfg.Players = n
			}
			cfg.IDPrefix = "itest-" + transport + "-" + strconv.FormatInt(time.Now().Unix(), 36)
			cfg.RampUp = time.Second
			cfg.Duration = 5 * time.Second
			cfg.APM = 120
			cfg.Conns = 8
			cfg.Session = 2 * time.Second
			checkAgainstServer(t, cfg)
		})
	}
}

func transportsToTest() []string {
	if tr := os.Getenv("RAMPART_LOADTEST_TRANSPORT"); tr != "" {
		return []string{tr}
	}
	return []string{"http", "ws"}
}

// checkAgainstServer runs cfg and fails the test on anything a correct
// server never shows.
func checkAgainstServer(t *testing.T, cfg Config) *Report {
	t.Helper()
	var progress bytes.Buffer
	rep, err := Execute(context.Background(), cfg, &progress)
	if rep != nil {
		var text bytes.Buffer
		rep.WriteText(&text)
		t.Logf("progress:\n%s\n%s", progress.String(), text.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ledger.Mismatches > 0 {
		t.Errorf("ledger: %d players with problems, want 0", rep.Ledger.Mismatches)
	}
	if rep.Ledger.Checked != cfg.Players {
		t.Errorf("ledger checked %d players, want %d", rep.Ledger.Checked, cfg.Players)
	}
	if len(rep.TransportErrors) > 0 || len(rep.HTTPErrors) > 0 {
		t.Errorf("transport errors %v, HTTP errors %v; want none", rep.TransportErrors, rep.HTTPErrors)
	}
	if rep.Actions == 0 {
		t.Error("no actions answered")
	}
	return rep
}
