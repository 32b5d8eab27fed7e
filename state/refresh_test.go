package state

import (
	"context"
	"errors"
	"testing"

	"rampart/accounts"
	"rampart/internal/testenv"
)

// TestRefreshFamily: the player's refresh-token family lives in its
// object. A sign-in writes a new one before it answers (with the lease
// when it loads the player, by a save when the player is in memory), a
// refresh must present the family's unspent counter, and a write that
// fails leaves the family as it was: its tokens were never handed out.
// Steps run in order on one bucket, on two servers.
func TestRefreshFamily(t *testing.T) {
	blobs := &downBlobs{Blobs: newBlobs(t, testenv.EmbeddedS3(t))}
	clk := newClock()
	ctx := context.Background()
	stores := []*Store{newStore(t, blobs, clk, "server-a"), newStore(t, blobs, clk, "server-b")}
	signIn := func(f string) accounts.Rotation { return accounts.Rotation{Family: f} }
	refresh := func(f string, spent uint64) accounts.Rotation {
		return accounts.Rotation{Family: f, Counter: spent + 1, Refresh: true}
	}
	legacy := func(f string, spent uint64) accounts.Rotation {
		r := refresh(f, spent)
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
		rot      accounts.Rotation
		want     error
		wantPuts int64         // that reached S3 (down refuses them before)
		saved    RefreshFamily // in the player's object afterwards
	}{
		{name: "sign-in loads: the family rides on the lease", player: "rita", rot: signIn("f1"), wantPuts: 1, saved: RefreshFamily{"f1", 0}},
		{name: "refresh", player: "rita", rot: refresh("f1", 0), wantPuts: 1, saved: RefreshFamily{"f1", 1}},
		{name: "the spent token again", player: "rita", rot: refresh("f1", 0), want: ErrRefreshReused, saved: RefreshFamily{"f1", 1}},
		{name: "a counter ahead", player: "rita", rot: refresh("f1", 2), want: ErrUnauthorized, saved: RefreshFamily{"f1", 1}},
		{name: "sign-in in memory: written by a save", player: "rita", rot: signIn("f2"), wantPuts: 1, saved: RefreshFamily{"f2", 0}},
		{name: "the superseded family", player: "rita", rot: refresh("f1", 1), want: ErrUnauthorized, saved: RefreshFamily{"f2", 0}},
		{name: "refresh, S3 down", player: "rita", down: true, rot: refresh("f2", 0), want: ErrUnavailable, wantPuts: 0, saved: RefreshFamily{"f2", 0}},
		{name: "the same token once S3 is back", player: "rita", rot: refresh("f2", 0), wantPuts: 1, saved: RefreshFamily{"f2", 1}},
		{name: "another server, after a logout: the family from S3", server: 1, player: "rita", logout: true, rot: refresh("f2", 1), wantPuts: 2, saved: RefreshFamily{"f2", 2}},
		{name: "sign-in, S3 down", server: 1, player: "rita", down: true, rot: signIn("f3"), want: ErrUnavailable, wantPuts: 0, saved: RefreshFamily{"f2", 2}},
		{name: "the family the failed sign-in did not replace", server: 1, player: "rita", rot: refresh("f2", 2), wantPuts: 1, saved: RefreshFamily{"f2", 3}},
		{name: "a legacy token, the player holding a family", server: 1, player: "rita", rot: legacy("old", 4), want: ErrUnauthorized, saved: RefreshFamily{"f2", 3}},
		{name: "a resumed session keeps the family", server: 1, player: "rita", wantPuts: 0, saved: RefreshFamily{"f2", 3}},
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
		g, err := s.accts.DevSession(st.player)
		if err != nil {
			t.Fatal(err)
		}
		blobs.down.Store(st.down)
		puts := blobs.Blobs.(*countingBlobs).puts.Load()
		_, err = s.Login(ctx, st.player, g.Claims, st.rot)
		blobs.down.Store(false)
		if st.want == nil && err != nil || st.want != nil && !errors.Is(err, st.want) {
			t.Errorf("%s: login: %v, want %v", st.name, err, st.want)
		}
		if n := blobs.Blobs.(*countingBlobs).puts.Load() - puts; n != st.wantPuts {
			t.Errorf("%s: %d S3 writes, want %d", st.name, n, st.wantPuts)
		}
		data, _, err := blobs.Get(ctx, Key(st.player))
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodePlayer(data)
		if err != nil {
			t.Fatal(err)
		}
		if p.Refresh != st.saved {
			t.Errorf("%s: family in S3 %+v, want %+v", st.name, p.Refresh, st.saved)
		}
		if err == nil && st.want == nil {
			if sess, err = s.Authenticate(g.Session); err != nil {
				t.Fatalf("%s: the new session: %v", st.name, err)
			}
		}
	}
}
