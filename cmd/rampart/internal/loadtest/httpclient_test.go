package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func rawFor(t testing.TB, srv *httptest.Server) *rawHTTP {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	c := newRawHTTP(context.Background(), u.Host, u.Host, 5*time.Second)
	t.Cleanup(c.close)
	return c
}

func TestRawHTTP(t *testing.T) {
	big := strings.Repeat("0123456789", 3000) // past net/http's buffer: chunked
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("X-Auth", r.Header.Get("Authorization"))
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
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"m"}}`))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c := rawFor(t, srv)

	for i, tc := range []struct {
		method, path, auth, body string
		wantStatus               int
		wantBody                 string
		wantDials                int64
	}{
		{"POST", "/echo", "tok", `{"a":1}`, 200, `{"a":1}`, 1},
		{"GET", "/big", "", "", 200, big, 1},
		{"POST", "/echo", "", "x", 200, "x", 1},
		{"GET", "/error", "", "", 429, `{"error":{"code":"rate_limited","message":"m"}}`, 1},
		{"GET", "/empty", "", "", 204, "", 1},
		{"GET", "/close", "", "", 200, "bye", 1},
		{"GET", "/echo", "", "", 200, "", 2}, // a new connection after close
	} {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		status, got, retried, err := c.do(tc.method, tc.path, tc.auth, body)
		if err != nil {
			t.Fatalf("request %d %s: %v", i, tc.path, err)
		}
		if status != tc.wantStatus || string(got) != tc.wantBody || retried {
			t.Errorf("request %d %s: got %d %q (retried %v), want %d %q", i, tc.path, status, trim(got), retried, tc.wantStatus, trim([]byte(tc.wantBody)))
		}
		if c.dials != tc.wantDials {
			t.Errorf("request %d %s: %d dials, want %d", i, tc.path, c.dials, tc.wantDials)
		}
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…(" + strconv.Itoa(len(b)) + ")"
	}
	return string(b)
}

// A keep-alive connection the server closed while idle is retried once,
// and the caller is told.
func TestRawHTTPStaleConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Start()
	defer srv.Close()
	c := rawFor(t, srv)
	if _, _, _, err := c.do("GET", "/", "", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	status, body, retried, err := c.do("GET", "/", "", nil)
	if err != nil || status != 200 || string(body) != "ok" || !retried {
		t.Errorf("got %d %q retried %v err %v; want 200 \"ok\" retried", status, body, retried, err)
	}
}

// The raw client must cost a good deal less than net/http's; compare with
// go test -bench HTTPRoundTrip.
func BenchmarkHTTPRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"results":[{"seq":1,"ok":true,"result":{}}],"gamedata_version":"x","server_time":1}`))
	}))
	defer srv.Close()
	body := []byte(`{"actions":[{"seq":1,"name":"ping","args":{}}]}`)
	for _, tc := range []struct {
		name string
		c    doer
	}{
		{"raw", rawFor(b, srv)},
		{"std", &stdHTTP{client: &http.Client{Transport: newStdTransport(1, 5*time.Second)}, base: srv.URL, abort: context.Background()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := tc.c.do("POST", "/api/v1/actions", "token", body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
