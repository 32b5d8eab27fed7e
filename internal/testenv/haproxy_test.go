package testenv

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHaproxyConfigValid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "demo defaults", env: nil},
		{name: "production addresses", env: map[string]string{
			"RAMPART_HAPROXY_BIND": "0.0.0.0:80", "RAMPART_HAPROXY_STATS": "127.0.0.1:9404", "RAMPART_HAPROXY_LOG": "/dev/log",
			"RAMPART_NODE1": "10.0.0.1:8080", "RAMPART_NODE2": "10.0.0.2:8080", "RAMPART_NODE3": "10.0.0.3:8080",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out := CheckHaproxyConfig(t, HaproxyConfig(), tt.env); strings.Contains(out, "WARNING") || strings.Contains(out, "ALERT") {
				t.Errorf("haproxy -c warns:\n%s", out)
			}
		})
	}
}

// echoBackend is a stand-in Rampart server: /readyz answers 200 or 503 as
// told, /api/v1/ws upgrades and sends the backend's name, anything else
// answers the name.
type echoBackend struct {
	name  string
	ready atomic.Bool
	srv   *httptest.Server
}

func startEchoBackend(t *testing.T, name string) *echoBackend {
	t.Helper()
	b := &echoBackend{name: name}
	b.ready.Store(true)
	upgrader := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !b.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready")
	})
	mux.HandleFunc("GET /api/v1/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte(name))
		c.ReadMessage() // until the client closes
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		io.WriteString(w, name)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

// TestHaproxyRoutesByPlayer runs the committed deploy/haproxy.cfg in front
// of three stand-in servers: a player always reaches the same one, by header
// or by ?player= on the WebSocket upgrade; requests without a player are
// spread; a server whose /readyz turns 503 gets nothing new within seconds,
// and only its own players move.
func TestHaproxyRoutesByPlayer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	backends := map[string]*echoBackend{}
	env := map[string]string{}
	for i := 1; i <= 3; i++ {
		b := startEchoBackend(t, fmt.Sprintf("node%d", i))
		backends[b.name] = b
		env[fmt.Sprintf("RAMPART_NODE%d", i)] = strings.TrimPrefix(b.srv.URL, "http://")
	}
	h := StartHaproxy(t, HaproxyConfig(), env)
	client := &http.Client{Timeout: 5 * time.Second}

	// get sends GET /api/v1/state through haproxy, as player (none when
	// empty), and returns which backend answered.
	get := func(t *testing.T, player string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/api/v1/state", nil)
		if player != "" {
			req.Header.Set("X-Rampart-Player", player)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET as %q: %v", player, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET as %q: got %s %q, want 200", player, resp.Status, body)
		}
		if xff := resp.Header.Get("X-Seen-Forwarded-For"); xff != "127.0.0.1" {
			t.Errorf("backend saw X-Forwarded-For %q, want 127.0.0.1 (option forwardfor)", xff)
		}
		return string(body)
	}
	// ws opens the WebSocket as player (?player=) and returns which backend
	// accepted it.
	ws := func(t *testing.T, player string) string {
		t.Helper()
		u := "ws" + strings.TrimPrefix(h.URL, "http") + "/api/v1/ws?player=" + player
		c, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read from %s: %v", u, err)
		}
		return string(msg)
	}

	players := make([]string, 60)
	home := map[string]string{} // player → backend, as first seen
	perBackend := map[string]int{}
	for i := range players {
		players[i] = fmt.Sprintf("p%04x", i*7919)
		home[players[i]] = get(t, players[i])
		perBackend[home[players[i]]]++
	}
	t.Logf("players per backend: %v", perBackend)
	if len(perBackend) != 3 {
		t.Fatalf("60 players reached %v, want all 3 backends", perBackend)
	}

	t.Run("same player same backend", func(t *testing.T) {
		for _, p := range players {
			for range 3 {
				if got := get(t, p); got != home[p] {
					t.Fatalf("player %s: got %s, want %s as before", p, got, home[p])
				}
			}
		}
	})
	t.Run("websocket by ?player= as by header", func(t *testing.T) {
		for _, p := range players[:15] {
			if got := ws(t, p); got != home[p] {
				t.Errorf("player %s over WebSocket: got %s, want %s as by header", p, got, home[p])
			}
		}
	})
	t.Run("no player is spread", func(t *testing.T) {
		seen := map[string]int{}
		for range 30 {
			seen[get(t, "")]++
		}
		t.Logf("30 requests without a player: %v", seen)
		for name := range backends {
			if seen[name] < 5 {
				t.Errorf("got %v, want each backend at least 5 of 30", seen)
				break
			}
		}
	})

	// Wait for the checks to be steady, so that what follows measures
	// "fall 2" rather than haproxy's start (one failed check then suffices).
	for {
		servers, err := h.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		steady := len(servers) == 3
		for _, s := range servers {
			steady = steady && s.Steady()
		}
		if steady {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("haproxy's checks not steady: %+v", servers)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}

	// node2 starts draining: its /readyz answers 503.
	backends["node2"].ready.Store(false)
	start := time.Now()
	var moved map[string]string
	for {
		moved = map[string]string{}
		for _, p := range players {
			if home[p] == "node2" {
				moved[p] = get(t, p)
			}
		}
		if !slices.Contains(slices.Collect(maps.Values(moved)), "node2") {
			break
		}
		if time.Since(start) > 10*time.Second {
			servers, _ := h.Servers(ctx)
			t.Fatalf("node2's players still reach it %s after its /readyz turned 503: %v; stats: %+v", time.Since(start), moved, servers)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Logf("node2 out of the hash %s after its /readyz turned 503", time.Since(start))
	servers, err := h.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.Name == "node2" && !strings.HasPrefix(s.Status, "DOWN") {
			t.Errorf("stats: node2 is %q, want DOWN", s.Status)
		}
	}

	t.Run("only the drained server's players move", func(t *testing.T) {
		for _, p := range players {
			got := get(t, p)
			switch {
			case home[p] == "node2" && got == "node2":
				t.Errorf("player %s still on node2", p)
			case home[p] != "node2" && got != home[p]:
				t.Errorf("player %s moved from %s to %s, want it to stay (consistent hashing)", p, home[p], got)
			}
		}
		for range 12 {
			if got := get(t, ""); got == "node2" {
				t.Fatal("a request without a player went to the drained node2")
			}
		}
	})

	// node2 is ready again: its players come back.
	backends["node2"].ready.Store(true)
	start = time.Now()
	for {
		back := 0
		for p := range moved {
			if get(t, p) == "node2" {
				back++
			}
		}
		if back == len(moved) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d of node2's %d players back %s after it turned ready", back, len(moved), time.Since(start))
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Logf("node2's players back %s after it turned ready", time.Since(start))

	// node3 stops listening without failing a check first (a crash, or a
	// drain closing its listener before haproxy noticed the 503): its
	// players' requests go to another server at once (retries with
	// redispatch), not after the checks catch up.
	backends["node3"].srv.Close()
	for _, p := range players {
		if home[p] != "node3" {
			continue
		}
		start := time.Now()
		got := get(t, p)
		if took := time.Since(start); got == "node3" || took > 500*time.Millisecond {
			t.Errorf("player %s of the stopped node3: got %s after %s, want another backend at once", p, got, took)
		}
	}
}
