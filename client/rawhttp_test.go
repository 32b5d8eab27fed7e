package client

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"rampart/internal/testenv"
	"strings"
	"testing"
	"time"
)

func TestRawPool(t *testing.T) {
	big := strings.Repeat("0123456789", 3000) // past net/http's buffer: chunked
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("ETag", `"`+r.Header.Get("Authorization")+"/"+r.Header.Get(PlayerHeader)+`"`)
			w.Write(body)
		case "/big":
			for i := 0; i < len(big); i += 1000 {
				w.Write([]byte(big[i : i+1000]))
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/error":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"m"}}`))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	p := newRawPool(u.Host, 4)
	defer p.closeIdle()
	ctx := context.Background()
	for i, tc := range []struct {
		method, path, auth, player, body string
		wantStatus                       int
		wantBody, wantETag               string
		wantRetry                        string
		wantDials                        int64
	}{
		{"POST", "/echo", "Bearer tok", "p-1", `{"a":1}`, 200, `{"a":1}`, `"Bearer tok/p-1"`, "", 1},
		{"GET", "/big", "", "", "", 200, big, "", "", 1},
		{"POST", "/echo", "", "", "x", 200, "x", `"/"`, "", 1},
		{"GET", "/error", "", "", "", 429, `{"error":{"code":"rate_limited","message":"m"}}`, "", "7", 1},
		{"GET", "/empty", "", "", "", 204, "", "", "", 1},
		{"GET", "/close", "", "", "", 200, "bye", "", "", 1},
		{"GET", "/echo", "", "", "", 200, "", `"/"`, "", 2}, // a new connection after close
	} {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		r, got, err := p.roundTrip(ctx, 5*time.Second, tc.method, tc.path, headers{auth: tc.auth, player: tc.player}, "test", body, nil, false)
		if err != nil {
			t.Fatalf("request %d %s: %v", i, tc.path, err)
		}
		if r.status != tc.wantStatus || string(got) != tc.wantBody || r.etag != tc.wantETag || r.retryAfter != tc.wantRetry {
			t.Errorf("request %d %s: got %d %.40q etag %s retry %q, want %d %.40q etag %s retry %q", i, tc.path,
				r.status, got, r.etag, r.retryAfter, tc.wantStatus, tc.wantBody, tc.wantETag, tc.wantRetry)
		}
		if d := p.dials.Load(); d != tc.wantDials {
			t.Errorf("request %d %s: %d dials, want %d", i, tc.path, d, tc.wantDials)
		}
	}
}

// TestRawPoolStaleConn: a kept-alive connection the server closed while
// idle is replaced once, quietly, unless the request must not be repeated.
func TestRawPoolStaleConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	p := newRawPool(u.Host, 4)
	ctx := context.Background()
	if _, _, err := p.roundTrip(ctx, 5*time.Second, "GET", "/", headers{}, "test", nil, nil, false); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	// Let the close reach the pooled connection's socket: a read that
	// sees EOF tells (no sleeping on a guess).
	p.mu.Lock()
	c := p.idle[0]
	p.mu.Unlock()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.br.Peek(1); err != io.EOF {
		t.Fatalf("peek on the closed connection: %v, want EOF", err)
	}
	c.conn.SetReadDeadline(time.Time{})
	r, got, err := p.roundTrip(ctx, 5*time.Second, "GET", "/", headers{}, "test", nil, nil, false)
	if err != nil || r.status != 200 || string(got) != "ok" || p.dials.Load() != 2 {
		t.Fatalf("after the server closed: %d %q %v, %d dials; want 200 ok on a second connection", r.status, got, err, p.dials.Load())
	}
	// fresh: always a new connection, never a quiet repeat.
	if _, _, err := p.roundTrip(ctx, 5*time.Second, "POST", "/", headers{}, "test", []byte("{}"), nil, true); err != nil || p.dials.Load() != 3 {
		t.Fatalf("fresh request: %v, %d dials, want 3", err, p.dials.Load())
	}
}

// TestRawPoolCancel: ctx ending cuts a request short.
func TestRawPoolCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := newRawPool(ln.Addr().String(), 4)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := p.roundTrip(ctx, 5*time.Second, "GET", "/", headers{}, "test", nil, nil, false)
		errc <- err
	}()
	cancel()
	if err := testenv.Receive(t, errc, 10*time.Second, "cancel did not end the request"); err == nil {
		t.Fatal("a request to a server that never answers succeeded")
	}
}
