package main

// Behaviour under S3 faults (issue 5): the server runs against the embedded
// S3 through testenv.FaultProxy, which injects 503s, connection resets,
// lost replies, delays and whole outages. Simulated players keep a ledger of
// the highest seq the server acknowledged; after the faults stop, every
// player's saved last_seq must equal it.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rampart/bookkeeper"
	"rampart/internal/testenv"
	"rampart/profiler"
	"rampart/state"
	"rampart/web"
)

const (
	// loginBudget bounds a login while S3 is out: the s3 bookkeeper's
	// 3 tries × 2 s plus backoff, with room for a loaded test machine.
	loginBudget = 10 * time.Second
	errorRule   = "bookkeeper.s3.error_rate"
)

// faultClient is bounded, so that a server that hangs fails the test
// instead of stalling it.
var faultClient = &http.Client{Timeout: 30 * time.Second}

// reply is every answer of the API the fault tests read.
type reply struct {
	Session  string `json:"session"`
	PlayerID string `json:"player_id"`
	Player   struct {
		ID      string `json:"id"`
		LastSeq int64  `json:"last_seq"`
	} `json:"player"`
	Results []struct {
		Seq       int64 `json:"seq"`
		OK        bool  `json:"ok"`
		Duplicate bool  `json:"duplicate"`
	} `json:"results"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends a request and decodes a JSON answer into out. Safe to call from
// any goroutine.
func do(method, url, token, body string, out any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := faultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: answer %.200q is not JSON: %w", method, url, data, err)
		}
	}
	return resp.StatusCode, nil
}

// eventually polls cond until it reports true or within passes; the last
// description cond gave goes into the failure.
func eventually(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, within, state)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// faultEnv is a server whose S3 is the embedded one behind a FaultProxy.
type faultEnv struct {
	S3    testenv.S3
	Proxy *testenv.FaultProxy
	URL   string
	// Setup is what the proxy saw while the server started (EnsureBucket):
	// S3 calls outside the bookkeeper.
	Setup testenv.FaultCounts
}

// startFaultEnv starts the embedded S3, a fault proxy in front of it with no
// faults, and `rampart serve` on the proxy with autosave every second.
func startFaultEnv(t testing.TB, seed int64, extra ...string) *faultEnv {
	t.Helper()
	s3 := testenv.EmbeddedS3(t)
	p := testenv.StartFaultProxy(t, s3.Endpoint, seed)
	args := append([]string{"--s3-endpoint", p.URL, "--s3-access-key", s3.AccessKey, "--s3-secret-key-file", secretFile(t, s3.SecretKey),
		"--mongo-uri", "off", "--autosave", "1s",
		// The load here tests durability, not budgets: a player of the
		// load sends faster than a person, and all come from loopback.
		"--rate-limit", "100000", "--rate-burst", "100000", "--signin-rate", "0"}, extra...)
	url := runServer(t, t.TempDir(), args...)
	// Cleanups run last first: S3 is back before the server's shutdown
	// saves everyone.
	t.Cleanup(func() { p.SetFaults(testenv.Faults{}) })
	return &faultEnv{S3: s3, Proxy: p, URL: url, Setup: p.Counts()}
}

// secretFile writes a secret to a file of its own for a --…-file flag
// (secrets are refused on the command line).
func secretFile(tb testing.TB, secret string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// runServer is startServer for tests and benchmarks alike: `rampart serve`
// on a loopback port until tb ends, when it must shut down cleanly.
func runServer(tb testing.TB, dataDir string, extra ...string) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "error"}, extra...)
	go func() {
		err := run(ctx, args, func(string) string { return "" }, pw, io.Discard)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		tb.Fatalf("server did not start: %v", err)
	}
	go io.Copy(io.Discard, pr)
	tb.Cleanup(func() {
		cancel()
		if err := testenv.Receive(tb, done, 60*time.Second, "serve still draining after shutdown began"); err != nil {
			tb.Errorf("serve returned %v, want nil after a clean shutdown", err)
		}
	})
	return strings.TrimSpace(strings.TrimPrefix(line, "rampart listening on "))
}

// s3Stats reads the s3 bookkeeper's counters from /debug/bookkeepers.
func s3Stats(base string) (bookkeeper.Stats, error) {
	var doc web.BookkeepersJSON
	code, err := do("GET", base+"/debug/bookkeepers?format=json", "", "", &doc)
	if err != nil {
		return bookkeeper.Stats{}, err
	}
	if code != 200 {
		return bookkeeper.Stats{}, fmt.Errorf("/debug/bookkeepers: status %d", code)
	}
	for _, s := range doc.Bookkeepers {
		if s.Name == "s3" {
			return s, nil
		}
	}
	return bookkeeper.Stats{}, fmt.Errorf("/debug/bookkeepers lists no s3 bookkeeper: %+v", doc)
}

// balanced reports whether one snapshot's counters add up.
func balanced(s bookkeeper.Stats) error {
	sum := s.OK + s.Errors + s.Dropped + s.Cancelled + int64(s.InQueue+s.OnWire+s.WaitingForRetry)
	if s.Missing != 0 || s.Accepted != sum {
		return fmt.Errorf("s3 bookkeeper does not add up: accepted %d, ok+errors+dropped+cancelled+gauges %d, missing %d: %+v",
			s.Accepted, sum, s.Missing, s)
	}
	return nil
}

func mustS3Stats(t testing.TB, base string) bookkeeper.Stats {
	t.Helper()
	s, err := s3Stats(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := balanced(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// online reads /debug/players.
func online(base string) (map[string]state.OnlineInfo, error) {
	var doc web.PlayersJSON
	code, err := do("GET", base+"/debug/players?format=json&limit=100000", "", "", &doc)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/debug/players: status %d", code)
	}
	m := make(map[string]state.OnlineInfo, len(doc.Players))
	for _, p := range doc.Players {
		m[p.ID] = p
	}
	return m, nil
}

func mustOnline(t testing.TB, base string) map[string]state.OnlineInfo {
	t.Helper()
	m, err := online(base)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// alerts reads /debug/alerts.
func alerts(base string) (profiler.AlertsSnapshot, error) {
	var snap profiler.AlertsSnapshot
	code, err := do("GET", base+"/debug/alerts?format=json", "", "", &snap)
	if err == nil && code != 200 {
		err = fmt.Errorf("/debug/alerts: status %d", code)
	}
	return snap, err
}

// firing says whether rule is active, and whether it has resolved since it
// last fired (a resolved event newer than every firing one).
func firing(snap profiler.AlertsSnapshot, rule string) (active, resolved bool, desc string) {
	for _, e := range snap.Active {
		if e.Rule == rule {
			active = true
		}
	}
	for _, e := range snap.Recent { // newest first
		if e.Rule == rule {
			resolved = e.State == profiler.StateResolved
			break
		}
	}
	var rs []string
	for _, r := range snap.Rules {
		if r.Name == rule {
			rs = append(rs, fmt.Sprintf("%s value %.2f", r.State, r.Value))
		}
	}
	return active, resolved, fmt.Sprintf("active %v, resolved %v, rule %v", active, resolved, rs)
}

// waitAlert waits until rule fires (fire) or has resolved (!fire).
func waitAlert(t testing.TB, base, rule string, fire bool, within time.Duration) {
	t.Helper()
	what := rule + " fires"
	if !fire {
		what = rule + " resolves"
	}
	eventually(t, within, what, func() (bool, string) {
		snap, err := alerts(base)
		if err != nil {
			return false, err.Error()
		}
		active, resolved, desc := firing(snap, rule)
		if fire {
			return active, desc
		}
		return !active && resolved, desc
	})
}

// player is one simulated player and its ledger. A player is driven by one
// goroutine at a time.
type player struct {
	id    string // the test's name; the device id derives from it
	pid   string // the account's player id, once signed in
	base  string
	token string // "" while logged out
	seq   int64  // last seq sent
	acked int64  // highest seq the server acknowledged as applied
}

func newPlayers(base, prefix string, n int) []*player {
	ps := make([]*player, n)
	for i := range ps {
		ps[i] = &player{id: fmt.Sprintf("%s%02d", prefix, i), base: base}
	}
	return ps
}

// login logs in. A 200 must show the acknowledged last_seq (nothing lost);
// a 503 must be `unavailable`. It returns the status and how long it took.
func (p *player) login() (int, time.Duration, error) {
	var r reply
	t0 := time.Now()
	code, err := do("POST", p.base+"/api/v1/auth/device", "", `{"device_id":"`+deviceID(p.id)+`","create":true}`, &r)
	took := time.Since(t0)
	if err != nil {
		return code, took, err
	}
	switch code {
	case 200:
		p.token, p.pid = r.Session, r.PlayerID
		if r.Player.LastSeq != p.acked {
			return code, took, fmt.Errorf("%s logged in with last_seq %d, but seq %d was acknowledged: lost", p.id, r.Player.LastSeq, p.acked)
		}
	case 503:
		if r.Error.Code != "unavailable" {
			return code, took, fmt.Errorf("login %s: 503 with code %q, want unavailable", p.id, r.Error.Code)
		}
	default:
		return code, took, fmt.Errorf("login %s: status %d %+v", p.id, code, r.Error)
	}
	return code, took, nil
}

// mustPlay logs p in, which must answer 200, and sends n pings (act).
func (p *player) mustPlay(t testing.TB, n int) {
	t.Helper()
	if code, _, err := p.login(); err != nil || code != 200 {
		t.Fatalf("login %s: %d %v", p.id, code, err)
	}
	if err := p.act(n); err != nil {
		t.Fatal(err)
	}
}

// act sends a batch of n pings; every one must be applied. A logged-in
// player is never refused: 401 here means the server dropped it.
func (p *player) act(n int) error {
	seqs := make([]int64, n)
	for i := range seqs {
		p.seq++
		seqs[i] = p.seq
	}
	var r reply
	code, err := do("POST", p.base+"/api/v1/actions", p.token, pings(seqs...), &r)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("actions for online %s: status %d %+v (dropped from memory?)", p.id, code, r.Error)
	}
	if len(r.Results) != n {
		return fmt.Errorf("actions for %s: %d results for %d actions", p.id, len(r.Results), n)
	}
	for i, res := range r.Results {
		if res.Seq != seqs[i] || !res.OK || res.Duplicate {
			return fmt.Errorf("actions for %s: result %+v for seq %d, want applied", p.id, res, seqs[i])
		}
	}
	p.acked = p.seq
	return nil
}

// view reads the player; its last_seq must be the acknowledged one.
func (p *player) view() error {
	var r reply
	code, err := do("GET", p.base+"/api/v1/player", p.token, "", &r)
	if err != nil {
		return err
	}
	if code != 200 || r.Player.LastSeq != p.acked {
		return fmt.Errorf("player %s: status %d last_seq %d, want 200 and %d", p.id, code, r.Player.LastSeq, p.acked)
	}
	return nil
}

// logout logs out: 200 once saved, or 503 `unavailable` when S3 is out.
// Either way the session is over for this client (after a 503 the player
// stays in memory until its save lands, and a login picks it up again).
func (p *player) logout() (int, time.Duration, error) {
	var r reply
	t0 := time.Now()
	code, err := do("POST", p.base+"/api/v1/logout", p.token, "", &r)
	took := time.Since(t0)
	if err != nil {
		return code, took, err
	}
	switch {
	case code == 200:
	case code == 503 && r.Error.Code == "unavailable":
	default:
		return code, took, fmt.Errorf("logout %s: status %d %+v", p.id, code, r.Error)
	}
	p.token = ""
	return code, took, nil
}

// checkKept checks that p, whose logout just answered 503 while S3 is
// down, is still in memory with its progress. (The logout revokes the
// account's tokens first; with S3 down that fails and nothing else is
// done: the session stays good until a retried logout lands. It is not
// "leaving": the sweep's autosaves keep retrying its progress.)
func (p *player) checkKept(env *faultEnv) error {
	m, err := online(env.URL)
	if err != nil {
		return err
	}
	if !env.Proxy.Faults().Down {
		return nil // S3 came back meanwhile: the save may have landed
	}
	info, ok := m[p.pid]
	if !ok || info.LastSeq != p.acked {
		return fmt.Errorf("%s after a 503 logout during the outage: online %v %+v, want in memory, last_seq %d", p.id, ok, info, p.acked)
	}
	return nil
}

// loadStats counts what the scripted load saw.
type loadStats struct {
	logins, logins503, logouts, logouts503, batches, kept atomic.Int64
	maxLogin503                                           atomic.Int64 // ns
}

func (s *loadStats) String() string {
	return fmt.Sprintf("logins %d (503: %d, slowest 503 %s), logouts %d (503: %d, checked in memory: %d), action batches %d",
		s.logins.Load(), s.logins503.Load(), time.Duration(s.maxLogin503.Load()), s.logouts.Load(), s.logouts503.Load(), s.kept.Load(), s.batches.Load())
}

// load drives players until stop: log in, play (1-3 pings a batch, now and
// then a read), now and then log out, every tick. Invariants are checked
// on every step; violations fail t.
type load struct {
	t     *testing.T
	env   *faultEnv
	stats loadStats
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startLoad(t *testing.T, env *faultEnv, players []*player, tick time.Duration, seed uint64) *load {
	l := &load{t: t, env: env, stop: make(chan struct{})}
	for i, p := range players {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		l.every(tick, func() error { return l.step(p, rng) })
	}
	// Every snapshot of the counters adds up, whatever the faults.
	l.every(100*time.Millisecond, func() error {
		s, err := s3Stats(env.URL)
		if err == nil {
			err = balanced(s)
		}
		return err
	})
	t.Cleanup(l.halt)
	return l
}

// every runs f on a goroutine of the load every tick until stop; an error
// fails the test and ends that goroutine.
func (l *load) every(tick time.Duration, f func() error) {
	l.wg.Go(func() {
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tk.C:
			}
			if err := f(); err != nil {
				l.t.Error(err)
				return
			}
		}
	})
}

func (l *load) step(p *player, rng *rand.Rand) error {
	s := &l.stats
	if p.token == "" {
		code, took, err := p.login()
		s.logins.Add(1)
		if code == 503 {
			s.logins503.Add(1)
			for m := s.maxLogin503.Load(); int64(took) > m && !s.maxLogin503.CompareAndSwap(m, int64(took)); m = s.maxLogin503.Load() {
			}
			if took > loginBudget {
				return fmt.Errorf("login %s answered 503 after %s, want within %s", p.id, took, loginBudget)
			}
		}
		return err
	}
	switch r := rng.IntN(100); {
	case r < 4:
		down := l.env.Proxy.Faults().Down
		code, _, err := p.logout()
		s.logouts.Add(1)
		if err != nil || code != 503 {
			return err
		}
		s.logouts503.Add(1)
		if down {
			s.kept.Add(1)
			return p.checkKept(l.env)
		}
		return nil
	case r < 10:
		return p.view()
	default:
		s.batches.Add(1)
		return p.act(1 + rng.IntN(3))
	}
}

// halt stops the load and waits for it.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// settle runs once the faults are off: everyone logs out (200), memory
// empties, the s3 bookkeeper goes idle; then every player logs in again and
// must find its acknowledged last_seq, and logs out.
func settle(t *testing.T, env *faultEnv, players []*player) {
	t.Helper()
	for _, p := range players {
		for try := 0; ; try++ {
			if p.token == "" { // logged out, or its logout answered 503
				if _, _, err := p.login(); err != nil {
					t.Fatal(err)
				}
			}
			code, _, err := p.logout()
			if err != nil {
				t.Fatal(err)
			}
			if code == 200 {
				break
			}
			if try == 5 {
				t.Fatalf("logout %s with S3 back: still 503 after %d tries", p.id, try+1)
			}
		}
	}
	eventually(t, 20*time.Second, "every player saved and out of memory", func() (bool, string) {
		m, err := online(env.URL)
		if err != nil {
			return false, err.Error()
		}
		return len(m) == 0, fmt.Sprintf("%d online: %v", len(m), m)
	})
	for _, p := range players {
		if code, _, err := p.login(); err != nil || code != 200 {
			t.Fatalf("login %s after the faults: %d %v", p.id, code, err)
		}
		if code, _, err := p.logout(); err != nil || code != 200 {
			t.Fatalf("logout %s after the faults: %d %v", p.id, code, err)
		}
	}
}

// idleStats waits until the s3 bookkeeper has nothing in flight and
// returns its counters.
func idleStats(t *testing.T, env *faultEnv) bookkeeper.Stats {
	t.Helper()
	var s bookkeeper.Stats
	eventually(t, 15*time.Second, "s3 bookkeeper idle", func() (bool, string) {
		var err error
		if s, err = s3Stats(env.URL); err != nil {
			return false, err.Error()
		}
		return s.InQueue+s.OnWire+s.WaitingForRetry == 0, fmt.Sprintf("%+v", s)
	})
	if err := balanced(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkAgainstProxy checks the s3 bookkeeper's counters against what the
// proxy saw. Every try is at least one request (Go's transport may resend
// a GET whose connection was reset, so not exactly one) unless its
// connection was refused. A try succeeds only on an S3 2xx or 404 (a new
// player). Every 503 the proxy made up and every other 4xx/5xx from S3 is
// one failed try, and every failed try is one of those, a 404, a reset, or
// a timeout.
func checkAgainstProxy(t *testing.T, s bookkeeper.Stats, env *faultEnv, refused bool) {
	t.Helper()
	c, b := env.Proxy.Counts(), env.Setup
	d := testenv.FaultCounts{
		Requests: c.Requests - b.Requests, Errors503: c.Errors503 - b.Errors503, Resets: c.Resets - b.Resets,
		LostReplies: c.LostReplies - b.LostReplies, Hung: c.Hung - b.Hung, ClientGone: c.ClientGone - b.ClientGone,
		S3OK: c.S3OK - b.S3OK, S3NotFound: c.S3NotFound - b.S3NotFound, S3Client: c.S3Client - b.S3Client,
		S3Server: c.S3Server - b.S3Server, S3Failed: c.S3Failed - b.S3Failed,
	}
	failed := s.Errors + s.Retries
	t.Logf("s3 bookkeeper: accepted %d attempted %d ok %d errors %d retries %d dropped %d cancelled %d; proxy: %+v",
		s.Accepted, s.Attempted, s.OK, s.Errors, s.Retries, s.Dropped, s.Cancelled, d)
	if s.Dropped != 0 || s.Cancelled != 0 {
		t.Errorf("s3 bookkeeper dropped %d and cancelled %d calls, want none", s.Dropped, s.Cancelled)
	}
	if s.Attempted != s.OK+failed {
		t.Errorf("tries %d != ok %d + errors %d + retries %d", s.Attempted, s.OK, s.Errors, s.Retries)
	}
	if !refused && s.Attempted > d.Requests {
		t.Errorf("%d tries but the proxy saw only %d requests", s.Attempted, d.Requests)
	}
	if s.OK > d.S3OK+d.S3NotFound || s.OK < d.S3OK-d.ClientGone {
		t.Errorf("%d tries succeeded, but S3 answered 2xx %d times and 404 %d times (clients gone: %d)", s.OK, d.S3OK, d.S3NotFound, d.ClientGone)
	}
	if lo := d.Errors503 + d.S3Client + d.S3Server + d.S3Failed; failed < lo {
		t.Errorf("%d failed tries, but the proxy answered %d failures", failed, lo)
	}
	if hi := d.Errors503 + d.S3Client + d.S3Server + d.S3Failed + d.S3NotFound + d.Resets + d.LostReplies + d.ClientGone; !refused && failed > hi {
		t.Errorf("%d failed tries, but the proxy caused at most %d", failed, hi)
	}
}

// TestFaultStorageDown: with S3 out (answering 503, refusing connections,
// or hanging), logins fail fast with 503 unavailable, online players keep
// playing from memory, saves retry, a logout answers 503 and keeps the
// player in memory, and everything lands once S3 is back.
func TestFaultStorageDown(t *testing.T) {
	env := startFaultEnv(t, 5)
	alice, bob := &player{id: "alice", base: env.URL}, &player{id: "bob", base: env.URL}
	for _, p := range []*player{alice, bob} {
		p.mustPlay(t, 3)
	}
	before := mustS3Stats(t, env.URL)

	for _, mode := range []testenv.DownMode{testenv.DownHang, testenv.DownRefuse, testenv.Down503} {
		if err := env.Proxy.SetFaults(testenv.Faults{Down: true, DownMode: mode}); err != nil {
			t.Fatal(err)
		}
		newcomer := &player{id: "carol-" + mode.String(), base: env.URL}
		code, took, err := newcomer.login()
		if err != nil || code != 503 || took > loginBudget {
			t.Fatalf("login with S3 down (%s): %d after %s (%v), want 503 unavailable within %s", mode, code, took, err, loginBudget)
		}
		t.Logf("login with S3 down (%s): 503 after %s", mode, took.Round(time.Millisecond))
		for _, p := range []*player{alice, bob} {
			if err := p.act(2); err != nil {
				t.Fatalf("S3 down (%s): %v", mode, err)
			}
			if err := p.view(); err != nil {
				t.Fatalf("S3 down (%s): %v", mode, err)
			}
		}
	}

	// Saves keep failing and being retried, sweep after sweep, and nobody
	// with unsaved progress leaves memory.
	eventually(t, 15*time.Second, "two more failed save rounds for both players", func() (bool, string) {
		s, err := s3Stats(env.URL)
		if err != nil {
			return false, err.Error()
		}
		return s.Errors >= before.Errors+4 && s.Retries >= before.Retries+8, fmt.Sprintf("%+v", s)
	})
	m := mustOnline(t, env.URL)
	for _, p := range []*player{alice, bob} {
		if info, ok := m[p.pid]; !ok || !info.Unsaved || info.LastSeq != p.acked {
			t.Fatalf("%s during the outage: online %v %+v, want in memory with unsaved progress at last_seq %d", p.id, ok, info, p.acked)
		}
	}

	// A logout during the outage answers 503 and keeps the player.
	code, took, err := bob.logout()
	if err != nil || code != 503 || took > loginBudget {
		t.Fatalf("logout with S3 down: %d after %s (%v), want 503 unavailable within %s", code, took, err, loginBudget)
	}
	if err := bob.checkKept(env); err != nil {
		t.Fatal(err)
	}
	errs := mustS3Stats(t, env.URL).Errors
	eventually(t, 15*time.Second, "bob's final save retried by the sweep", func() (bool, string) {
		s, err := s3Stats(env.URL)
		if err != nil {
			return false, err.Error()
		}
		return s.Errors >= errs+4, fmt.Sprintf("%+v", s)
	})
	if err := bob.checkKept(env); err != nil {
		t.Fatal(err)
	}

	// S3 comes back: the saves land (bob's as an autosave: his logout
	// never started), alice stays.
	if err := env.Proxy.SetFaults(testenv.Faults{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "saves land once S3 is back", func() (bool, string) {
		m, err := online(env.URL)
		if err != nil {
			return false, err.Error()
		}
		b, bobIn := m[bob.pid]
		a, aliceIn := m[alice.pid]
		return (!bobIn || !b.Unsaved) && aliceIn && !a.Unsaved, fmt.Sprintf("%v", m)
	})
	if err := alice.act(1); err != nil {
		t.Fatal(err)
	}
	if code, _, err := bob.login(); err != nil || code != 200 {
		t.Fatalf("bob after the outage: %d %v", code, err)
	}
	for _, p := range []*player{alice, bob} {
		if code, _, err := p.logout(); err != nil || code != 200 {
			t.Fatalf("logout %s after the outage: %d %v", p.id, code, err)
		}
		if code, _, err := p.login(); err != nil || code != 200 { // checks last_seq
			t.Fatalf("login %s after the outage: %d %v", p.id, code, err)
		}
	}
	s := idleStats(t, env)
	if s.Retries <= before.Retries || s.OK <= before.OK {
		t.Errorf("s3 bookkeeper after the outage: %+v, want retries and successes since %+v", s, before)
	}
	checkAgainstProxy(t, s, env, true)
}

// TestFaultInjectionUnderLoad: a dozen players log in, play and log out
// while the proxy injects 503s, resets and delays, then while S3 is fully
// out; the error-rate alert fires and resolves; once the faults stop no
// acknowledged action is lost and the counters add up.
func TestFaultInjectionUnderLoad(t *testing.T) {
	env := startFaultEnv(t, 42)
	players := newPlayers(env.URL, "load", 12)
	l := startLoad(t, env, players, 25*time.Millisecond, 42)

	// Random faults.
	env.Proxy.SetFaults(testenv.Faults{ErrorRate: 0.10, ResetRate: 0.05, DelayRate: 0.10, Delay: 200 * time.Millisecond})
	phase := time.NewTimer(10 * time.Second) // how long this part of the script plays
	select {
	case <-phase.C:
	case <-t.Context().Done():
	}
	if t.Failed() {
		t.FailNow()
	}
	random := env.Proxy.Counts()
	t.Logf("after random faults: %s; proxy %+v", &l.stats, random)
	if random.Errors503 == 0 || random.Resets == 0 || random.Delayed == 0 {
		t.Fatalf("random phase injected too little: %+v", random)
	}

	// S3 out under load: the error rate alert fires; players keep playing,
	// logouts answer 503 and keep the player in memory.
	env.Proxy.SetFaults(testenv.Faults{Down: true})
	kept := l.stats.kept.Load()
	waitAlert(t, env.URL, errorRule, true, 20*time.Second)
	eventually(t, 20*time.Second, "logouts during the outage", func() (bool, string) {
		return l.stats.kept.Load() >= kept+3 || t.Failed(), l.stats.String()
	})
	// A newcomer (not in memory) meets the outage for certain: the load's
	// own logins may all find their player still in memory.
	var er errorReply
	t0 := time.Now()
	if code := call(t, "POST", env.URL+"/api/v1/auth/device", "", `{"device_id":"`+deviceID("outage-newcomer")+`","create":true}`, &er); code != 503 || er.Error.Code != "unavailable" {
		t.Errorf("newcomer login during the outage: %d %+v, want 503 unavailable", code, er)
	} else if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("newcomer login during the outage took %s, want a quick 503", took)
	}

	// S3 back: the alert resolves while the players go on.
	env.Proxy.SetFaults(testenv.Faults{})
	waitAlert(t, env.URL, errorRule, false, 30*time.Second)
	l.halt()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("load: %s", &l.stats)
	if l.stats.logouts503.Load() == 0 {
		t.Errorf("no logout met the outage: %s", &l.stats)
	}

	settle(t, env, players)
	s := idleStats(t, env)
	checkAgainstProxy(t, s, env, false)
	if s.Retries == 0 || s.Errors == 0 {
		t.Errorf("s3 bookkeeper saw no retries or errors under faults: %+v", s)
	}
}

// TestOutage60sMidPlay: S3 is out for 60 seconds in the middle of play,
// 20 s each answering 503, refusing connections and hanging. Logins of
// players not in memory answer 503 within the budget all along; online
// players play on; nothing is lost.
func TestOutage60sMidPlay(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60 s outage; runs without -short (make test)")
	}
	env := startFaultEnv(t, 60)
	players := newPlayers(env.URL, "mid", 8)
	l := startLoad(t, env, players, 50*time.Millisecond, 60)
	eventually(t, 15*time.Second, "everyone playing", func() (bool, string) {
		return l.stats.batches.Load() >= 40, l.stats.String()
	})

	// Newcomers keep trying to log in during the outage.
	var newcomers, slowest atomic.Int64
	stopNew := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		untilClosed(stopNew, func(i int) bool {
			p := &player{id: fmt.Sprintf("newcomer%03d", i), base: env.URL}
			code, took, err := p.login()
			if err == nil && (code != 503 || took > loginBudget) {
				err = fmt.Errorf("newcomer login during the outage (%s): %d after %s, want 503 within %s", env.Proxy.Faults().DownMode, code, took, loginBudget)
			}
			if err != nil {
				if env.Proxy.Faults().Down {
					t.Error(err)
					return false
				}
				if code == 200 { // S3 came back mid-login
					p.logout()
				}
				return true
			}
			newcomers.Add(1)
			slowest.Store(max(slowest.Load(), int64(took)))
			return true
		})
	})

	for _, mode := range []testenv.DownMode{testenv.Down503, testenv.DownRefuse, testenv.DownHang} {
		if err := env.Proxy.SetFaults(testenv.Faults{Down: true, DownMode: mode}); err != nil {
			t.Fatal(err)
		}
		phase := time.NewTimer(20 * time.Second) // the outage's length is the scenario
		select {
		case <-phase.C:
		case <-t.Context().Done():
		}
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("outage (%s) done: %s; %d newcomer logins answered 503, slowest %s", mode, &l.stats, newcomers.Load(), time.Duration(slowest.Load()))
	}
	waitAlert(t, env.URL, errorRule, true, 5*time.Second)
	close(stopNew)
	env.Proxy.SetFaults(testenv.Faults{})
	wg.Wait()
	if newcomers.Load() < 10 {
		t.Errorf("only %d newcomer logins during 60 s of outage", newcomers.Load())
	}
	waitAlert(t, env.URL, errorRule, false, 30*time.Second)
	l.halt()
	if t.Failed() {
		t.FailNow()
	}
	if l.stats.logouts503.Load() == 0 {
		t.Errorf("no logout met the outage: %s", &l.stats)
	}
	settle(t, env, players)
	checkAgainstProxy(t, idleStats(t, env), env, true)
}

// TestFaultLostReplyKeepsPlayer: a save lands in S3 but its reply is lost
// (a reset after S3 committed the write, or a try timing out just after),
// so the next write of the player finds the ETag changed. That is our own
// write, not another server's: the player must stay online, and no
// acknowledged action may be lost. Two scripts: the save's own retry is
// held while the player plays on; and the save's retries fail, so the
// surprise comes at the next save.
func TestFaultLostReplyKeepsPlayer(t *testing.T) {
	t.Run("retry held", func(t *testing.T) {
		var puts atomic.Int64
		lostReply(t, func(p *testenv.FaultProxy) testenv.Faults {
			held := testenv.Faults{DelayRate: 1, Delay: time.Second, Match: func(r *http.Request) bool {
				return r.Method == http.MethodPut && puts.Add(1) == 2
			}}
			return testenv.Faults{LostReplyRate: 1, Match: func(r *http.Request) bool {
				if r.Method != http.MethodPut || puts.Add(1) != 1 {
					return false
				}
				p.SetFaults(held) // for the requests after this one
				return true
			}}
		}, func(env *faultEnv, p *player) {
			eventually(t, 10*time.Second, "a save's reply lost and its retry held", func() (bool, string) {
				c := env.Proxy.Counts()
				return c.LostReplies == 1 && c.Delayed == 1, fmt.Sprintf("%+v", c)
			})
			if err := p.act(1); err != nil {
				t.Fatalf("action while the retry is held: %v", err)
			}
			waitPuts(t, env, &puts, 2)
		})
	})
	t.Run("retries fail", func(t *testing.T) {
		var puts atomic.Int64
		lostReply(t, func(p *testenv.FaultProxy) testenv.Faults {
			fail := testenv.Faults{ErrorRate: 1, Match: func(r *http.Request) bool {
				if r.Method != http.MethodPut {
					return false
				}
				return puts.Add(1) <= 3 // then count on, passing them
			}}
			return testenv.Faults{LostReplyRate: 1, Match: func(r *http.Request) bool {
				if r.Method != http.MethodPut || puts.Add(1) != 1 {
					return false
				}
				p.SetFaults(fail)
				return true
			}}
		}, func(env *faultEnv, p *player) {
			waitPuts(t, env, &puts, 3) // the save failed: landed, then two 503s
			if err := p.act(1); err != nil {
				t.Fatalf("action after the failed save: %v", err)
			}
			waitPuts(t, env, &puts, 4) // the next sweep's save
		})
	})
}

// lostReply logs a player in, plays, sets the faults script returns, runs
// during, then checks the player is still online with everything
// acknowledged, and still has it after logging out and in.
func lostReply(t *testing.T, script func(*testenv.FaultProxy) testenv.Faults, during func(*faultEnv, *player)) {
	env := startFaultEnv(t, 9)
	p := &player{id: "dora", base: env.URL}
	p.mustPlay(t, 3)
	env.Proxy.SetFaults(script(env.Proxy))
	during(env, p)
	env.Proxy.SetFaults(testenv.Faults{})
	if err := p.view(); err != nil {
		t.Errorf("after a lost save reply: %v: our own landed write was taken for another server's", err)
	}
	if m := mustOnline(t, env.URL); m[p.pid].ID == "" {
		t.Errorf("after a lost save reply the player left memory")
	}
	if code, _, err := p.logout(); err != nil || code != 200 {
		t.Errorf("logout after a lost save reply: %d %v", code, err)
	}
	p.token = ""
	if code, _, err := p.login(); err != nil || code != 200 { // checks last_seq
		t.Fatalf("login after a lost save reply: %d %v", code, err)
	}
}

// waitPuts waits until the proxy has seen n PUTs and the s3 bookkeeper has
// landed them.
func waitPuts(t *testing.T, env *faultEnv, puts *atomic.Int64, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d saves tried and settled", n), func() (bool, string) {
		s, err := s3Stats(env.URL)
		if err != nil {
			return false, err.Error()
		}
		return puts.Load() >= n && s.OnWire+s.WaitingForRetry+s.InQueue == 0, fmt.Sprintf("%d puts; %+v", puts.Load(), s)
	})
}

// TestFaultLeaseRetryKeepsCondition: when the lease write of a returning
// player's login fails and is retried, the retry is as conditional as the
// first try (If-Match on the ETag loaded): an unconditional retry could
// overwrite another server's newer save.
func TestFaultLeaseRetryKeepsCondition(t *testing.T) {
	env := startFaultEnv(t, 11)
	p := &player{id: "erin", base: env.URL}
	p.mustPlay(t, 2)
	if code, _, err := p.logout(); err != nil || code != 200 {
		t.Fatalf("logout: %d %v", code, err)
	}

	var mu sync.Mutex
	var puts []string // each PUT's conditions
	env.Proxy.SetFaults(testenv.Faults{ErrorRate: 1, Match: func(r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		puts = append(puts, fmt.Sprintf("If-Match=%q If-None-Match=%q", r.Header.Get("If-Match"), r.Header.Get("If-None-Match")))
		return len(puts) == 1 // the first try fails, the retry goes through
	}})
	if code, _, err := p.login(); err != nil || code != 200 {
		t.Fatalf("login with the lease write failing once: %d %v", code, err)
	}
	env.Proxy.SetFaults(testenv.Faults{})
	mu.Lock()
	defer mu.Unlock()
	if len(puts) < 2 {
		t.Fatalf("lease writes seen: %v, want a failed try and its retry", puts)
	}
	for i, c := range puts[:2] {
		if strings.Contains(c, `If-Match=""`) {
			t.Errorf("lease write try %d went out with %s, want If-Match on the loaded ETag (all tries: %v)", i+1, c, puts)
		}
	}
}

// TestFaultSIGTERMWhileSavesRetry runs the real binary, puts players online
// with unsaved progress, takes S3 down, sends SIGTERM, and brings S3 back
// only after every player's first round of save tries has failed: the
// process must keep retrying within its drain timeout and exit 0 with
// everyone saved.
func TestFaultSIGTERMWhileSavesRetry(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	proxy := testenv.StartFaultProxy(t, s3.Endpoint, 15)
	proc := startProcess(t, nil, "--data-dir", t.TempDir(),
		"--s3-endpoint", proxy.URL, "--s3-access-key", s3.AccessKey, "--s3-secret-key-file", secretFile(t, s3.SecretKey),
		"--mongo-uri", "off", "--autosave", "1h", "--drain-timeout", "30s", "--log-level", "warn")
	cmd, stderr, exited, base := proc.Cmd, proc.Stderr, proc.Exited, proc.Base

	players := newPlayers(base, "term", 5)
	for i, p := range players {
		p.mustPlay(t, 5+i)
	}
	proxy.SetFaults(testenv.Faults{Down: true})
	before := proxy.Counts()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Every player's save has failed its 3 tries at least once.
	want := before.Errors503 + int64(3*len(players))
	exitedEarly := false
	eventually(t, 30*time.Second, "shutdown saves retrying against the outage", func() (bool, string) {
		select {
		case <-exited:
			exitedEarly = true
			return true, ""
		default:
		}
		c := proxy.Counts()
		return c.Errors503 >= want, fmt.Sprintf("%d of %d failed save tries: %+v", c.Errors503-before.Errors503, want-before.Errors503, c)
	})
	if exitedEarly {
		t.Fatalf("exited (%v) before S3 came back, %d failed tries into its drain timeout of 30s: shutdown gave up on the saves instead of retrying\n%s",
			proc.ExitErr, proxy.Counts().Errors503-before.Errors503, stderr.String())
	}
	proxy.SetFaults(testenv.Faults{})
	select {
	case <-exited:
	case <-time.After(45 * time.Second):
		t.Fatalf("still running 45s after SIGTERM with a 30s drain timeout\n%s", stderr.String())
	}
	if proc.ExitErr != nil {
		t.Fatalf("exit after SIGTERM and S3 back within the drain timeout: %v, want status 0\n%s", proc.ExitErr, stderr.String())
	}

	// Another server on the same S3 finds everything saved and the leases
	// released.
	url := runServer(t, t.TempDir(), "--s3-endpoint", s3.Endpoint, "--s3-access-key", s3.AccessKey,
		"--s3-secret-key-file", secretFile(t, s3.SecretKey), "--mongo-uri", "off")
	for _, p := range players {
		p.base, p.token = url, ""
		if code, _, err := p.login(); err != nil || code != 200 {
			t.Errorf("login %s on the next server: %d %v", p.id, code, err)
		}
	}
}

// BenchmarkLoginUnderFaults measures the latency of logins of new players
// (an S3 GET answering 404, then the lease PUT) with no faults and with
// 10% of S3 requests answered 503 SlowDown/ServiceUnavailable, one client
// at a time. Reported: p50, p99 and max in µs, and the share of logins
// that failed (503) despite the bookkeeper's retries.
func BenchmarkLoginUnderFaults(b *testing.B) {
	for _, rate := range []float64{0, 0.10} {
		b.Run(fmt.Sprintf("s3_errors=%.0f%%", rate*100), func(b *testing.B) {
			env := startFaultEnv(b, 1)
			if err := env.Proxy.SetFaults(testenv.Faults{ErrorRate: rate}); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			failed := 0
			b.ResetTimer()
			for i := range b.N {
				p := &player{id: fmt.Sprintf("bench%d", i), base: env.URL}
				code, took, err := p.login()
				if err != nil {
					b.Fatal(err)
				}
				if code != 200 {
					failed++
				}
				lat = append(lat, took)
			}
			b.StopTimer()
			slices.Sort(lat)
			q := func(f float64) float64 { return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) }
			b.ReportMetric(q(0.50), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
			b.ReportMetric(100*float64(failed)/float64(b.N), "failed-%")
			if rate > 0 {
				c := env.Proxy.Counts()
				b.ReportMetric(float64(c.Errors503)/float64(c.Requests)*100, "injected-%")
			}
		})
	}
}
