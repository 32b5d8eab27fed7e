package cluster

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rampart/actions"
	"rampart/bookkeeper"
	"rampart/state"
)

// local records the calls the cluster routes make on this server.
type local struct {
	handoffs atomic.Int64
	defend   func(req *actions.RaidRequest) (actions.RaidResult, error)
	pokes    chan string
}

func (l *local) Handoff(ctx context.Context, player string) (bool, error) {
	l.handoffs.Add(1)
	return player == "here", nil
}

func (l *local) DefendHere(ctx context.Context, req *actions.RaidRequest) (actions.RaidResult, error) {
	return l.defend(req)
}

func (l *local) PokeMail(player string) { l.pokes <- player }

func (l *local) Kick(ctx context.Context, player string, gen uint64) error { return nil }

// dir is a membership of fixed addresses.
type dir map[string]string

func (d dir) Liveness(ctx context.Context, server string) state.Liveness { return state.Alive }
func (d dir) Fenced() bool                                               { return false }
func (d dir) Addr(ctx context.Context, server string) string             { return d[server] }

const secret = "0123456789abcdef0123456789abcdef"

func newPair(t *testing.T, l *local, public http.Handler) (*Peers, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(Handler(l, secret, public, nil))
	t.Cleanup(srv.Close)
	k := bookkeeper.New(bookkeeper.Config{Name: "cluster", Concurrency: 4, Timeout: 2 * time.Second, MaxTries: 3,
		Retryable: Retryable, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	return NewPeers(dir{"b": strings.TrimPrefix(srv.URL, "http://")}, "a", secret, k, nil), srv
}

// TestCalls: each call over real HTTP, its answer and its failure modes.
func TestCalls(t *testing.T) {
	tries := atomic.Int64{}
	l := &local{pokes: make(chan string, 1), defend: func(req *actions.RaidRequest) (actions.RaidResult, error) {
		switch req.Defender {
		case "shielded":
			return actions.RaidResult{}, &actions.Error{Code: actions.CodeUnderAttack, Message: "busy"}
		case "flaky":
			if tries.Add(1) == 1 {
				return actions.RaidResult{}, errors.New("s3 hiccup")
			}
		}
		return actions.RaidResult{RaidID: req.RaidID, Loot: map[string]int64{"gold": 7}}, nil
	}}
	p, _ := newPair(t, l, http.NotFoundHandler())
	ctx := context.Background()

	held, err := p.Handoff(ctx, "b", "here")
	if err != nil || !held {
		t.Errorf("handoff of a player held there: %v %v", held, err)
	}
	if held, err := p.Handoff(ctx, "b", "elsewhere"); err != nil || held {
		t.Errorf("handoff of a player not there: %v %v, want not held", held, err)
	}
	tests := []struct {
		defender string
		wantCode string // "" ok
		wantLoot int64
	}{
		{"open", "", 7},
		{"shielded", actions.CodeUnderAttack, 0},
		{"flaky", "", 7}, // the first try fails with 503: retried
	}
	for _, tt := range tests {
		res, err := p.Defend(ctx, "b", &actions.RaidRequest{RaidID: "r-" + tt.defender, Defender: tt.defender})
		var ae *actions.Error
		switch {
		case tt.wantCode != "":
			if !errors.As(err, &ae) || ae.Code != tt.wantCode {
				t.Errorf("defend %s: %v, want rule error %s", tt.defender, err, tt.wantCode)
			}
		case err != nil || res.Loot["gold"] != tt.wantLoot:
			t.Errorf("defend %s: %+v %v", tt.defender, res, err)
		}
	}
	if err := p.Poke(ctx, "b", "p1"); err != nil {
		t.Fatal(err)
	}
	if got := <-l.pokes; got != "p1" {
		t.Errorf("poke for %q", got)
	}
	if _, err := p.Handoff(ctx, "nowhere", "x"); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("call on a server with no address: %v, want unavailable", err)
	}
}

// TestSecretAndForwarding: the listener refuses a caller without the
// secret; a forwarded request reaches the public API marked as a hop,
// with the client's address in X-Forwarded-For.
func TestSecretAndForwarding(t *testing.T) {
	var hop atomic.Bool
	var xff atomic.Value
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hop.Store(IsHop(r))
		xff.Store(r.Header.Get("X-Forwarded-For"))
		w.Write([]byte("served by b"))
	})
	p, srv := newPair(t, &local{}, public)
	resp, err := http.Post(srv.URL+PathHandoff, "application/json", strings.NewReader(`{"player":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("call without the secret: %d, want 401", resp.StatusCode)
	}

	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.Forward(w, r, "b") }))
	defer front.Close()
	resp, err = http.Get(front.URL + "/api/v1/player")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !hop.Load() || xff.Load() != "127.0.0.1" {
		t.Errorf("forwarded: %d hop %v X-Forwarded-For %q; want 200, a hop, 127.0.0.1", resp.StatusCode, hop.Load(), xff.Load())
	}
	if got := p.Stats().Forwarded.Load(); got != 1 {
		t.Errorf("forwarded count %d", got)
	}
}
