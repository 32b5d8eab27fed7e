package state

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/accounts"
	"rampart/internal/testenv"
)

// refreshBlobs injects faults into player writes: held until released
// (hold), then refused before S3 (down, or refuse: the next n), or landed
// with the reply lost (lose: the next n).
type refreshBlobs struct {
	*countingBlobs
	down   atomic.Bool
	refuse atomic.Int64
	lose   atomic.Int64
	// lossDowns: a write whose reply is lost takes S3 down after it, so
	// its retries fail too.
	lossDowns atomic.Bool

	gate
}

// gate holds the next call that passes it until released.
type gate struct {
	mu               sync.Mutex
	reached, release chan struct{}
}

// hold arms the gate: reached closes when a call arrives, which then
// waits until release is closed.
func (g *gate) hold() (reached, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reached, g.release = make(chan struct{}), make(chan struct{})
	return g.reached, g.release
}

// pass is where a call meets the gate.
func (g *gate) pass() {
	g.mu.Lock()
	reached, release := g.reached, g.release
	g.reached, g.release = nil, nil
	g.mu.Unlock()
	if reached != nil {
		close(reached)
		<-release
	}
}

func (b *refreshBlobs) Put(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	b.pass()
	if b.down.Load() || b.refuse.Add(-1) >= 0 {
		return "", fmt.Errorf("injected: S3 down")
	}
	etag, err := b.countingBlobs.Put(ctx, key, data, cond)
	if err == nil && b.lose.Add(-1) >= 0 {
		if b.lossDowns.Load() {
			b.down.Store(true)
		}
		return "", fmt.Errorf("injected: reply lost: %w", context.DeadlineExceeded)
	}
	return etag, err
}

func signInRot(f string) accounts.Rotation { return accounts.Rotation{Family: f} }

func refreshRot(f string, spent uint64) accounts.Rotation {
	return accounts.Rotation{Family: f, Counter: spent + 1, Refresh: true}
}

// savedPlayer is id's S3 object.
func savedPlayer(t *testing.T, blobs Blobs, id string) Player {
	t.Helper()
	data, _, err := blobs.Get(context.Background(), Key(id))
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePlayer(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// savedFamily is the family in id's S3 object.
func savedFamily(t *testing.T, blobs Blobs, id string) RefreshFamily {
	t.Helper()
	return savedPlayer(t, blobs, id).Refresh
}

// rotLogin is a login of id with a fresh development session and rot.
func rotLogin(s *Store, id string, rot accounts.Rotation) (accounts.Grant, error) {
	g, err := s.accts.DevSession(id)
	if err != nil {
		return g, err
	}
	_, err = s.Login(context.Background(), id, g.Claims, rot)
	return g, err
}

// TestRefreshFamily: the player's refresh-token family lives in its
// object. A sign-in writes a new one before it answers (with the lease
// when it loads the player, by a save when the player is in memory), a
// refresh must present the family's unspent counter, a write that fails
// leaves the family as it was (its tokens were never handed out), and a
// refused refresh does not take the player from the server it is live on.
// Steps run in order on one bucket, on two servers.
func TestRefreshFamily(t *testing.T) {
	blobs := &refreshBlobs{countingBlobs: newBlobs(t, testenv.EmbeddedS3(t))}
	clk := newClock()
	ctx := context.Background()
	stores := []*Store{newStore(t, blobs, clk, "server-a"), newStore(t, blobs, clk, "server-b")}
	legacy := func(f string, spent uint64) accounts.Rotation {
		r := refreshRot(f, spent)
		r.Legacy = true
		return r
	}
	var sess Session // the last login's, for a logout
	steps := []struct {
		name     string
		server   int
		player   string
		logout   bool // log the last session out first
		down     bool // S3 refuses writes
		lose     bool // the first write lands, its reply is lost
		rot      accounts.Rotation
		want     error
		wantPuts int64 // that reached S3 (down refuses them before)
		saved    RefreshFamily
		liveOn   int // the server holding the player afterwards
	}{
		{name: "sign-in loads: the family rides on the lease", player: "rita", rot: signInRot("f1"), wantPuts: 1, saved: RefreshFamily{"f1", 0}},
		{name: "refresh", player: "rita", rot: refreshRot("f1", 0), wantPuts: 1, saved: RefreshFamily{"f1", 1}},
		{name: "the spent token again", player: "rita", rot: refreshRot("f1", 0), want: ErrRefreshReused, saved: RefreshFamily{"f1", 1}},
		{name: "a counter ahead", player: "rita", rot: refreshRot("f1", 2), want: ErrUnauthorized, saved: RefreshFamily{"f1", 1}},
		{name: "sign-in in memory: written by a save", player: "rita", rot: signInRot("f2"), wantPuts: 1, saved: RefreshFamily{"f2", 0}},
		{name: "the superseded family", player: "rita", rot: refreshRot("f1", 1), want: ErrUnauthorized, saved: RefreshFamily{"f2", 0}},
		{name: "refresh, S3 down", player: "rita", down: true, rot: refreshRot("f2", 0), want: ErrUnavailable, saved: RefreshFamily{"f2", 0}},
		{name: "the same token once S3 is back", player: "rita", rot: refreshRot("f2", 0), wantPuts: 1, saved: RefreshFamily{"f2", 1}},
		{name: "a write that lands, its reply lost: confirmed", player: "rita", lose: true, rot: refreshRot("f2", 1), wantPuts: 2, saved: RefreshFamily{"f2", 2}},
		{name: "another server, after a logout: the family from S3, advanced with the lease", server: 1, player: "rita", logout: true, rot: refreshRot("f2", 2), wantPuts: 1, saved: RefreshFamily{"f2", 3}, liveOn: 1},
		{name: "a superseded token elsewhere: no takeover", player: "rita", rot: refreshRot("f1", 1), want: ErrUnauthorized, saved: RefreshFamily{"f2", 3}, liveOn: 1},
		{name: "a spent token elsewhere: for its owner to judge (busy, without a cluster)", player: "rita", rot: refreshRot("f2", 1), want: ErrPlayerBusy, saved: RefreshFamily{"f2", 3}, liveOn: 1},
		{name: "sign-in, S3 down", server: 1, player: "rita", down: true, rot: signInRot("f3"), want: ErrUnavailable, saved: RefreshFamily{"f2", 3}, liveOn: 1},
		{name: "the family the failed sign-in did not replace", server: 1, player: "rita", rot: refreshRot("f2", 3), wantPuts: 1, saved: RefreshFamily{"f2", 4}, liveOn: 1},
		{name: "a legacy token, the player holding a family", server: 1, player: "rita", rot: legacy("old", 4), want: ErrUnauthorized, saved: RefreshFamily{"f2", 4}, liveOn: 1},
		{name: "a resumed session keeps the family", server: 1, player: "rita", saved: RefreshFamily{"f2", 4}, liveOn: 1},
		{name: "no family yet", player: "sami", wantPuts: 1},
		{name: "a legacy token, the player holding none", player: "sami", rot: legacy("old", 4), wantPuts: 1, saved: RefreshFamily{"old", 5}},
		{name: "the legacy token again", player: "sami", rot: legacy("old", 4), want: ErrRefreshReused, saved: RefreshFamily{"old", 5}},
	}
	for _, st := range steps {
		s := stores[st.server]
		if st.logout {
			if err := stores[0].Logout(ctx, sess, 0); err != nil {
				t.Fatalf("%s: logout: %v", st.name, err)
			}
		}
		blobs.down.Store(st.down)
		if st.lose {
			blobs.lose.Store(1)
		}
		puts := blobs.puts.Load()
		g, loginErr := rotLogin(s, st.player, st.rot)
		blobs.down.Store(false)
		if st.want == nil && loginErr != nil || st.want != nil && !errors.Is(loginErr, st.want) {
			t.Errorf("%s: login: %v, want %v", st.name, loginErr, st.want)
		}
		if n := blobs.puts.Load() - puts; n != st.wantPuts {
			t.Errorf("%s: %d S3 writes, want %d", st.name, n, st.wantPuts)
		}
		if got := savedFamily(t, blobs, st.player); got != st.saved {
			t.Errorf("%s: family in S3 %+v, want %+v", st.name, got, st.saved)
		}
		for i, other := range stores {
			if _, ok := other.players.load(st.player); ok != (i == st.liveOn) {
				t.Errorf("%s: in memory on server %d: %v, want it on server %d only", st.name, i, ok, st.liveOn)
			}
		}
		if loginErr == nil {
			var err error
			if sess, err = s.Authenticate(g.Session); err != nil {
				t.Fatalf("%s: the new session: %v", st.name, err)
			}
		}
	}
}

// TestRefreshBehindAWrite: a login that checks or changes the family
// waits for the one before it to land or be undone, so it checks a
// family S3 holds: the same token again is a reuse only once the first
// refresh's write landed, and after writes that failed the family is the
// one before them (had the second undone to the first's unlanded change,
// the token would later count as spent).
func TestRefreshBehindAWrite(t *testing.T) {
	for _, tt := range []struct {
		name       string
		second     accounts.Rotation
		refuse     int64 // writes refused after the first is released
		wantFirst  error
		wantSecond error
		saved      RefreshFamily
	}{
		{"the same token, the first write lands", refreshRot("f1", 0), 0, nil, ErrRefreshReused, RefreshFamily{"f1", 1}},
		{"the same token, the first write fails", refreshRot("f1", 0), 1, ErrUnavailable, nil, RefreshFamily{"f1", 1}},
		{"a sign-in, both writes fail", signInRot("f9"), 2, ErrUnavailable, ErrUnavailable, RefreshFamily{"f1", 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			blobs := &refreshBlobs{countingBlobs: newBlobs(t, testenv.EmbeddedS3(t))}
			s := newStore(t, blobs, newClock(), "server-a")
			if _, err := rotLogin(s, "tess", signInRot("f1")); err != nil {
				t.Fatal(err)
			}
			reached, release := blobs.hold()
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()
			first, second := make(chan error), make(chan error)
			go func() {
				_, err := rotLogin(s, "tess", refreshRot("f1", 0))
				first <- err
			}()
			<-reached
			// The order itself: while a write is on the wire, no other
			// login may check or change the family.
			if o, ok := s.players.load("tess"); !ok || o.famMu.TryLock() {
				t.Fatal("the family is free for another login while a write that changes it is on the wire")
			}
			go func() {
				_, err := rotLogin(s, "tess", tt.second)
				second <- err
			}()
			blobs.refuse.Store(tt.refuse)
			close(release)
			released = true
			if err := <-first; !errors.Is(err, tt.wantFirst) || tt.wantFirst == nil && err != nil {
				t.Errorf("the first: %v, want %v", err, tt.wantFirst)
			}
			if err := <-second; !errors.Is(err, tt.wantSecond) || tt.wantSecond == nil && err != nil {
				t.Errorf("the second: %v, want %v", err, tt.wantSecond)
			}
			if err := s.SaveAll(context.Background()); err != nil { // an undoing is written by the next save
				t.Fatal(err)
			}
			if got := savedFamily(t, blobs, "tess"); got != tt.saved {
				t.Errorf("family in S3 %+v, want %+v", got, tt.saved)
			}
		})
	}
}

// TestConcurrentSignInsFamily: sign-ins of one player at the same moment
// (sharing one load, or finding it in memory while another saves) may
// answer in any order, but once they have, memory and S3 hold the same
// family, and it is one a sign-in was answered with.
func TestConcurrentSignInsFamily(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	s := newStore(t, blobs, newClock(), "server-a")
	const rounds, logins = 5, 6
	for r := range rounds {
		answered := make([]bool, logins)
		var wg sync.WaitGroup
		for i := range logins {
			wg.Go(func() {
				_, err := rotLogin(s, "ugo", signInRot(fmt.Sprintf("r%d-%d", r, i)))
				if err != nil {
					t.Errorf("round %d, sign-in %d: %v", r, i, err)
					return
				}
				answered[i] = true
			})
		}
		wg.Wait()
		o, ok := s.players.load("ugo")
		if !ok {
			t.Fatal("not in memory")
		}
		o.mu.Lock()
		mem, seq, saved := o.p.Refresh, o.refreshSeq, o.refreshSaved
		live := Session{o: o, id: o.session, gen: o.gen}
		o.mu.Unlock()
		if got := savedFamily(t, blobs, "ugo"); got != mem || seq != saved {
			t.Errorf("round %d: S3 holds %+v, memory %+v (change %d, %d landed)", r, got, mem, seq, saved)
		}
		var i int
		if _, err := fmt.Sscanf(mem.ID, "r%d-%d", new(int), &i); err != nil || i >= logins || !answered[i] {
			t.Errorf("round %d: the family %q is no answered sign-in's", r, mem.ID)
		}
		// Out of memory again, so that the next round's sign-ins share a load.
		if err := s.Logout(context.Background(), live, 0); err != nil {
			t.Fatalf("round %d: logout: %v", r, err)
		}
	}
}

// TestRefreshLostOwnership: a family write refused because another server
// took the player over answers moving (retry), not unauthorized (which a
// refresh's client would take to mean its token is dead), and changes
// nothing there.
func TestRefreshLostOwnership(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	a, b := newStore(t, blobs, clk, "server-a"), newStore(t, blobs, clk, "server-b")
	if _, err := rotLogin(a, "vera", signInRot("f1")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Minute) // server-a's lease runs out unrenewed
	if _, err := rotLogin(b, "vera", refreshRot("f1", 0)); err != nil {
		t.Fatalf("takeover by a refresh on server-b: %v", err)
	}
	// A sign-in on the server that does not know yet: its write meets
	// server-b's.
	_, err := rotLogin(a, "vera", signInRot("f2"))
	if !errors.Is(err, ErrMoving) || errors.Is(err, ErrLostOwnership) || errors.Is(err, ErrUnauthorized) {
		t.Errorf("sign-in on the server that lost the player: %v, want moving only", err)
	}
	if _, ok := a.players.load("vera"); ok {
		t.Error("server-a still holds the player")
	}
	if got := savedFamily(t, blobs, "vera"); got != (RefreshFamily{"f1", 1}) {
		t.Errorf("family in S3 %+v, want server-b's {f1 1}", got)
	}
}

// TestRevokedOutlivesMemory: the generation a sign-out revoked below is
// written with the final save, so a server that loads the player afresh
// refuses a token signed before the revocation, though the account
// generation it was checked against was read before the revocation too
// (the race of a refresh with a logout). A refresh is refused before its
// load takes the player anywhere. Steps run in order on one bucket, on
// two servers; -1 is no server.
func TestRevokedOutlivesMemory(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	ctx := context.Background()
	stores := []*Store{newStore(t, blobs, clk, "server-a"), newStore(t, blobs, clk, "server-b")}
	const id = "rosa"
	var sess Session // the last login's
	steps := []struct {
		name    string
		server  int
		logout  uint64 // > 0: log the last session out at this generation
		revoke  uint64 // > 0: revoke (a ban) at this generation
		gen     uint64 // else: a login with a token of this generation
		rot     accounts.Rotation
		want    error
		puts    int64 // S3 writes
		revoked uint64
		liveOn  int
	}{
		{name: "sign-in", gen: 1, rot: signInRot("f1"), puts: 1},
		{name: "logout at 2: the final save holds it", logout: 2, puts: 1, revoked: 2, liveOn: -1},
		{name: "a refresh signed before the logout, elsewhere: refused before its load", server: 1, gen: 1, rot: refreshRot("f1", 0),
			want: ErrUnauthorized, revoked: 2, liveOn: -1},
		{name: "a session resumed from before the logout: refused before its load too", server: 1, gen: 1, want: ErrUnauthorized,
			revoked: 2, liveOn: -1},
		{name: "a sign-in at the account's generation", server: 1, gen: 2, rot: signInRot("f2"), puts: 1, revoked: 2, liveOn: 1},
		{name: "a ban at 3 where it is live", server: 1, revoke: 3, puts: 1, revoked: 3, liveOn: -1},
		{name: "the banned session's refresh, back where it was first", gen: 2, rot: refreshRot("f2", 0),
			want: ErrUnauthorized, revoked: 3, liveOn: -1},
		{name: "a sign-in after the ban", gen: 3, rot: signInRot("f3"), puts: 1, revoked: 3},
	}
	for _, st := range steps {
		s := stores[st.server]
		puts := blobs.puts.Load()
		var err error
		switch {
		case st.logout > 0:
			err = s.Logout(ctx, sess, st.logout)
		case st.revoke > 0:
			err = s.Revoke(ctx, id, st.revoke)
		default:
			var g accounts.Grant
			if g, err = s.accts.DevSession(id); err != nil {
				t.Fatal(err)
			}
			g.Claims.Gen = st.gen
			_, err = s.Login(ctx, id, g.Claims, st.rot)
			if err == nil {
				sess = Session{o: mustOnline(t, s, id), id: g.Claims.Session, gen: st.gen}
			}
		}
		if st.want == nil && err != nil || st.want != nil && !errors.Is(err, st.want) {
			t.Errorf("%s: %v, want %v", st.name, err, st.want)
		}
		if n := blobs.puts.Load() - puts; n != st.puts {
			t.Errorf("%s: %d S3 writes, want %d", st.name, n, st.puts)
		}
		if got := savedPlayer(t, blobs, id).Revoked; got != st.revoked {
			t.Errorf("%s: revoked below %d in S3, want %d", st.name, got, st.revoked)
		}
		for i, other := range stores {
			if _, ok := other.players.load(id); ok != (i == st.liveOn) {
				t.Errorf("%s: in memory on server %d: %v, want it on server %d only", st.name, i, ok, st.liveOn)
			}
		}
	}
}

// signInAndOut logs id in with each of rots in turn, then logs its
// session out: the player is in S3 only, its family rots' last.
func signInAndOut(t *testing.T, s *Store, id string, rots ...accounts.Rotation) {
	t.Helper()
	for _, rot := range rots {
		if _, err := rotLogin(s, id, rot); err != nil {
			t.Fatal(err)
		}
	}
	o := mustOnline(t, s, id)
	o.mu.Lock()
	live := Session{o: o, id: o.session, gen: o.gen}
	o.mu.Unlock()
	if err := s.Logout(context.Background(), live, 0); err != nil {
		t.Fatal(err)
	}
}

// mustOnline is id in s's memory.
func mustOnline(t *testing.T, s *Store, id string) *Online {
	t.Helper()
	o, ok := s.players.load(id)
	if !ok {
		t.Fatalf("%s not in memory", id)
	}
	return o
}

// TestRefreshOffline: a refresh of a player no server holds reads its
// object once and, if the token is the family's unspent one, advances the
// family with the lease write: 1 GET and 1 PUT (with the account read in
// accounts, 3 S3 calls). A token refused reads and writes nothing more.
// Each row starts from a player signed in with family f1 at counter 1,
// then logged out.
func TestRefreshOffline(t *testing.T) {
	for _, tt := range []struct {
		name       string
		rot        accounts.Rotation
		want       error
		gets, puts int64
		saved      RefreshFamily
		live       bool
	}{
		{"the unspent token", refreshRot("f1", 1), nil, 1, 1, RefreshFamily{"f1", 2}, true},
		{"a spent token", refreshRot("f1", 0), ErrRefreshReused, 1, 0, RefreshFamily{"f1", 1}, false},
		{"a superseded family", refreshRot("f0", 1), ErrUnauthorized, 1, 0, RefreshFamily{"f1", 1}, false},
		{"a counter ahead", refreshRot("f1", 3), ErrUnauthorized, 1, 0, RefreshFamily{"f1", 1}, false},
		{"a sign-in", signInRot("f2"), nil, 1, 1, RefreshFamily{"f2", 0}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			blobs := newBlobs(t, testenv.EmbeddedS3(t))
			s := newStore(t, blobs, newClock(), "server-a")
			signInAndOut(t, s, "olga", signInRot("f1"), refreshRot("f1", 0))
			gets, puts := blobs.gets.Load(), blobs.puts.Load()
			_, err := rotLogin(s, "olga", tt.rot)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("login: %v, want %v", err, tt.want)
			}
			if g, p := blobs.gets.Load()-gets, blobs.puts.Load()-puts; g != tt.gets || p != tt.puts {
				t.Errorf("S3 calls: %d GETs and %d PUTs, want %d and %d", g, p, tt.gets, tt.puts)
			}
			if got := savedFamily(t, blobs, "olga"); got != tt.saved {
				t.Errorf("family in S3 %+v, want %+v", got, tt.saved)
			}
			if _, ok := s.players.load("olga"); ok != tt.live {
				t.Errorf("in memory: %v, want %v", ok, tt.live)
			}
		})
	}
}

// heldBlobs holds the next player read until released (hold).
type heldBlobs struct {
	*countingBlobs
	gate
}

func (b *heldBlobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	b.pass()
	return b.countingBlobs.Get(ctx, key)
}

// waitingInLoads waits until n goroutines are in a load of the Store's
// singleflight group (a leader in its read, the others waiting on it).
func waitingInLoads(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); ; {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if strings.Count(stacks, "singleflight.(*Group).Do(") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d logins share the load after 10 s", n)
		}
		runtime.Gosched()
	}
}

// TestRefusedLoadShared: a load refused for its leader's token (before it
// wrote anything) is not the answer of the logins that shared it: they
// load again with their own token. Here a refresh of a superseded family
// leads and a sign-in waits on it.
func TestRefusedLoadShared(t *testing.T) {
	blobs := &heldBlobs{countingBlobs: newBlobs(t, testenv.EmbeddedS3(t))}
	s := newStore(t, blobs, newClock(), "server-a")
	signInAndOut(t, s, "pia", signInRot("f1"))

	reached, release := blobs.hold()
	leader := make(chan error, 1)
	go func() { _, err := rotLogin(s, "pia", refreshRot("f0", 0)); leader <- err }()
	testenv.Receive(t, reached, 10*time.Second, "the refresh did not read the player")
	follower := make(chan error, 1)
	go func() { _, err := rotLogin(s, "pia", signInRot("f2")); follower <- err }()
	waitingInLoads(t, 2)
	gets := blobs.gets.Load()
	close(release)

	if err := testenv.Receive(t, leader, 10*time.Second, "the refresh did not answer"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("refresh of a superseded family: %v, want unauthorized", err)
	}
	if err := testenv.Receive(t, follower, 10*time.Second, "the sign-in did not answer"); err != nil {
		t.Errorf("the sign-in that shared the refused load: %v, want nil", err)
	}
	if n := blobs.gets.Load() - gets; n != 2 {
		t.Errorf("%d player reads, want 2 (the refused load's, then the sign-in's own)", n)
	}
	if got := savedFamily(t, blobs, "pia"); got != (RefreshFamily{"f2", 0}) {
		t.Errorf("family in S3 %+v, want the sign-in's {f2 0}", got)
	}
}

// TestRefreshOwnLeaseWrite: a refresh that a load led wrote its family
// change with the lease, so the family at its rotation is its own, not a
// sign that its token was spent, until another login changes it: when
// the player leaves memory before the login adopts it (it answers, its
// tokens good), when a login changed the family in between (refused: a
// superseded family's tokens must not be handed out), and when the lease
// write landed with every reply lost (the same token goes through once
// more, and only once, on the server that wrote it). Each row starts from a player signed in with
// family f1, then logged out.
func TestRefreshOwnLeaseWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		// between runs after the refresh's led load, before its adopt;
		// nil: no load is led by hand, the refresh runs as a Login whose
		// lease write lands unanswered and fails.
		between   func(t *testing.T, s *Store, o *Online)
		want      error
		saved     RefreshFamily
		wantAgain error // the same token once more
	}{
		{"left memory before adopt", func(t *testing.T, s *Store, o *Online) {
			if err := s.save(context.Background(), o, saveShutdown); err != nil {
				t.Fatal(err)
			}
		}, nil, RefreshFamily{"f1", 1}, ErrRefreshReused},
		{"a sign-in in between", func(t *testing.T, s *Store, o *Online) {
			if _, err := rotLogin(s, "quin", signInRot("f2")); err != nil {
				t.Fatal(err)
			}
		}, ErrUnauthorized, RefreshFamily{"f2", 0}, ErrUnauthorized},
		{"the lease write landed unanswered", nil, ErrUnavailable, RefreshFamily{"f1", 1}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			blobs := &refreshBlobs{countingBlobs: newBlobs(t, testenv.EmbeddedS3(t))}
			s := newStore(t, blobs, newClock(), "server-a")
			signInAndOut(t, s, "quin", signInRot("f1"))
			var err error
			if tt.between == nil {
				blobs.lose.Store(1)
				blobs.lossDowns.Store(true)
				_, err = rotLogin(s, "quin", refreshRot("f1", 0))
				blobs.down.Store(false)
			} else {
				g, gerr := s.accts.DevSession("quin")
				if gerr != nil {
					t.Fatal(gerr)
				}
				l := &loginLoad{gen: g.Claims.Gen, rot: refreshRot("f1", 0)}
				o, led, lerr := s.load(context.Background(), "quin", l)
				if lerr != nil || !led {
					t.Fatalf("load: led %v, %v", led, lerr)
				}
				l.landed = true
				tt.between(t, s, o)
				// As Login does: a player gone before adopt is loaded again.
				for again := true; again && err == nil; {
					var res LoginResult
					if res, again, err = s.adopt(context.Background(), o, g.Claims, l); again {
						o, _, err = s.load(context.Background(), "quin", l)
					} else if err == nil && len(res.Player) == 0 {
						t.Error("adopt answered no player")
					}
				}
			}
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("refresh: %v, want %v", err, tt.want)
			}
			if got := savedFamily(t, blobs, "quin"); got != tt.saved {
				t.Errorf("family in S3 %+v, want %+v", got, tt.saved)
			}
			_, err = rotLogin(s, "quin", refreshRot("f1", 0))
			if tt.wantAgain == nil && err != nil || tt.wantAgain != nil && !errors.Is(err, tt.wantAgain) {
				t.Errorf("the same token again: %v, want %v", err, tt.wantAgain)
			}
			if tt.wantAgain == nil {
				if _, err := rotLogin(s, "quin", refreshRot("f1", 0)); !errors.Is(err, ErrRefreshReused) {
					t.Errorf("the same token a third time: %v, want reused", err)
				}
			}
		})
	}
}
