package state

import (
	"context"
	"encoding/json"
	"testing"
)

// TestLoginCreated checks that a sign-up's load costs one S3 call (the
// lease write, If-None-Match) instead of two, and that a LoginCreated that
// meets an existing object after all loads it as Login would, losing
// nothing.
func TestLoginCreated(t *testing.T) {
	tests := []struct {
		name            string
		created         bool // LoginCreated instead of Login
		exists          bool // the player was saved before with 2 actions
		wantGets        int64
		wantPuts        int64
		wantLastSeq     int64
		wantNewAccounts int64
	}{
		{"sign-up: the lease write alone", true, false, 0, 1, 0, 1},
		{"Login of a new player reads first", false, false, 1, 1, 0, 1},
		{"an object there after all is loaded, not overwritten", true, true, 2, 2, 2, 0}, // the 412 is checked, then read again
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blobs := newBlobs(t, s3Targets(t)[0])
			clk := newClock()
			ctx := context.Background()
			s := newStore(t, blobs, clk, "server-a")
			const id = "newcomer"
			if tt.exists {
				sess := login(t, s, id)
				if _, _, err := s.Apply(sess, []Action{ping(1), ping(2)}); err != nil {
					t.Fatal(err)
				}
				if err := s.Logout(ctx, sess, 0); err != nil {
					t.Fatal(err)
				}
			}
			g, err := s.accts.DevSession(id)
			if err != nil {
				t.Fatal(err)
			}
			gets0, puts0, new0 := blobs.gets.Load(), blobs.puts.Load(), s.counts.NewPlayers.Load()
			login := s.Login
			if tt.created {
				login = s.LoginCreated
			}
			res, err := login(ctx, id, g.Claims, g.Rotation)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			gets, puts := blobs.gets.Load()-gets0, blobs.puts.Load()-puts0
			if gets != tt.wantGets || puts != tt.wantPuts {
				t.Errorf("S3 calls: %d GETs and %d PUTs, want %d and %d", gets, puts, tt.wantGets, tt.wantPuts)
			}
			if n := s.counts.NewPlayers.Load() - new0; n != tt.wantNewAccounts {
				t.Errorf("new players counted: %d, want %d", n, tt.wantNewAccounts)
			}
			var view struct {
				LastSeq int64 `json:"last_seq"`
			}
			if err := json.Unmarshal(res.Player, &view); err != nil {
				t.Fatalf("player view %s: %v", res.Player, err)
			}
			if view.LastSeq != tt.wantLastSeq {
				t.Errorf("last_seq after the login: %d, want %d (the saved player's)", view.LastSeq, tt.wantLastSeq)
			}
		})
	}
}
