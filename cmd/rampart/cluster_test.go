package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rampart/internal/devstores"
	"rampart/internal/testenv"
)

// testCluster is real servers on one S3 and one MongoDB, as a cluster.
type testCluster struct {
	s3    testenv.S3
	mongo string
	env   []string
}

// behindHaproxy is the cluster as deployed: versitygw and FerretDB as
// processes of their own, n of slots servers started (the others' slots
// left empty) and haproxy with the committed config in front, every
// server up in its checks. env names the slots' addresses.
func behindHaproxy(tb testing.TB, slots, n int, extra ...string) (*testCluster, []*testenv.Rampart, map[string]string, *testenv.Haproxy) {
	tb.Helper()
	s3 := testenv.VersityGW(tb)
	c := &testCluster{s3: s3, mongo: testenv.FerretDB(tb), env: clusterEnv(s3)}
	var nodes []*testenv.Rampart
	env := map[string]string{}
	for i := range slots {
		addr := testenv.FreeAddr(tb)
		env[fmt.Sprintf("RAMPART_NODE%d", i+1)] = addr
		if i < n {
			nodes = append(nodes, c.start(tb, append([]string{"--addr", addr, "--trusted-proxies", "127.0.0.1/32",
				"--signin-rate", "0", "--max-conns-per-ip", "0"}, extra...)...))
		}
	}
	hp := testenv.StartHaproxy(tb, testenv.HaproxyConfig(), env)
	waitBackends(tb, hp, n)
	return c, nodes, env, hp
}

// clusterEnv is the servers' shared secrets and s3's key.
func clusterEnv(s3 testenv.S3) []string {
	return []string{
		"RAMPART_S3_SECRET_KEY=" + s3.SecretKey,
		"RAMPART_SESSION_SECRET=" + strings.Repeat("s", 40),
		"RAMPART_CLUSTER_SECRET=" + strings.Repeat("c", 40),
	}
}

// newTestCluster starts the shared stores: an S3 and a MongoDB-speaking
// server on loopback (real wire protocols), and the shared secrets.
func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	m, err := devstores.StartMongo(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s3 := testenv.EmbeddedS3(t)
	return &testCluster{s3: s3, mongo: m.URI, env: clusterEnv(s3)}
}

// start runs one more server of the cluster.
func (c *testCluster) start(tb testing.TB, extra ...string) *testenv.Rampart {
	tb.Helper()
	args := append([]string{"--s3-endpoint", c.s3.Endpoint, "--s3-access-key", c.s3.AccessKey, "--mongo-uri", c.mongo,
		"--cluster-addr", "127.0.0.1:0", "--rate-limit", "100000", "--rate-burst", "100000"}, extra...)
	return testenv.StartRampart(tb, c.env, args...)
}

// waitBackends waits until haproxy sees n servers up.
func waitBackends(tb testing.TB, hp *testenv.Haproxy, n int) {
	tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		srvs, err := hp.Servers(context.Background())
		up := 0
		for _, s := range srvs {
			if s.Status == "UP" {
				up++
			}
		}
		if err == nil && up >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("haproxy sees %d servers up, want %d (%v)", up, n, err)
		}
		time.Sleep(100 * time.Millisecond) // polling haproxy's checks, bounded
	}
}

func pingBatch(from, n int) string {
	var b strings.Builder
	b.WriteString(`{"actions":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"seq":%d,"name":"ping","args":{}}`, from+i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// lastSeq is the status of GET /api/v1/player on base with token, and the
// player's last_seq in it.
func lastSeq(t *testing.T, base, token string) (int, int64) {
	t.Helper()
	var view struct {
		Player struct {
			LastSeq int64 `json:"last_seq"`
		} `json:"player"`
	}
	code := call(t, "GET", base+"/api/v1/player", token, "", &view)
	return code, view.Player.LastSeq
}

// TestClusterHandoffAndForwarding: a sign-in on B for a player live on A
// succeeds within 2 s with nothing lost (A hands the player over, saved);
// a request reaching the server that does not own the player is served
// by the owner; the replaced session is refused wherever it goes.
func TestClusterHandoffAndForwarding(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.start(t), c.start(t)

	lr := loginAs(t, a.URL, "hand")
	var ar actionsReply
	if code := call(t, "POST", a.URL+"/api/v1/actions", lr.Session, pingBatch(1, 5), &ar); code != 200 {
		t.Fatalf("actions on A: %d", code)
	}
	// The session of a player live on A, sent to B: forwarded to A.
	if code := call(t, "POST", b.URL+"/api/v1/actions", lr.Session, pingBatch(6, 1), &ar); code != 200 || !ar.Results[0].OK {
		t.Fatalf("actions on B for a player live on A: %d %+v, want 200 (forwarded)", code, ar)
	}
	// The owner's reply comes back as it wrote it, with one Date header
	// (the JSON writers set it; net/http's ReverseProxy adds the owner's).
	req, err := http.NewRequest("GET", b.URL+"/api/v1/player", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+lr.Session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := resp.Header.Values("Date"); resp.StatusCode != 200 || len(d) != 1 {
		t.Errorf("GET /api/v1/player on B, forwarded to A: %d, Date %q; want 200 and one Date", resp.StatusCode, d)
	}

	t0 := time.Now()
	var lr2 loginReply
	code := call(t, "POST", b.URL+"/api/v1/auth/device", "", `{"device_id":"`+deviceID("hand")+`"}`, &lr2)
	took := time.Since(t0)
	if code != 200 {
		t.Fatalf("sign-in on B for a player live on A: %d, want 200 (handoff)", code)
	}
	if took > 2*time.Second {
		t.Errorf("handoff sign-in took %v, want under 2s", took)
	}
	if lr2.Player.LastSeq != 6 {
		t.Errorf("after the handoff last_seq = %d, want 6: acknowledged actions lost", lr2.Player.LastSeq)
	}
	t.Logf("handoff sign-in %v", took)

	tests := []struct {
		name  string
		url   string
		token string
		seq   int
		want  int
	}{
		{"new session on its owner", b.URL, lr2.Session, 7, 200},
		{"new session on the other server (forwarded)", a.URL, lr2.Session, 8, 200},
		{"replaced session on the old server", a.URL, lr.Session, 9, 401},
		{"replaced session on the new server", b.URL, lr.Session, 9, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var er errorReply
			if code := call(t, "POST", tt.url+"/api/v1/actions", tt.token, pingBatch(tt.seq, 1), &er); code != tt.want {
				t.Fatalf("status %d (%s), want %d", code, er.Error.Code, tt.want)
			}
		})
	}
	if code, seq := lastSeq(t, a.URL, lr2.Session); code != 200 || seq != 8 {
		t.Fatalf("player through A: %d last_seq %d, want 200 and 8", code, seq)
	}
}

// TestClusterMaxPlayers: past --max-players a sign-in answers 503 with
// Retry-After and /readyz says full, so a balancer sends newcomers on.
func TestClusterMaxPlayers(t *testing.T) {
	c := newTestCluster(t)
	a := c.start(t, "--max-players", "1")
	loginAs(t, a.URL, "first")
	if code := call(t, "GET", a.URL+"/readyz", "", "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the server full: %d, want 503", code)
	}
	req, _ := http.NewRequest("POST", a.URL+"/api/v1/auth/device", strings.NewReader(`{"device_id":"`+deviceID("second")+`","create":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sign-in past --max-players: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestClusterServerLoss: kill -9 of a player's server; its next request
// on another server is answered 503 (retry) until the membership declares
// the dead server dead (10 s without a heartbeat), then served there with
// everything acknowledged (the shipped journal replayed). SIGTERM of a
// server instead moves its players at once: their next request elsewhere
// is served with the same session, no sign-in needed.
func TestClusterServerLoss(t *testing.T) {
	c := newTestCluster(t)
	a, b, d := c.start(t), c.start(t), c.start(t)

	// SIGTERM: a rolling restart.
	lt := loginAs(t, d.URL, "term")
	if code := call(t, "POST", d.URL+"/api/v1/actions", lt.Session, pingBatch(1, 3), nil); code != 200 {
		t.Fatalf("actions: %d", code)
	}
	if err := d.Stop(20 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	var ar actionsReply
	if code := call(t, "POST", b.URL+"/api/v1/actions", lt.Session, pingBatch(4, 1), &ar); code != 200 || !ar.Results[0].OK {
		t.Fatalf("after SIGTERM of its server, the session on B: %d %+v, want 200 with no new sign-in", code, ar)
	}

	// kill -9.
	lk := loginAs(t, a.URL, "kill")
	if code := call(t, "POST", a.URL+"/api/v1/actions", lk.Session, pingBatch(1, 20), nil); code != 200 {
		t.Fatalf("actions: %d", code)
	}
	time.Sleep(1500 * time.Millisecond) // one journal shipment (every second) on the wall clock
	killed := time.Now()
	if err := a.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.Exited
	retries := 0
	for {
		var er errorReply
		code := call(t, "POST", b.URL+"/api/v1/actions", lk.Session, pingBatch(21, 1), &er)
		if code == 200 {
			break
		}
		if code != http.StatusServiceUnavailable || time.Since(killed) > 30*time.Second {
			t.Fatalf("after kill -9 of its server, the session on B: %d %s after %v, want 503 then 200", code, er.Error.Code, time.Since(killed))
		}
		retries++
		time.Sleep(250 * time.Millisecond) // a client's retry pacing, on the wall clock
	}
	t.Logf("kill -9 to playing on another server: %v (%d retries)", time.Since(killed), retries)
	if code, seq := lastSeq(t, b.URL, lk.Session); code != 200 || seq != 21 {
		t.Fatalf("after the takeover: %d last_seq %d, want 21 (20 acknowledged before the kill, 1 after)", code, seq)
	}
}

// TestClusterBanSignsOutEverywhere: a ban through one server signs the
// player out on the server it is live on, at once.
func TestClusterBanSignsOutEverywhere(t *testing.T) {
	c := newTestCluster(t)
	c.env = append(c.env, "RAMPART_ADMIN_TOKEN="+strings.Repeat("a", 40))
	a, b := c.start(t), c.start(t)
	lr := loginAs(t, b.URL, "banned")
	if code := call(t, "POST", b.URL+"/api/v1/actions", lr.Session, pingBatch(1, 1), nil); code != 200 {
		t.Fatalf("actions: %d", code)
	}
	if code := call(t, "POST", a.URL+"/admin/v1/players/"+lr.PlayerID+"/ban", strings.Repeat("a", 40), `{"until":0,"reason":"test"}`, nil); code != 200 {
		t.Fatalf("ban through A: %d", code)
	}
	for _, url := range []string{b.URL, a.URL} {
		if code := call(t, "POST", url+"/api/v1/actions", lr.Session, pingBatch(2, 1), nil); code != http.StatusUnauthorized {
			t.Errorf("banned player's session on %s: %d, want 401", url, code)
		}
	}
	if code := call(t, "POST", b.URL+"/api/v1/auth/device", "", `{"device_id":"`+deviceID("banned")+`"}`, nil); code != http.StatusForbidden {
		t.Errorf("banned player's sign-in: %d, want 403", code)
	}
}

// TestClusterLoadtestThroughHaproxy: the load generator's standard mix
// (raids between players on different servers included) through haproxy
// in front of three servers, with one server killed (SIGKILL) and started
// again on its disk by its supervisor, and another drained (SIGTERM)
// mid-run. (A server that never comes back loses what it had not shipped:
// at most the last second, TestMachineLossTakeover.) The load generator predicts every
// result with the real rules and checks every player's ledger at the
// end: nothing acknowledged lost, nothing applied twice, no divergence.
func TestClusterLoadtestThroughHaproxy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 45 s run of three servers")
	}
	c, nodes, env, hp := behindHaproxy(t, 3, 3)

	cfg := loadConfig(hp.URL, "hxl", 60, 45*time.Second)
	cfg.ServerStats = false
	var crossRaids atomic.Int64
	chaos := make(chan struct{})
	defer func() { <-chaos }() // a failing run still waits for the schedule to end
	go func() {
		defer close(chaos)
		remote := func(p *testenv.Rampart) int64 {
			return int64(metricValue(t, p.URL, `rampart_cluster_events_total{kind="defend_remote"}`))
		}
		time.Sleep(12 * time.Second) // into the run, on the wall clock: the chaos schedule
		crossRaids.Add(remote(nodes[0]))
		nodes[0].Cmd.Process.Kill()
		<-nodes[0].Exited
		// Its supervisor starts it again on its disk: the journal's tail
		// is recovered, the membership sees the same server beat again.
		nodes[0] = c.start(t, "--data-dir", nodes[0].DataDir, "--addr", env["RAMPART_NODE1"], "--trusted-proxies", "127.0.0.1/32",
			"--signin-rate", "0", "--max-conns-per-ip", "0")
		time.Sleep(10 * time.Second) // the schedule again
		crossRaids.Add(remote(nodes[1]))
		if err := nodes[1].Stop(40 * time.Second); err != nil {
			t.Errorf("SIGTERM of the second server: %v", err)
		}
	}()
	rep := runLoadtest(t, cfg)
	<-chaos
	crossRaids.Add(int64(metricValue(t, nodes[2].URL, `rampart_cluster_events_total{kind="defend_remote"}`)))
	if rep.Ledger.Mismatches != 0 || rep.Ledger.Checked != cfg.Players {
		t.Errorf("ledger: %d of %d players checked, %d with problems %v", rep.Ledger.Checked, cfg.Players, rep.Ledger.Mismatches, rep.Ledger.Problems)
	}
	if rep.Prediction.Divergences != 0 {
		t.Errorf("%d results diverged from the real rules", rep.Prediction.Divergences)
	}
	// Clients see retries, not errors.
	if len(rep.TransportErrors) > 0 || len(rep.HTTPErrors) > 0 {
		t.Errorf("transport errors %v, HTTP errors %v; want none (retries only)", rep.TransportErrors, rep.HTTPErrors)
	}
	if rep.Moves["attack"].OK == 0 {
		t.Errorf("no raid played: %+v", rep.Moves["attack"])
	}
	t.Logf("raids settled by another server: %d", crossRaids.Load())
}

// metricValue reads one sample of base's /metrics (0 when absent).
func metricValue(t *testing.T, base, sample string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
