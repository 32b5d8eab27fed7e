package loadtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FAULT INJECTION. tamper puts a proxy in front of the real server that
// breaks the wire contract, or the network, in ways a test chooses: the
// load test must notice every broken promise (a lost or doubled action, an
// answer the rules do not give) and ride out every network fault (lost
// replies, 503s, resets, a 401 on a live session) with the ledger intact.
type faults struct {
	// loseOnSignIn lowers last_seq in sign-in replies of returning
	// players, as a server that acknowledged before it could save would.
	loseOnSignIn bool
	// forgetDuplicate strips "duplicate": true from actions replies, as a
	// server that applied a resent seq again would answer.
	forgetDuplicate bool
	// tamperEvery changes one ping result of every n-th actions reply to
	// one the rules never give.
	tamperEvery int
	// dropEvery forwards every n-th actions request and then cuts the
	// connection without the answer: applied, reply lost.
	dropEvery int
	// unavailableEvery answers every n-th actions request 503 without
	// forwarding it; resetEvery cuts it without forwarding.
	unavailableEvery, resetEvery int
	// unauthorizedEvery answers every n-th actions request 401, as a
	// server that went away (its sessions with it) does; the odd ones
	// after forwarding it (applied, then the server died).
	unauthorizedEvery int
}

type tamperer struct {
	f      faults
	target *url.URL
	proxy  *httputil.ReverseProxy
	hc     *http.Client

	mu      sync.Mutex
	batches int             // actions requests; guarded by mu
	seen    map[string]bool // devices signed in before; guarded by mu
	// refused are the batches answered 503 or cut before reaching the
	// server (by session and body): their resend gets through, so a test
	// of resends does not hang on a fault counter that hits one request
	// more times than the client retries. Guarded by mu.
	refused map[string]bool
}

func tamper(t *testing.T, target string, f faults) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tamperer{f: f, target: u, proxy: httputil.NewSingleHostReverseProxy(u),
		hc: &http.Client{Timeout: 10 * time.Second}, seen: map[string]bool{}, refused: map[string]bool{}}
	srv := httptest.NewServer(tp)
	t.Cleanup(srv.Close)
	return srv.URL
}

var (
	lastSeqRE = regexp.MustCompile(`"last_seq":(\d+)`)
	pingRE    = regexp.MustCompile(`"ok":true,"result":\{\}`)
	deviceRE  = regexp.MustCompile(`"device_id":"([^"]+)"`)
)

func (tp *tamperer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/v1/actions":
		in, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(in))
		key := r.Header.Get("Authorization") + "\x00" + string(in)
		tp.mu.Lock()
		tp.batches++
		n := tp.batches
		resend := tp.refused[key]
		delete(tp.refused, key)
		refuse := !resend && (every(n, tp.f.unavailableEvery) || every(n, tp.f.resetEvery))
		if refuse {
			tp.refused[key] = true
		}
		tp.mu.Unlock()
		f := tp.f
		switch {
		case refuse && every(n, f.unavailableEvery):
			w.Header().Set("Retry-After", "0")
			writeErr(w, http.StatusServiceUnavailable, "unavailable")
			return
		case refuse:
			cut(w)
			return
		case every(n, f.unauthorizedEvery) && n/f.unauthorizedEvery%2 == 0:
			writeErr(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		status, body, h := tp.forward(r)
		switch {
		case status == 0 || every(n, f.dropEvery):
			cut(w)
			return
		case every(n, f.unauthorizedEvery):
			writeErr(w, http.StatusUnauthorized, "unauthorized")
			return
		case f.forgetDuplicate:
			body = bytes.ReplaceAll(body, []byte(`"duplicate":true,`), nil)
		case every(n, f.tamperEvery):
			body = pingRE.ReplaceAll(body, []byte(`"ok":true,"result":{"tampered":1}`))
		}
		reply(w, status, h, body)
		return
	case "/api/v1/auth/device":
		if !tp.f.loseOnSignIn {
			break
		}
		status, body, h := tp.forward(r)
		if status == 0 {
			cut(w)
			return
		}
		in, _ := io.ReadAll(r.Body)
		if m := deviceRE.FindSubmatch(in); m != nil && status == http.StatusOK {
			tp.mu.Lock()
			again := tp.seen[string(m[1])]
			tp.seen[string(m[1])] = true
			tp.mu.Unlock()
			if again {
				body = lastSeqRE.ReplaceAllFunc(body, func(b []byte) []byte {
					n, _ := strconv.ParseInt(string(lastSeqRE.FindSubmatch(b)[1]), 10, 64)
					return []byte(`"last_seq":` + strconv.FormatInt(max(n-1, 0), 10))
				})
			}
		}
		reply(w, status, h, body)
		return
	default:
		tp.proxy.ServeHTTP(w, r)
		return
	}
	tp.proxy.ServeHTTP(w, r)
}

func every(n, k int) bool { return k > 0 && n%k == 0 }

// forward sends r to the server and reads the whole answer; status 0 is
// no answer.
func (tp *tamperer) forward(r *http.Request) (int, []byte, http.Header) {
	in, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(in))
	req, err := http.NewRequestWithContext(r.Context(), r.Method, tp.target.String()+r.URL.RequestURI(), bytes.NewReader(in))
	if err != nil {
		return 0, nil, nil
	}
	req.Header = r.Header.Clone()
	resp, err := tp.hc.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil
	}
	return resp.StatusCode, body, resp.Header
}

func reply(w http.ResponseWriter, status int, h http.Header, body []byte) {
	for _, k := range []string{"Content-Type", "Retry-After"} {
		if v := h.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"error":{"code":"`+code+`","message":"injected"}}`)
}

// cut closes the connection without an answer.
func cut(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
	}
}

func TestLedgerCatchesFaults(t *testing.T) {
	srv := server(t)
	for _, tc := range []struct {
		name  string
		f     faults
		cfg   func(*Config)
		want  string // in some problem
		clean bool   // no problems expected
	}{
		{name: "lost acknowledged action", f: faults{loseOnSignIn: true}, want: "was lost"},
		{name: "applied twice", f: faults{forgetDuplicate: true}, want: "applied again"},
		{name: "an answer the rules do not give", f: faults{tamperEvery: 3}, cfg: func(c *Config) { c.Mix = "ping" }, want: "divergence"},
		{name: "lost replies are not mismatches", f: faults{dropEvery: 7}, clean: true},
		{name: "lost replies over batches", f: faults{dropEvery: 5}, cfg: func(c *Config) { c.Batch = 3 }, clean: true},
		{name: "503s and resets are resent", f: faults{unavailableEvery: 5, resetEvery: 7}, clean: true},
		{name: "401 on a live session signs in afresh", f: faults{unauthorizedEvery: 6}, cfg: func(c *Config) { c.Batch = 2 }, clean: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tamper(t, srv.URL, tc.f))
			cfg.IDPrefix = strings.ReplaceAll(tc.name, " ", "-")[:min(len(tc.name), 24)]
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			var progress bytes.Buffer
			rep, err := Execute(context.Background(), cfg, &progress)
			if err != nil {
				t.Fatalf("%v\n%s", err, progress.String())
			}
			var text bytes.Buffer
			rep.WriteText(&text)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("report:\n%s", text.String())
				}
			})
			l := rep.Ledger
			if !tc.clean {
				if l.Mismatches == 0 {
					t.Fatalf("no mismatch found, want one mentioning %q", tc.want)
				}
				if !strings.Contains(strings.Join(l.Problems, "\n"), tc.want) {
					t.Errorf("problems %q, want one mentioning %q", l.Problems, tc.want)
				}
				return
			}
			if l.Mismatches != 0 || rep.Prediction.Divergences != 0 {
				t.Errorf("mismatches %d, divergences %d, want 0: %v", l.Mismatches, rep.Prediction.Divergences, l.Problems)
			}
			if l.Checked != cfg.Players {
				t.Errorf("checked %d players, want %d", l.Checked, cfg.Players)
			}
			switch {
			case tc.f.unauthorizedEvery > 0:
				if rep.ReSignins["401 on a live session"] == 0 {
					t.Errorf("re-signins %v, want some after a 401 on a live session", rep.ReSignins)
				}
				if len(rep.HTTPErrors) != 0 {
					t.Errorf("HTTP errors %v: a 401 on a live session is a re-signin, not an error", rep.HTTPErrors)
				}
			default:
				if rep.Resends == 0 {
					t.Errorf("no client resends: the faults did not show")
				}
				if len(rep.HTTPErrors)+len(rep.TransportErrors) != 0 {
					t.Errorf("HTTP errors %v, transport errors %v: the client's resends should have covered them", rep.HTTPErrors, rep.TransportErrors)
				}
			}
		})
	}
}
