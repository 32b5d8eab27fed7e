package state_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/actions"
	"rampart/bookkeeper"
	"rampart/cluster"
	"rampart/gamedata"
	"rampart/internal/testenv"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/mongostore"
	"rampart/state/s3store"
)

// node is one server of a cluster in this process: its own store on the
// world's S3 and MongoDB, its membership, and its cluster listener on
// loopback (real HTTP between the servers).
type node struct {
	*world
	members *mongostore.Members
	peers   *cluster.Peers
	srv     *httptest.Server
}

// clusterOf returns servers ids sharing w's stores and clock, registered
// in one membership.
func clusterOf(t *testing.T, w *world, ids ...string) []*node { return clusterOfTB(t, w, ids...) }

func clusterOfTB(t testing.TB, w *world, ids ...string) []*node {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(w.ferret.URI).SetTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.UnixMilli(w.now.Load()) }
	const secret = "0123456789abcdef0123456789abcdef-cluster"
	nodes := make([]*node, len(ids))
	for i, id := range ids {
		var handler atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			handler.Load().(http.Handler).ServeHTTP(rw, r)
		}))
		t.Cleanup(srv.Close)
		mk := bookkeeper.New(bookkeeper.Config{Name: "members", Concurrency: 2, Timeout: time.Second, MaxTries: 1})
		members := mongostore.NewMembers(client.Database("rampart"), mk,
			mongostore.Member{ID: id, Addr: strings.TrimPrefix(srv.URL, "http://")}, testenv.Discard, now)
		if err := members.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		ck := bookkeeper.New(bookkeeper.Config{Name: "cluster", Concurrency: 8, Timeout: 5 * time.Second, MaxTries: 3, Retryable: cluster.Retryable})
		peers := cluster.NewPeers(members, id, secret, ck, testenv.Discard)
		s3k := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 8, QueueLimit: 100, Timeout: 5 * time.Second, MaxTries: 2, Retryable: s3store.Retryable})
		store := state.NewStore(state.Config{ServerID: id, Now: now}, state.Deps{Blobs: w.blobs, S3: s3k,
			GameData: gamedata.NewHolder(gd), Accounts: state.DevAccounts(t, w.blobs, now),
			Profiler: profiler.New(), Log: testenv.Discard, Cluster: peers,
			Mongo: state.Mongo{Index: w.ms, Updates: w.forget, Mail: w.mail, Analytics: w.events}})
		handler.Store(cluster.Handler(store, secret, http.NotFoundHandler(), testenv.Discard))
		sib := &world{t: t, store: store, ms: w.ms, mail: w.mail, ferret: w.ferret, keeper: w.keeper,
			events: w.events, updates: w.updates, forget: w.forget, blobs: w.blobs, now: w.now}
		nodes[i] = &node{world: sib, members: members, peers: peers, srv: srv}
	}
	refresh(t, nodes)
	return nodes
}

// twoNodes is clusterOf(t, w, "A", "B").
func twoNodes(t *testing.T, w *world) (a, b *node) {
	t.Helper()
	nodes := clusterOf(t, w, "A", "B")
	return nodes[0], nodes[1]
}

// refresh beats every node's heartbeat and lists the others again: after
// the test moved the clock, nobody should look dead.
func refresh(t testing.TB, nodes []*node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.members.Beat(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if err := n.members.List(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRaidAcrossServers: the defender is live on B, the attacker on A.
// A's raid is settled by B under the defender's lock (pushed to it
// there), the attacker gets exactly what the defender lost, and a retried
// settlement (its reply lost) answers the first result without a second
// loss.
func TestRaidAcrossServers(t *testing.T) {
	w := newWorld(t)
	// Arming up moves the clock by an hour: done on a lone server, or the
	// cluster's members would fence themselves (no heartbeat meanwhile).
	arming := w.login("attacker")
	arming.armUp(10)
	arming.logout()
	a, b := twoNodes(t, w)
	def := b.login("defender")
	att := a.login("attacker")
	before := def.gold() + att.gold()
	res := raidResult(t, raid(t, att, "defender"))
	if got := b.store.ClusterStats().DefendsHere; got != 1 {
		t.Errorf("raids settled on B for A = %d, want 1", got)
	}
	if got := a.store.ClusterStats().DefendsRemote; got != 1 {
		t.Errorf("raids A had settled elsewhere = %d, want 1", got)
	}
	if n := len(def.view().Raids); n != 1 {
		t.Fatalf("defender's raids on B = %d, want 1", n)
	}
	if after := def.gold() + att.gold(); after != before || res.Loot["gold"] == 0 {
		t.Fatalf("gold of both sides %d before, %d after a cross-server raid looting %d", before, after, res.Loot["gold"])
	}

	// The same settlement again, as a retry after a lost reply would send.
	again, err := b.store.DefendHere(context.Background(), &actions.RaidRequest{RaidID: res.RaidID, Attacker: "attacker", Defender: "defender"})
	if err != nil {
		t.Fatal(err)
	}
	if again.RaidID != res.RaidID || again.Loot["gold"] != res.Loot["gold"] {
		t.Errorf("retried settlement answered %+v, want the first result %+v", again, res)
	}
	if n := len(def.view().Raids); n != 1 {
		t.Fatalf("defender's raids after a retried settlement = %d, want still 1", n)
	}
}

// TestHandoffAcrossServers: a sign-in on B for a player live on A asks A
// to hand it over: A saves it with the lease released and forgets it; B
// loads it with everything A acknowledged.
func TestHandoffAcrossServers(t *testing.T) {
	w := newWorld(t)
	a, b := twoNodes(t, w)
	p := a.login("mover")
	p.must("ping", `{}`)
	p.must("ping", `{}`)
	seq := p.seq
	q := b.login("mover")
	if q.seq != seq {
		t.Fatalf("after the handoff last_seq = %d, want %d", q.seq, seq)
	}
	if got := a.store.ClusterStats().HandoffsGiven; got != 1 {
		t.Errorf("A handed over %d players, want 1", got)
	}
	if a.store.OnlineCount() != 0 || b.store.OnlineCount() != 1 {
		t.Errorf("online A %d, B %d; want 0 and 1", a.store.OnlineCount(), b.store.OnlineCount())
	}
	if _, _, err := a.store.Apply(p.sess, []state.Action{{Seq: seq + 1, Name: "ping"}}); err == nil {
		t.Error("the old session on A still applies actions after the handoff")
	}
}

// TestDeadServerTakenOver: the owner stops beating (it died); after
// DeadAfter of silence the other server takes its player at once,
// without waiting out the lease.
func TestDeadServerTakenOver(t *testing.T) {
	w := newWorld(t)
	a, b := twoNodes(t, w)
	p := a.login("orphan")
	p.act("ping", `{}`)
	a.srv.Close() // A is gone: no heartbeat, no answers
	tests := []struct {
		name    string
		advance time.Duration
		wantErr bool
	}{
		{"owner silent 4s: still alive", 4 * time.Second, true},
		{"owner silent 12s: dead, taken over", 8 * time.Second, false},
	}
	for _, tt := range tests {
		w.advance(tt.advance)
		if err := b.members.Beat(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := b.members.List(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err := b.store.DevLogin(context.Background(), "orphan")
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: sign-in on B: %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
	if got := b.store.ClusterStats().TakeoversDead; got != 1 {
		t.Errorf("takeovers from a dead server = %d, want 1", got)
	}
}

// TestFencedServerAcknowledgesNothing: a server whose own heartbeat has
// not landed for FenceAfter refuses actions (503) before the others may
// declare it dead and take its players; its next heartbeat lifts it.
func TestFencedServerAcknowledgesNothing(t *testing.T) {
	w := newWorld(t)
	nodes := clusterOf(t, w, "A")
	a := nodes[0]
	p := a.login("fenced")
	tests := []struct {
		name    string
		advance time.Duration
		beat    bool
		fenced  bool
	}{
		{"heartbeat 5s old", 5 * time.Second, false, false},
		{"heartbeat 9s old", 4 * time.Second, false, true},
		{"heartbeat landed again", 0, true, false},
	}
	for _, tt := range tests {
		w.advance(tt.advance)
		if tt.beat {
			if err := a.members.Beat(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		p.seq++
		_, _, err := a.store.Apply(p.sess, []state.Action{{Seq: p.seq, Name: "ping"}})
		if got := errors.Is(err, state.ErrFenced); got != tt.fenced {
			t.Errorf("%s: Apply: %v, want fenced %v", tt.name, err, tt.fenced)
		}
		if !tt.fenced && err != nil {
			t.Errorf("%s: Apply: %v", tt.name, err)
		}
	}
}

// BenchmarkHandoff: a player signs in on alternate servers of a cluster,
// each sign-in handing it over from the other (save with the lease
// released there, load here), over real HTTP between the servers and the
// embedded S3 and FerretDB. Reports the sign-in's p50 and p99.
func BenchmarkHandoff(b *testing.B) {
	w := newWorld(b)
	nodes := clusterOfTB(b, w, "A", "B")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		n := nodes[i%2]
		t0 := time.Now()
		if _, err := n.store.DevLogin(context.Background(), "commuter"); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// TestMailReachesPlayerOnAnotherServer: a raid's result for an attacker
// live on another server goes to the mailbox and its owner is told at
// once, which applies it: no waiting for the next load, no polling.
func TestMailReachesPlayerOnAnotherServer(t *testing.T) {
	w := newWorld(t)
	a, b := twoNodes(t, w)
	att := b.login("far")
	before := att.gold()
	body := `{"raid_id":"far-7","attacker":"far","defender":"someone","stars":1,"loot":{"gold":100},"units_sent":{},"units_lost":0}`
	a.store.Deliver(context.Background(), state.Mail{ID: "far-7:attack", To: "far", Kind: state.MailRaidAttack,
		Created: w.now.Load(), Body: []byte(body)})
	if got := b.store.ClusterStats().PokesReceived; got != 1 {
		t.Fatalf("B was told of %d mails, want 1", got)
	}
	b.settle()
	if got := att.gold() - before; got != 100 {
		t.Errorf("attacker's gold on B rose by %d after the mail, want 100 at once", got)
	}
	if got := a.store.ClusterStats().PokesSent; got != 1 {
		t.Errorf("A announced %d mails, want 1", got)
	}
}
