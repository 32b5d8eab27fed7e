package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"rampart/client"
)

// checkEveryPlayerPlayed signs every player of the A/B run cfg in again on
// the server at url (its device, no sign-up) and wants a seq applied: each
// of conns × players-per-conn players exists and was played.
func checkEveryPlayerPlayed(t *testing.T, url string, cfg Config) {
	t.Helper()
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Conns * cfg.playersPerConn()
	for i := range n {
		id := cfg.playerID(i)
		s, err := c.SignInDevice(context.Background(), deviceID(id, cfg.DeviceSalt), false)
		if err != nil {
			t.Errorf("player %d of %d (%s) on %s: %v", i, n, id, url, err)
			continue
		}
		ps, err := s.Player(context.Background())
		if err != nil {
			t.Errorf("player %s: read: %v", id, err)
		} else if ps.LastSeq == 0 {
			t.Errorf("player %s: last_seq 0, want pings applied: every player gets its turn", id)
		}
		s.Close()
	}
}

func TestABPlaysEveryPlayer(t *testing.T) {
	srv := server(t, openBudgets...)
	for _, tc := range []struct {
		name  string
		mix   string
		conns int
		ppc   int
	}{
		{"one player per conn", "healthz-vs-ping", 2, 1},
		{"four per conn", "healthz-vs-ping", 2, 4},
		{"over sockets", "http-vs-ws", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.IDPrefix = "ppc" + strconv.Itoa(tc.ppc) + strings.ReplaceAll(tc.mix, "-", "")
			cfg.DeviceSalt = "ab"
			cfg.Mix, cfg.Conns, cfg.PlayersPerConn = tc.mix, tc.conns, tc.ppc
			cfg.Slice = 100 * time.Millisecond
			cfg.Duration = 600 * time.Millisecond
			rep, err := ExecuteAB(context.Background(), cfg, nil)
			if err != nil {
				t.Fatalf("ExecuteAB: %v", err)
			}
			want := tc.conns * tc.ppc
			if rep.Players != want || rep.PlayersPerConn != tc.ppc {
				t.Errorf("report: %d players, %d per conn; want %d, %d", rep.Players, rep.PlayersPerConn, want, tc.ppc)
			}
			if rep.Checked != want || len(rep.Problems) > 0 {
				t.Errorf("ledger checked %d players, problems %v; want %d, none", rep.Checked, rep.Problems, want)
			}
			if rep.B.PlayerRatePerS <= 0 || rep.B.PlayerRatePerS > rep.B.RatePerS/float64(want)+0.1 {
				t.Errorf("per player %v/s of %v/s over %d players", rep.B.PlayerRatePerS, rep.B.RatePerS, want)
			}
			checkEveryPlayerPlayed(t, srv.URL, cfg)
		})
	}
}

// A server with a budget of 2 requests/s per player: a closed loop over
// few players runs into it at once. Only pings spend a player's budget
// (GET /healthz has no player).
func TestABCountsRateLimited(t *testing.T) {
	low := server(t, "--rate-limit", "2", "--rate-burst", "2")
	open := server(t, openBudgets...)
	for _, tc := range []struct {
		name    string
		url     string
		mix     string
		limited bool // some measured slice must have been refused
	}{
		{"low budget, healthz vs ping", low.URL, "healthz-vs-ping", true},
		{"low budget, http vs ws", low.URL, "http-vs-ws", true},
		{"open budget", open.URL, "healthz-vs-ping", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.url)
			cfg.IDPrefix = "rl" + strings.ReplaceAll(tc.mix, "-", "")
			cfg.Mix, cfg.Conns, cfg.PlayersPerConn = tc.mix, 2, 1
			// A refusal's Retry-After is a whole second: after it a
			// worker's budget is full again and runs out within the
			// next slice that pings, so the 2.5 measured seconds
			// (slices 2..9 of 12) must hold refusals.
			cfg.Slice = 250 * time.Millisecond
			cfg.Duration = 3 * time.Second
			rep, err := ExecuteAB(context.Background(), cfg, nil)
			if err != nil {
				t.Fatalf("ExecuteAB: %v", err)
			}
			var text, js bytes.Buffer
			rep.WriteText(&text)
			if err := writeReport(&js, rep, true, nil); err != nil {
				t.Fatal(err)
			}
			var back struct {
				RateLimited int64 `json:"rate_limited"`
				B           struct {
					RateLimited int64 `json:"rate_limited"`
				} `json:"b"`
			}
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			t.Logf("report:\n%s", text.String())
			if rep.RateLimited != rep.A.RateLimited+rep.B.RateLimited || back.RateLimited != rep.RateLimited {
				t.Errorf("rate limited %d (JSON %d), want A %d + B %d", rep.RateLimited, back.RateLimited, rep.A.RateLimited, rep.B.RateLimited)
			}
			for _, s := range []ABSide{rep.A, rep.B} {
				if s.RateLimited > s.RateLimitedRun {
					t.Errorf("%s: %d refused in measured slices, more than %d in the run", s.Name, s.RateLimited, s.RateLimitedRun)
				}
				if s.Errors != 0 {
					t.Errorf("%s: %d errors, want refusals counted as rate_limited, not errors", s.Name, s.Errors)
				}
			}
			if got := rep.RateLimited > 0; got != tc.limited {
				t.Errorf("rate limited in measured slices: %d, want some: %v", rep.RateLimited, tc.limited)
			}
			if got := strings.Contains(text.String(), "RATE-LIMITED") && strings.Contains(text.String(), "NOT the server's"); got != tc.limited {
				t.Errorf("text report warns of the budget: %v, want %v", got, tc.limited)
			}
			if tc.mix == "healthz-vs-ping" && rep.A.RateLimitedRun != 0 {
				t.Errorf("healthz refused %d times: it spends no player's budget", rep.A.RateLimitedRun)
			}
			if tc.mix == "healthz-vs-ping" && tc.limited && back.B.RateLimited != rep.B.RateLimited {
				t.Errorf("JSON b.rate_limited %d, want %d", back.B.RateLimited, rep.B.RateLimited)
			}
			// Refused pings were sent again with their seqs: the ledger holds.
			if rep.Checked != cfg.Conns || len(rep.Problems) > 0 {
				t.Errorf("ledger checked %d, problems %v; want %d, none", rep.Checked, rep.Problems, cfg.Conns)
			}
		})
	}
}

// The socket client of an A/B run hands a rate_limited error message back
// instead of resending it unseen (a socket refusal carries no
// Retry-After), so the run can count it.
func TestABSocketRefusalIsReturned(t *testing.T) {
	srv := server(t, "--rate-limit", "2", "--rate-burst", "2")
	cfg := testConfig(srv.URL)
	cfg.Mix = "http-vs-ws"
	cl, err := newABClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &abPlayer{id: "sock", device: deviceID("sock", "refusal")}
	if err := p.login(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	defer p.a.Close()
	defer p.ws.Close()
	w := &abWorker{}
	var refused *client.Error
	for i := 0; i < 10 && refused == nil; i++ {
		var ok bool
		ok, refused = w.ping(context.Background(), p, p.ws, &p.seq)
		if !ok && refused == nil {
			t.Fatalf("ping %d: %s, want served or refused", i, p.problem)
		}
	}
	if refused == nil || refused.Code != "rate_limited" {
		t.Fatalf("10 pings on a budget of 2: refusal %v, want rate_limited", refused)
	}
}
