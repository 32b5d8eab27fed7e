package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/client"
	"rampart/internal/testenv"
)

// boostGems is what buying gold_boost costs: spending it twice would show.
const boostGems = 50

// TestLostReplyHTTP: the proxy delivers the actions request and resets
// the connection instead of answering. The session resends the same seq,
// the server answers with the stored result, and the action was applied
// once.
func TestLostReplyHTTP(t *testing.T) { eachMode(t, httpModes, lostReplyHTTP) }

func lostReplyHTTP(t *testing.T, p *testenv.Rampart, m mode) {
	fp := testenv.StartFaultProxy(t, p.URL, 1)
	var lose atomic.Int32
	lose.Store(1)
	if err := fp.SetFaults(testenv.Faults{LostReplyRate: 1, Match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/actions" && lose.Add(-1) == 0
	}}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 30*time.Second)
	c := newClient(t, fp.URL, m.opt(), client.WithBackoff(time.Millisecond, 10*time.Millisecond))
	s, before := devSession(t, ctx, c, "lost-")
	res := buyBoost(t, ctx, s)
	if n := fp.Counts().LostReplies; n != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", n)
	}
	if len(res) != 1 || !res[0].OK || !res[0].Duplicate || res[0].Seq != 1 {
		t.Errorf("results %+v, want seq 1 ok and duplicate (the stored result of the first copy)", res)
	}
	if st := c.Stats(); st.Resends != 1 {
		t.Errorf("stats %+v, want 1 resend", st)
	}
	checkOnce(t, ctx, s, before, 1)
}

// devSession signs a fresh player in through c's development door (its
// id made from prefix), closes the session when t ends, and returns it
// with the player's state before anything was sent.
func devSession(t *testing.T, ctx context.Context, c *client.Client, prefix string) (*client.Session, client.PlayerState) {
	t.Helper()
	s, err := c.DevLogin(ctx, uniqueID(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	before, err := s.Player(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, before
}

// buyBoost sends the one action whose effect checkOnce counts.
func buyBoost(t *testing.T, ctx context.Context, s *client.Session) []client.Result {
	t.Helper()
	res, err := s.Do(ctx, client.Act("buy_item", `{"item":"gold_boost"}`))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func checkOnce(t *testing.T, ctx context.Context, s *client.Session, before client.PlayerState, seq int64) {
	t.Helper()
	after, err := s.Player(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.LastSeq != seq {
		t.Errorf("last_seq %d, want %d", after.LastSeq, seq)
	}
	if got, want := after.Resources["gems"], before.Resources["gems"]-boostGems; got != want {
		t.Errorf("gems %d, want %d (the boost bought once)", got, want)
	}
}

// TestLostReplyWebSocket: the proxy delivers the actions message and cuts
// the socket before the results come back. The session reconnects,
// resumes and resends the same seq; the action was applied once.
func TestLostReplyWebSocket(t *testing.T) {
	p := startServer(t)
	u, _ := url.Parse(p.URL)
	cp := startCutProxy(t, u.Host)
	ctx := ctxFor(t, 30*time.Second)
	c := newClient(t, cp.URL(), client.WithTransport(client.WebSocket), client.WithBackoff(time.Millisecond, 10*time.Millisecond))
	s, before := devSession(t, ctx, c, "lostws-")
	token := s.Token()
	sockets := cp.accepted.Load()
	cp.loseNextReply()
	res := buyBoost(t, ctx, s)
	if cp.lost.Load() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", cp.lost.Load())
	}
	if got := cp.accepted.Load() - sockets; got != 1 {
		t.Errorf("%d new connections through the proxy, want 1 (the resumed socket)", got)
	}
	// Which copy the server applied first is a race between the old
	// socket's reader and the new one; either way, it is applied once.
	if len(res) != 1 || !res[0].OK || res[0].Seq != 1 {
		t.Errorf("results %+v, want seq 1 ok", res)
	}
	if st := c.Stats(); st.Resends != 1 || st.NetErrors != 1 || st.WSDials != 2 || st.WSLogins != 2 {
		t.Errorf("stats %+v, want 1 resend after 1 network error, 2 sockets, 2 logins", st)
	}
	if s.Token() != token {
		t.Errorf("the resume changed the session token; the player was online and should have kept it")
	}
	checkOnce(t, ctx, s, before, 1)
}

// refuser is an HTTP fault injector in front of the real server: the
// first n requests to path are answered with status, a Retry-After and an
// API error body, without reaching the server; the rest pass through.
func refuser(t *testing.T, target string, path string, n int32, status int, code, retryAfter string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path && refused.Add(1) <= n {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(status)
			w.Write([]byte(`{"error":{"code":"` + code + `","message":"injected"}}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &refused
}

// TestRefusedThenResent: 429 and 503 mean nothing was applied; the
// session waits out Retry-After and resends the same seqs, or, when the
// wait is longer than it may wait or the retries are spent, returns the
// *Error with RetryAfter.
func TestRefusedThenResent(t *testing.T) { eachMode(t, httpModes, refusedThenResent) }

func refusedThenResent(t *testing.T, p *testenv.Rampart, m mode) {
	for _, tc := range []struct {
		name     string
		status   int
		code     string
		sentinel error
	}{
		{"429", http.StatusTooManyRequests, "rate_limited", client.ErrRateLimited},
		{"503", http.StatusServiceUnavailable, "unavailable", client.ErrUnavailable},
	} {
		t.Run(tc.name+"/waits and resends", func(t *testing.T) {
			ctx := ctxFor(t, 30*time.Second)
			srv, refused := refuser(t, p.URL, "/api/v1/actions", 1, tc.status, tc.code, "1")
			s, before := devSession(t, ctx, newClient(t, srv.URL, m.opt()), "refused-")
			t0 := time.Now()
			res := buyBoost(t, ctx, s)
			if waited := time.Since(t0); waited < time.Second {
				t.Errorf("resent after %s, want at least the Retry-After of 1s", waited)
			}
			if refused.Load() != 2 || !res[0].OK || res[0].Duplicate || res[0].Seq != 1 {
				t.Errorf("%d requests, result %+v; want 2 requests and seq 1 applied by the second", refused.Load(), res)
			}
			checkOnce(t, ctx, s, before, 1)
		})
		t.Run(tc.name+"/returned", func(t *testing.T) {
			ctx := ctxFor(t, 30*time.Second)
			for _, opt := range []struct {
				name string
				o    client.Option
			}{{"no retries", client.WithRetries(0)}, {"wait too long", client.WithMaxRetryWait(500 * time.Millisecond)}} {
				srv, _ := refuser(t, p.URL, "/api/v1/actions", 1, tc.status, tc.code, "1")
				s, err := newClient(t, srv.URL, m.opt(), opt.o).DevLogin(ctx, uniqueID("refused-"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = s.Do(ctx, client.Act("ping", ""))
				var e *client.Error
				if !errors.As(err, &e) || !errors.Is(err, tc.sentinel) || e.Status != tc.status || e.RetryAfter != time.Second {
					t.Errorf("%s: got %v, want %d %s with RetryAfter 1s", opt.name, err, tc.status, tc.code)
				}
				// The seq was spent: the next batch goes on above it.
				res, err := s.Do(ctx, client.Act("ping", ""))
				if err != nil || res[0].Seq != 2 || !res[0].OK {
					t.Errorf("%s: next batch %+v %v, want seq 2 applied", opt.name, res, err)
				}
				s.Close()
			}
		})
	}
}

// TestTimeoutResends: a reply that does not come within the request
// timeout counts as lost. The proxy holds the first actions request past
// it (and then drops it, its client gone); the resend is applied.
func TestTimeoutResends(t *testing.T) { eachMode(t, httpModes, timeoutResends) }

func timeoutResends(t *testing.T, p *testenv.Rampart, m mode) {
	fp := testenv.StartFaultProxy(t, p.URL, 2)
	var held atomic.Int32
	fp.SetFaults(testenv.Faults{DelayRate: 1, Delay: 3 * time.Second, Match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/actions" && held.Add(1) == 1
	}})
	ctx := ctxFor(t, 30*time.Second)
	c := newClient(t, fp.URL, m.opt(), client.WithRequestTimeout(300*time.Millisecond), client.WithBackoff(time.Millisecond, time.Millisecond))
	s, before := devSession(t, ctx, c, "slow-")
	res := buyBoost(t, ctx, s)
	if c := fp.Counts(); c.Delayed != 1 {
		t.Errorf("proxy counts %+v, want one request held", c)
	}
	if !res[0].OK || res[0].Seq != 1 {
		t.Errorf("result %+v, want seq 1 ok", res[0])
	}
	checkOnce(t, ctx, s, before, 1)
}

// TestRetriesSpent: with the server unreachable, a call gives up after its
// retries with the network error, and ctx bounds the whole call.
func TestRetriesSpent(t *testing.T) {
	p := startServer(t)
	u, _ := url.Parse(p.URL)
	ctx := ctxFor(t, 30*time.Second)
	for _, tr := range modes {
		t.Run(tr.String(), func(t *testing.T) {
			cp := startCutProxy(t, u.Host)
			c := newClient(t, cp.URL(), tr.opt(), client.WithRetries(2), client.WithBackoff(time.Millisecond, 5*time.Millisecond))
			s, err := c.DevLogin(ctx, uniqueID("spent-"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cp.close() // connections cut, new ones refused
			_, err = s.Do(ctx, client.Act("ping", ""))
			var e *client.Error
			if err == nil || errors.As(err, &e) || errors.Is(err, client.ErrClosed) {
				t.Fatalf("do with the server unreachable: %v, want a network error", err)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			slow := newClient(t, cp.URL(), tr.opt(), client.WithRetries(1000), client.WithBackoff(10*time.Millisecond, 10*time.Millisecond))
			if _, err := slow.DevLogin(short, uniqueID("spent-")); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("sign-in bounded by ctx: %v, want DeadlineExceeded", err)
			}
		})
	}
}

// TestCloseDuringCall: Close unblocks a WebSocket call waiting for its
// reply, which returns ErrClosed.
func TestCloseDuringCall(t *testing.T) {
	p := startServer(t)
	u, _ := url.Parse(p.URL)
	cp := startCutProxy(t, u.Host)
	ctx := ctxFor(t, 30*time.Second)
	s, err := newClient(t, cp.URL(), client.WithTransport(client.WebSocket)).DevLogin(ctx, uniqueID("close-"))
	if err != nil {
		t.Fatal(err)
	}
	cp.mu.Lock()
	for r := range cp.conns {
		r.cut = true // the server's replies no longer reach the client
	}
	cp.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Do(ctx, client.Act("ping", ""))
		errc <- err
	}()
	// The call is in flight (or about to be); Close must end it either way.
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, client.ErrClosed) {
			t.Errorf("call ended by Close: %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("the call did not end after Close")
	}
	if _, ok := <-s.Events(); ok {
		t.Error("events still open after Close")
	}
}

// TestManySessionsConcurrently drives sessions of one Client from many
// goroutines (run with -race).
func TestManySessionsConcurrently(t *testing.T) {
	p := startServer(t)
	ctx := ctxFor(t, 60*time.Second)
	for _, tr := range modes {
		c := newClient(t, p.URL, tr.opt())
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := c.DevLogin(ctx, uniqueID("many-"))
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				for i := range 10 {
					res, err := s.Do(ctx, client.Act("ping", ""), client.Act("collect", ""))
					if err != nil {
						errs <- err
						return
					}
					if res[0].Seq != int64(2*i+1) || res[1].Seq != int64(2*i+2) {
						errs <- errors.New("seqs out of step")
						return
					}
				}
				if _, err := c.GameData(ctx); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", tr, err)
		}
	}
}

// TestGatewayErrorResent: a proxy's 502 or 504 (haproxy's body, not the
// API's) is a lost reply: the request may have reached the server. Here
// it did: the proxy forwards the first actions request, drops the answer
// and answers 502. The session resends the same seq, gets the stored
// result as a duplicate, and the boost is bought once.
func TestGatewayErrorResent(t *testing.T) { eachMode(t, httpModes, gatewayErrorResent) }

func gatewayErrorResent(t *testing.T, p *testenv.Rampart, m mode) {
	for _, status := range []int{http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			u, err := url.Parse(p.URL)
			if err != nil {
				t.Fatal(err)
			}
			proxy := httputil.NewSingleHostReverseProxy(u)
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v1/actions" && n.Add(1) == 1 {
					proxy.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(status)
					w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
					return
				}
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			ctx := ctxFor(t, 30*time.Second)
			s, before := devSession(t, ctx, newClient(t, srv.URL, m.opt()), "gateway-")
			res := buyBoost(t, ctx, s)
			if n.Load() != 2 || !res[0].OK || !res[0].Duplicate || res[0].Seq != 1 {
				t.Errorf("%d requests, result %+v; want 2 requests, seq 1 answered as a duplicate", n.Load(), res)
			}
			checkOnce(t, ctx, s, before, 1)
		})
	}
}
