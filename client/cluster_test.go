package client_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"rampart/client"
	"rampart/internal/testenv"
)

// headerLog records, per path, the player each request through it named
// (PlayerHeader, or the "player" query of the WebSocket upgrade).
type headerLog struct {
	mu   sync.Mutex
	seen map[string][]string // path → players named, "" for none; guarded by mu
}

func (l *headerLog) take() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.seen
	l.seen = map[string][]string{}
	return out
}

// playerRecorder is a reverse proxy to target that records what haproxy
// would hash on.
func playerRecorder(t *testing.T, target string) (*httptest.Server, *headerLog) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	log := &headerLog{seen: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := r.Header.Get(client.PlayerHeader)
		if r.URL.Path == "/api/v1/ws" {
			if q := r.URL.Query().Get("player"); q != who {
				who = "query " + q + " header " + who
			}
		}
		log.mu.Lock()
		log.seen[r.URL.Path] = append(log.seen[r.URL.Path], who)
		log.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, log
}

// TestPlayerHeaderForTheBalancer: once a session knows its player, every
// HTTP request names it in X-Rampart-Player and the WebSocket upgrade in
// ?player=; a returning player's sign-in given KnownPlayer names it too.
func TestPlayerHeaderForTheBalancer(t *testing.T) {
	p := startServer(t)
	rec, log := playerRecorder(t, p.URL)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := ctxFor(t, 30*time.Second)
			c := newClient(t, rec.URL, m.opt())
			device := uniqueID("hdr-")
			s := signInDevice(t, ctx, c, device, true)
			id := s.PlayerID()
			if _, err := s.Do(ctx, client.Act("ping", `{}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Player(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Logout(ctx); err != nil {
				t.Fatal(err)
			}
			first := log.take()
			if got := first["/api/v1/auth/device"]; !slices.Equal(got, []string{""}) {
				t.Errorf("first sign-in named %q, want no player (none known yet)", got)
			}
			want := map[string]bool{"/api/v1/player": true, "/api/v1/logout": m.tr == client.HTTP}
			if m.tr == client.HTTP {
				want["/api/v1/actions"] = true
			} else {
				want["/api/v1/ws"] = true
			}
			for path, must := range want {
				got := first[path]
				if must && len(got) == 0 {
					t.Errorf("no request to %s went through the proxy", path)
				}
				for _, who := range got {
					if who != id {
						t.Errorf("%s named player %q, want %q", path, who, id)
					}
				}
			}

			s = signInDevice(t, ctx, c, device, false, client.KnownPlayer(id))
			if s.PlayerID() != id {
				t.Errorf("returning sign-in is player %q, want %q", s.PlayerID(), id)
			}
			if err := s.Logout(ctx); err != nil {
				t.Fatal(err)
			}
			if got := log.take()["/api/v1/auth/device"]; !slices.Equal(got, []string{id}) {
				t.Errorf("returning sign-in named %q, want [%s]", got, id)
			}
		})
	}
}

// TestDoSeqResendsOnANewSession: a batch whose answer was lost with its
// server is resent on a new session with its seqs: the applied seq answers
// its stored result as a duplicate, the other is applied now, and the
// session goes on above both.
func TestDoSeqResendsOnANewSession(t *testing.T) {
	eachMode(t, modes, func(t *testing.T, p *testenv.Rampart, m mode) {
		ctx := ctxFor(t, 30*time.Second)
		c := newClient(t, p.URL, m.opt())
		device := uniqueID("doseq-")
		s := signInDevice(t, ctx, c, device, true)
		first := s.NextSeq()
		if _, err := s.Do(ctx, client.Act("ping", `{}`)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s2 := signInDevice(t, ctx, c, device, false, client.KnownPlayer(s.PlayerID()))
		defer s2.Logout(ctx)
		res, err := s2.DoSeq(ctx, nil, first, client.Act("ping", `{}`), client.Act("ping", `{}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || res[0].Seq != first || !res[0].Duplicate || !res[0].OK || res[1].Seq != first+1 || res[1].Duplicate || !res[1].OK {
			t.Fatalf("resent batch answered %+v, want seq %d ok duplicate, seq %d ok fresh", res, first, first+1)
		}
		if got := s2.NextSeq(); got != first+2 {
			t.Errorf("next seq after the resend %d, want %d", got, first+2)
		}
		if _, err := s2.DoSeq(ctx, nil, 0); err == nil {
			t.Error("DoSeq with seq 0: no error")
		}
	})
}
