package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// Every reply carries one Date header, the second it was served in, over
// a real connection (net/http leaves the one the server set alone).
func TestDateHeader(t *testing.T) {
	srv := httptest.NewServer(newTestServer(t))
	defer srv.Close()
	for _, path := range []string{"/healthz", "/api/v1/no-such-route"} {
		t.Run(path, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			after := time.Now()
			if got := resp.Header.Values("Date"); len(got) != 1 {
				t.Fatalf("Date headers %q, want one", got)
			}
			at, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil {
				t.Fatalf("Date %q: %v", resp.Header.Get("Date"), err)
			}
			if at.Before(before) || at.After(after) {
				t.Errorf("Date %v, not between %v and %v", at, before, after)
			}
		})
	}
}

func TestHTTPDateOncePerSecond(t *testing.T) {
	var d httpDate
	t0 := time.Date(2026, 12, 1, 23, 59, 59, 100e6, time.FixedZone("X", 3600))
	tests := []struct {
		name string
		at   time.Time
		want string
		same bool // the slice of the call before
	}{
		{"first", t0, "Tue, 01 Dec 2026 22:59:59 GMT", false},
		{"same second", t0.Add(800 * time.Millisecond), "Tue, 01 Dec 2026 22:59:59 GMT", true},
		{"next second", t0.Add(time.Second), "Tue, 01 Dec 2026 23:00:00 GMT", false},
	}
	var prev []string
	for _, tt := range tests {
		got := d.at(tt.at)
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if same := prev != nil && &prev[0] == &got[0]; same != tt.same {
			t.Errorf("%s: reused the last second's slice: %v, want %v", tt.name, same, tt.same)
		}
		prev = got
	}
}
