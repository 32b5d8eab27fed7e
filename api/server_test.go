package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
	"testing"

	"rampart/gamedata"
	"rampart/internal/testenv"
	"rampart/profiler"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{GameData: gamedata.NewHolder(gd), Profiler: profiler.New(), Log: testenv.Discard,
		AdminToken: "admin-secret", Debug: &Debug{}})
}

func TestHealthzDrain(t *testing.T) {
	s := newTestServer(t)
	for _, tt := range []struct {
		name  string
		drain bool
		want  int
	}{{"serving", false, 200}, {"draining", true, 503}} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.drain {
				s.Drain()
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
			if w.Code != tt.want {
				t.Fatalf("got %d, want %d", w.Code, tt.want)
			}
		})
	}
}

func TestGamedataRoute(t *testing.T) {
	s := newTestServer(t)
	gd := s.cfg.GameData.Current()
	etag := `"` + gd.Version + `"`
	tests := []struct {
		name     string
		header   map[string]string
		status   int
		encoding string
	}{
		{"plain", nil, 200, ""},
		{"gzip", map[string]string{"Accept-Encoding": "br, gzip"}, 200, "gzip"},
		{"gzip refused", map[string]string{"Accept-Encoding": "gzip;q=0"}, 200, ""},
		{"not modified", map[string]string{"If-None-Match": etag}, 304, ""},
		{"stale etag", map[string]string{"If-None-Match": `"old"`}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/gamedata", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.status || w.Header().Get("ETag") != etag || w.Header().Get("Content-Encoding") != tt.encoding {
				t.Fatalf("got %d etag %s encoding %q, want %d %s %q", w.Code, w.Header().Get("ETag"), w.Header().Get("Content-Encoding"), tt.status, etag, tt.encoding)
			}
			if tt.status != 200 {
				return
			}
			body := w.Body.Bytes()
			if tt.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			}
			if !bytes.Equal(body, gd.Raw()) {
				t.Fatalf("body is not the compiled bundle (%d bytes, want %d)", len(body), len(gd.Raw()))
			}
		})
	}
}

func TestDebugGuard(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, remote, token string
		want                int
	}{
		{"loopback v4", "127.0.0.1:5000", "", 200},
		{"loopback v6", "[::1]:5000", "", 200},
		{"remote no token", "203.0.113.9:5000", "", 401},
		{"remote wrong token", "203.0.113.9:5000", "nope", 401},
		{"remote admin token", "203.0.113.9:5000", "admin-secret", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/debug/pprof/", nil)
			r.RemoteAddr = tt.remote
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("got %d, want %d", w.Code, tt.want)
			}
		})
	}
}
