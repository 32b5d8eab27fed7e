package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"rampart/client"
)

// wsRefuser is a fault injector for what the real server on this tree
// cannot be made to do on demand: answer a socket's actions with an
// "error" message of code (the per-player rate limit), or close the socket
// with a status, the first times. It speaks just enough of the protocol
// (login, actions) to be the other end; every actions message it reads is
// recorded.
type wsRefuser struct {
	code      string // error code to answer with
	closeWith int    // if not 0, close the socket with this status instead
	refuse    int    // how many actions messages to refuse

	mu      sync.Mutex
	seen    [][]int64 // seqs of each actions message
	logins  []string  // "session" or "player_id" of each login
	refused int
}

func (f *wsRefuser) serve(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		var m struct {
			Type     string `json:"type"`
			Session  string `json:"session"`
			PlayerID string `json:"player_id"`
			Actions  []struct {
				Seq int64 `json:"seq"`
			} `json:"actions"`
		}
		if err := c.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case "login":
			f.mu.Lock()
			f.logins = append(f.logins, m.Session+m.PlayerID)
			f.mu.Unlock()
			c.WriteJSON(map[string]any{"type": "login_ok", "session": "tok", "gamedata_version": "v",
				"player": map[string]any{"id": "p", "last_seq": 41}})
		case "actions":
			var seqs []int64
			results := []map[string]any{}
			for _, a := range m.Actions {
				seqs = append(seqs, a.Seq)
				results = append(results, map[string]any{"seq": a.Seq, "ok": true, "result": map[string]any{}})
			}
			f.mu.Lock()
			f.seen = append(f.seen, seqs)
			refuse := f.refused < f.refuse
			if refuse {
				f.refused++
			}
			f.mu.Unlock()
			switch {
			case refuse && f.closeWith != 0:
				c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(f.closeWith, "slow down"), time.Now().Add(time.Second))
				return
			case refuse:
				c.WriteJSON(map[string]any{"type": "error", "error": map[string]any{"code": f.code, "message": "injected"}})
			default:
				c.WriteJSON(map[string]any{"type": "results", "results": results, "gamedata_version": "v"})
			}
		}
	}
}

func (f *wsRefuser) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWebSocketRefusals: an "error" message of rate_limited or
// unavailable is resent with the same seqs after a backoff; a socket the
// server closes (1008, as when a client keeps going past its limit) is
// resumed and the batch resent; a final refusal is an *Error of its code.
func TestWebSocketRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         *wsRefuser
		retries   int
		wantErr   error
		wantSent  int // actions messages the server saw
		wantLogin []string
	}{
		{"rate_limited twice", &wsRefuser{code: "rate_limited", refuse: 2}, 4, nil, 3, []string{"p"}},
		{"unavailable once", &wsRefuser{code: "unavailable", refuse: 1}, 4, nil, 2, []string{"p"}},
		{"closed 1008", &wsRefuser{closeWith: websocket.ClosePolicyViolation, refuse: 1}, 4, nil, 2, []string{"p", "tok"}},
		{"retries spent", &wsRefuser{code: "rate_limited", refuse: 10}, 2, client.ErrRateLimited, 3, []string{"p"}},
		{"not retried", &wsRefuser{code: "bad_request", refuse: 1}, 4, client.ErrBadRequest, 1, []string{"p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := newClient(t, tc.f.start(t), client.WithTransport(client.WebSocket), client.WithRetries(tc.retries),
				client.WithBackoff(time.Millisecond, 5*time.Millisecond))
			s, err := c.DevLogin(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			res, err := s.Do(ctx, client.Act("ping", ""), client.Act("ping", ""))
			if tc.wantErr != nil {
				var e *client.Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &e) {
					t.Fatalf("got %v, want an *Error matching %v", err, tc.wantErr)
				}
			} else if err != nil || len(res) != 2 || res[0].Seq != 42 || res[1].Seq != 43 {
				t.Fatalf("got %+v %v, want seqs 42 and 43 (last_seq 41 + 1)", res, err)
			}
			tc.f.mu.Lock()
			defer tc.f.mu.Unlock()
			if len(tc.f.seen) != tc.wantSent {
				t.Errorf("server saw %d actions messages %v, want %d", len(tc.f.seen), tc.f.seen, tc.wantSent)
			}
			for i, seqs := range tc.f.seen {
				if b, _ := json.Marshal(seqs); string(b) != "[42,43]" {
					t.Errorf("message %d carried seqs %s, want the same [42,43] every time", i, b)
				}
			}
			if b, w := mustJSON(tc.f.logins), mustJSON(tc.wantLogin); b != w {
				t.Errorf("logins %s, want %s (the dev door, then resumes with the session)", b, w)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
