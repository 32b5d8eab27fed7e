package loadtest

// STAND-IN SERVER. fakeServer implements the slice of API.md the load
// generator needs (login, actions with ping, player, logout, and the
// WebSocket protocol) in memory, so the generator can be tested while the
// real server is being built, and so faults can be injected that a correct
// server never shows (lost acknowledged actions, double application, lost
// replies). Tests against the real server: integration_test.go.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type fakeReply struct {
	Seq       int64           `json:"seq"`
	OK        bool            `json:"ok"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *fakeError      `json:"error,omitempty"`
}

type fakeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type fakePlayer struct {
	id      string
	lastSeq int64
	replies []fakeReply
	session string
}

// faults a test can switch on.
type faults struct {
	// loseOnLogout forgets the last applied seq when a player logs out,
	// as a server that acknowledges before it can save would.
	loseOnLogout bool
	// applyTwice applies a resent seq again instead of answering duplicate.
	applyTwice bool
	// dropEvery closes the connection without an answer after applying
	// every n-th actions request.
	dropEvery int
}

type fakeServer struct {
	t  testing.TB
	mu sync.Mutex
	f  faults

	players  map[string]*fakePlayer // guarded by mu
	sessions map[string]string      // token → player id; guarded by mu
	next     int                    // token counter; guarded by mu
	batches  int                    // actions requests; guarded by mu
	resets   int                    // latency table resets; guarded by mu
	logouts  int
}

func newFakeServer(t testing.TB, f faults) (*fakeServer, string) {
	t.Helper()
	s := &fakeServer{t: t, f: f, players: map[string]*fakePlayer{}, sessions: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/device", s.login)
	mux.HandleFunc("POST /api/v1/logout", s.logout)
	mux.HandleFunc("GET /api/v1/player", s.player)
	mux.HandleFunc("POST /api/v1/actions", s.actions)
	mux.HandleFunc("GET /api/v1/ws", s.ws)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("POST /debug/latency/reset", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.resets++
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /debug/latency", s.latency)
	mux.HandleFunc("GET /debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.sessions)
		s.mu.Unlock()
		fmt.Fprintf(w, "heap profile: ...\n\n# runtime.MemStats\n# Alloc = 1\n# HeapAlloc = %d\n# Sys = 9000000\n# HeapInuse = %d\n# Stack = %d / 1048576\n",
			1000000+5000*n, 1100000+5000*n, 65536+1024*n)
	})
	mux.HandleFunc("GET /debug/pprof/goroutine", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.sessions)
		s.mu.Unlock()
		fmt.Fprintf(w, "goroutine profile: total %d\n1 @ 0x1\n", 10+2*n)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func writeErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"fake"}}`, code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *fakeServer) view(p *fakePlayer) map[string]any {
	return map[string]any{"id": p.id, "last_seq": p.lastSeq, "base": map[string]any{"resources": map[string]int{"gold": 100}}}
}

// doLogin logs id in with a new session; the caller holds mu.
func (s *fakeServer) doLogin(id string) (string, *fakePlayer) {
	p := s.players[id]
	if p == nil {
		p = &fakePlayer{id: id}
		s.players[id] = p
	}
	if p.session != "" {
		delete(s.sessions, p.session)
	}
	s.next++
	p.session = fmt.Sprintf("tok%d", s.next)
	s.sessions[p.session] = id
	return p.session, p
}

func (s *fakeServer) auth(r *http.Request) *fakePlayer {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	return s.players[s.sessions[tok]]
}

func (s *fakeServer) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DeviceID string `json:"device_id"`
		Create   bool   `json:"create"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.DeviceID) < 16 || !req.Create {
		writeErr(w, 400, "bad_request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The fake's player id is the device id: one account per device.
	tok, p := s.doLogin(req.DeviceID)
	writeJSON(w, map[string]any{"session": tok, "player": s.view(p), "player_id": req.DeviceID,
		"gamedata_version": "fake", "server_time": 1})
}

func (s *fakeServer) doLogout(p *fakePlayer) {
	delete(s.sessions, p.session)
	p.session = ""
	s.logouts++
	if s.f.loseOnLogout && p.lastSeq > 0 {
		p.lastSeq--
	}
}

func (s *fakeServer) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.auth(r)
	if p == nil {
		writeErr(w, 401, "unauthorized")
		return
	}
	s.doLogout(p)
	writeJSON(w, struct{}{})
}

func (s *fakeServer) player(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.auth(r)
	if p == nil {
		writeErr(w, 401, "unauthorized")
		return
	}
	writeJSON(w, map[string]any{"player": s.view(p), "server_time": 1})
}

type fakeAction struct {
	Seq  int64           `json:"seq"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// apply runs a batch; the caller holds mu.
func (s *fakeServer) apply(p *fakePlayer, batch []fakeAction) []fakeReply {
	out := make([]fakeReply, 0, len(batch))
	for _, a := range batch {
		if a.Seq <= p.lastSeq && !s.f.applyTwice {
			found := false
			for _, r := range p.replies {
				if r.Seq == a.Seq {
					r.Duplicate = true
					out = append(out, r)
					found = true
					break
				}
			}
			if !found {
				out = append(out, fakeReply{Seq: a.Seq, Error: &fakeError{"stale_seq", "old"}})
			}
			continue
		}
		r := fakeReply{Seq: a.Seq}
		switch {
		case a.Name != "ping":
			r.Error = &fakeError{"unknown_action", "no such action"}
		case len(a.Args) > 0 && strings.TrimSpace(string(a.Args)) != "{}":
			r.Error = &fakeError{"bad_args", "ping takes no arguments"}
		default:
			r.OK, r.Result = true, json.RawMessage(`{}`)
		}
		p.lastSeq = max(p.lastSeq, a.Seq)
		p.replies = append(p.replies, r)
		if len(p.replies) > 64 {
			p.replies = p.replies[1:]
		}
		out = append(out, r)
	}
	return out
}

func (s *fakeServer) actions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Actions []fakeAction `json:"actions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "bad_request")
		return
	}
	s.mu.Lock()
	p := s.auth(r)
	if p == nil {
		s.mu.Unlock()
		writeErr(w, 401, "unauthorized")
		return
	}
	res := s.apply(p, req.Actions)
	s.batches++
	drop := s.f.dropEvery > 0 && s.batches%s.f.dropEvery == 0
	s.mu.Unlock()
	if drop {
		// Applied, but the reply is lost with the connection.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	writeJSON(w, map[string]any{"results": res, "gamedata_version": "fake", "server_time": 1})
}

func (s *fakeServer) ws(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	var me *fakePlayer
	send := func(v any) error {
		b, _ := json.Marshal(v)
		return c.Write(ctx, websocket.MessageText, b)
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		var m struct {
			Type     string       `json:"type"`
			PlayerID string       `json:"player_id"`
			Session  string       `json:"session"`
			Actions  []fakeAction `json:"actions"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			send(map[string]any{"type": "error", "error": fakeError{"bad_request", "not JSON"}})
			continue
		}
		s.mu.Lock()
		if me != nil && me.session == "" {
			me = nil // logged out or replaced meanwhile
		}
		var out any
		switch m.Type {
		case "login":
			var tok string
			if m.Session != "" {
				id, ok := s.sessions[m.Session]
				if !ok {
					out = map[string]any{"type": "error", "error": fakeError{"unauthorized", "no session"}}
					break
				}
				me, tok = s.players[id], m.Session
			} else {
				tok, me = s.doLogin(m.PlayerID)
			}
			out = map[string]any{"type": "login_ok", "session": tok, "player": s.view(me), "gamedata_version": "fake", "server_time": 1}
		case "actions":
			if me == nil {
				out = map[string]any{"type": "error", "error": fakeError{"unauthorized", "log in first"}}
				break
			}
			// An event before the answer, as a server pushing a finished
			// upgrade would.
			send(map[string]any{"type": "event", "event": map[string]any{"kind": "tick"}})
			out = map[string]any{"type": "results", "results": s.apply(me, m.Actions), "gamedata_version": "fake", "server_time": 1}
		case "logout":
			if me != nil {
				s.doLogout(me)
			}
			s.mu.Unlock()
			c.Close(websocket.StatusNormalClosure, "logged out")
			return
		case "ping":
			out = map[string]any{"type": "pong"}
		default:
			out = map[string]any{"type": "error", "error": fakeError{"bad_request", "unknown type"}}
		}
		s.mu.Unlock()
		if err := send(out); err != nil {
			return
		}
	}
}

// latency is a small /debug/latency?format=json: the actions row counts the
// batches since the last reset.
func (s *fakeServer) latency(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.batches
	s.mu.Unlock()
	load := 12.5
	writeJSON(w, map[string]any{"wall_seconds": 1.0, "unhalted_load_pct": load, "gomaxprocs": 1,
		"all": map[string]any{"name": "ALL", "calls": n, "p99_ms": 0.5, "max_ms": 2.0},
		"rows": []map[string]any{
			{"name": "POST /api/v1/actions", "request": true, "calls": n, "avg_ms": 0.01, "p99_ms": 0.05, "max_ms": 1.5},
			{"name": "GET /healthz", "request": true, "calls": 1, "avg_ms": 0.001, "p99_ms": 0.002, "max_ms": 0.003},
			{"name": "autosave", "calls": 1, "avg_ms": 900, "p99_ms": 900, "max_ms": 900},
		}})
}

// fakeConfig is a short run against a stand-in at url.
func fakeConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.Target = url
	cfg.Players = 20
	cfg.RampUp = 100 * time.Millisecond
	cfg.Duration = 2 * time.Second
	cfg.APM = 1200
	cfg.Conns = 4
	cfg.Drain = 10 * time.Second
	cfg.Timeout = 5 * time.Second
	return cfg
}
