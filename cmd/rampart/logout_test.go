package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsMessage is any server → client WebSocket message, decoded loosely.
type wsMessage struct {
	Type    string `json:"type"`
	Results []struct {
		Seq int64 `json:"seq"`
		OK  bool  `json:"ok"`
	} `json:"results"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

// dialWS opens a WebSocket to the server at base; reads time out after 10 s.
func dialWS(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// exchange sends msg and returns the next message that is not a pushed event.
func exchange(t *testing.T, c *websocket.Conn, msg string) wsMessage {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("send %s: %v", msg, err)
	}
	for {
		var m wsMessage
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("answer to %s: %v", msg, err)
		}
		if m.Type != "event" {
			return m
		}
	}
}

// storeLoads is how many players the server has loaded from S3.
func storeLoads(t *testing.T, base string) int64 {
	t.Helper()
	var stats struct {
		Store struct {
			Loads int64 `json:"loads"`
		} `json:"store"`
	}
	if code := call(t, "GET", base+"/debug/analytics", "", "", &stats); code != 200 {
		t.Fatalf("GET /debug/analytics: %d", code)
	}
	return stats.Store.Loads
}

// TestWebSocketLogout logs out over the WebSocket of the real server: the
// answer is logout_ok and a normal close; the player was saved (it leaves
// memory, and the next sign-in loads its progress from S3); the session
// and its refresh token then answer 401. A logout before login is refused.
func TestWebSocketLogout(t *testing.T) {
	s := startServer(t, t.TempDir())

	if m := exchange(t, dialWS(t, s.URL), `{"type":"logout"}`); m.Type != "error" || m.Error.Code != "unauthorized" {
		t.Errorf("logout before login: %+v, want error unauthorized", m)
	}

	lr := loginAs(t, s.URL, "ivy")
	c := dialWS(t, s.URL)
	if m := exchange(t, c, `{"type":"login","session":"`+lr.Session+`"}`); m.Type != "login_ok" {
		t.Fatalf("WebSocket login: %+v, want login_ok", m)
	}
	m := exchange(t, c, `{"type":"actions",`+strings.TrimPrefix(pings(1, 2, 3), "{"))
	if m.Type != "results" || len(m.Results) != 3 || !m.Results[2].OK {
		t.Fatalf("three pings: %+v, want 3 ok results", m)
	}
	loads := storeLoads(t, s.URL)

	if m := exchange(t, c, `{"type":"logout"}`); m.Type != "logout_ok" {
		t.Fatalf("logout over the WebSocket: %+v, want logout_ok", m)
	}
	var ce *websocket.CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("after logout_ok: %v, want a normal close (1000)", err)
	}
	var e errorReply
	if code := call(t, "GET", s.URL+"/api/v1/player", lr.Session, "", &e); code != 401 || e.Error.Code != "unauthorized" {
		t.Errorf("HTTP with the logged-out session: %d %q, want 401 unauthorized", code, e.Error.Code)
	}
	if code := call(t, "POST", s.URL+"/api/v1/auth/refresh", "", `{"refresh":"`+lr.Refresh+`"}`, nil); code != 401 {
		t.Errorf("refresh token of the logged-out session: %d, want 401", code)
	}
	if m := exchange(t, dialWS(t, s.URL), `{"type":"login","session":"`+lr.Session+`"}`); m.Type != "error" || m.Error.Code != "unauthorized" {
		t.Errorf("WebSocket resume of the logged-out session: %+v, want error unauthorized", m)
	}

	again := loginAs(t, s.URL, "ivy")
	if again.Player.LastSeq != 3 {
		t.Errorf("next sign-in: last_seq %d, want 3 (the pings, saved by the logout)", again.Player.LastSeq)
	}
	if got := storeLoads(t, s.URL) - loads; got != 1 {
		t.Errorf("S3 loads for the next sign-in: %d, want 1 (the logout took the player out of memory)", got)
	}
}

// TestHTTPLogout covers POST /api/v1/logout: 200 {} with a live session,
// and 401 unauthorized with the JSON error body without one, with a
// malformed or altered token, and for a session already logged out.
func TestHTTPLogout(t *testing.T) {
	s := startServer(t, t.TempDir())
	tests := []struct {
		name string
		auth func(t *testing.T) string // the Authorization header; "" sends none
		want int
	}{
		{"live session", func(t *testing.T) string { return "Bearer " + loginAs(t, s.URL, "jay").Session }, 200},
		{"no token", func(*testing.T) string { return "" }, 401},
		{"empty bearer", func(*testing.T) string { return "Bearer " }, 401},
		{"not a bearer", func(t *testing.T) string { return "Basic " + loginAs(t, s.URL, "kim").Session }, 401},
		{"malformed token", func(*testing.T) string { return "Bearer not-a-token" }, 401},
		{"altered token", func(t *testing.T) string {
			tok := []byte(loginAs(t, s.URL, "lee").Session)
			tok[len(tok)-2] ^= 1 // inside the signature
			return "Bearer " + string(tok)
		}, 401},
		{"twice", func(t *testing.T) string {
			tok := loginAs(t, s.URL, "max").Session
			if code := call(t, "POST", s.URL+"/api/v1/logout", tok, "", nil); code != 200 {
				t.Fatalf("first logout: %d, want 200", code)
			}
			return "Bearer " + tok
		}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", s.URL+"/api/v1/logout", nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth := tt.auth(t); auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tt.want == 200 {
				var body map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body) != 0 {
					t.Errorf("body %v (%v), want {}", body, err)
				}
				return
			}
			var e errorReply
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != "unauthorized" || e.Error.Message == "" {
				t.Errorf("error body %+v (%v), want code unauthorized with a message", e, err)
			}
		})
	}
}
