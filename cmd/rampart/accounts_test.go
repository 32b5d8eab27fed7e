package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"rampart/internal/testenv"
)

// TestServeRefuses: configurations the server must not start with.
func TestServeRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"dev door on all interfaces", []string{"--dev-login", "--addr", "0.0.0.0:0"}, nil, "--dev-login"},
		{"dev door on an empty host", []string{"--dev-login", "--addr", ":0"}, nil, "--dev-login"},
		{"dev door by environment on a public address", []string{"--addr", "192.0.2.1:0"}, map[string]string{"RAMPART_DEV_LOGIN": "true"}, "--dev-login"},
		{"admin token on the command line", []string{"--admin-token", "sekrit"}, nil, "may not be given on the command line"},
		{"session secret on the command line", []string{"--session-secret=" + strings.Repeat("k", 40)}, nil, "may not be given on the command line"},
		{"s3 secret on the command line", []string{"--s3-secret-key", "x"}, nil, "may not be given on the command line"},
		{"ticket secret on the command line", []string{"--ticket-secret", strings.Repeat("t", 40)}, nil, "may not be given on the command line"},
		{"secret both in a file and the environment", []string{"--admin-token-file", "/dev/null"}, map[string]string{"RAMPART_ADMIN_TOKEN": "x"}, "give one"},
		{"empty secret file", []string{"--admin-token-file", "/dev/null"}, nil, "empty"},
		{"short session secret", nil, map[string]string{"RAMPART_SESSION_SECRET": "short"}, "at least 32"},
		{"bad trusted proxy", []string{"--trusted-proxies", "10.0.0.0/8,nonsense"}, nil, "--trusted-proxies"},
		{"no S3 call allowed", []string{"--s3-concurrency", "0"}, nil, "--s3-concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", dir, "--mongo-uri", "off", "--addr", "127.0.0.1:0"}, tt.args...)
			err := run(context.Background(), args, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestSecretsFromFiles: the admin token from --admin-token-file opens the
// admin routes, and no secret is on /debug/pprof/cmdline.
func TestSecretsFromFiles(t *testing.T) {
	const token = "admin-token-from-a-file-0123456789"
	s := startServer(t, t.TempDir(), "--mongo-uri", "off", "--admin-token-file", secretFile(t, token))
	lr := loginAs(t, s.URL, "op")
	if code := call(t, "GET", s.URL+"/admin/v1/players/"+lr.PlayerID, token, "", nil); code != 200 {
		t.Fatalf("admin route with the token from the file: %d", code)
	}
	if code := call(t, "GET", s.URL+"/admin/v1/players/"+lr.PlayerID, "wrong", "", nil); code != 401 {
		t.Fatalf("admin route with a wrong token: %d, want 401", code)
	}
	proc := testenv.StartRampart(t, []string{"RAMPART_ADMIN_TOKEN=" + token, "RAMPART_SESSION_SECRET=" + strings.Repeat("s", 40)}, "--mongo-uri", "off")
	body := getText(t, proc.URL+"/debug/pprof/cmdline")
	if !strings.Contains(body, "serve") {
		t.Fatalf("/debug/pprof/cmdline: %q, want the command line", body)
	}
	if strings.Contains(body, token) || strings.Contains(body, strings.Repeat("s", 40)) {
		t.Fatalf("/debug/pprof/cmdline shows a secret: %q", body)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestLogoutSurvivesRestart: a logged-out session and its refresh token
// stay dead after the real binary restarts on the same data, over HTTP
// and over the WebSocket; a session that was not logged out resumes.
func TestLogoutSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	env := []string{"RAMPART_SESSION_SECRET=" + strings.Repeat("r", 40)}
	p := testenv.StartRampart(t, env, "--data-dir", dir, "--mongo-uri", "off")
	out := loginAs(t, p.URL, "leaver")
	stay := loginAs(t, p.URL, "stayer")
	if code := call(t, "POST", p.URL+"/api/v1/logout", out.Session, "{}", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	p = testenv.StartRampart(t, env, "--data-dir", dir, "--mongo-uri", "off")
	tests := []struct {
		name    string
		session string
		want    string // login_ok or an error code
	}{
		{"logged out", out.Session, "unauthorized"},
		{"not logged out", stay.Session, "login_ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.URL, "http")+"/api/v1/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"login","session":"`+tt.session+`"}`))
			var m struct {
				Type  string `json:"type"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := c.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
			got := m.Type
			if got == "error" {
				got = m.Error.Code
			}
			if got != tt.want {
				t.Fatalf("WebSocket login after the restart: %+v, want %s", m, tt.want)
			}
		})
	}
	if code := call(t, "POST", p.URL+"/api/v1/auth/refresh", "", `{"refresh":"`+out.Refresh+`"}`, nil); code != 401 {
		t.Fatalf("refresh token of the logged-out session after the restart: %d, want 401", code)
	}
	if code := call(t, "GET", p.URL+"/api/v1/player", out.Session, "", nil); code != 401 {
		t.Fatalf("HTTP with the logged-out session after the restart: %d, want 401", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "s3.credentials")); err != nil {
		t.Fatalf("embedded S3 credentials not kept in the data dir: %v", err)
	}
}

// TestDevDoorOnLoopback: with --dev-login on loopback the door is open.
func TestDevDoorOnLoopback(t *testing.T) {
	s := startServer(t, t.TempDir(), "--mongo-uri", "off", "--dev-login")
	var lr loginReply
	if code := call(t, "POST", s.URL+"/api/v1/login", "", `{"player_id":"alice"}`, &lr); code != 200 || lr.Player.ID != "alice" {
		t.Fatalf("dev door: %d %+v", code, lr)
	}
}

// TestConnectionsPerAddress: the real server closes a client's
// connections past --max-conns-per-ip.
func TestConnectionsPerAddress(t *testing.T) {
	s := startServer(t, t.TempDir(), "--mongo-uri", "off", "--max-conns-per-ip", "3")
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/v1/ws"
	for i := range 3 {
		c, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatalf("socket %d within the bound: %v", i, err)
		}
		defer c.Close()
	}
	if c, _, err := websocket.DefaultDialer.Dial(u, nil); err == nil {
		c.Close()
		t.Fatal("a fourth socket from one address was accepted")
	}
}
