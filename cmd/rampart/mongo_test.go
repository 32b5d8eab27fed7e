package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"rampart/internal/testenv"
)

// TestStartsWithMongoDown: a lone server whose MongoDB does not answer at
// start (down, or a FerretDB still busy after a kill -9) starts anyway —
// S3 is the source of truth and every MongoDB path copes with an outage —
// says so on /readyz, and plays: sign-in and actions answer 200.
func TestStartsWithMongoDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	p := testenv.StartRampart(t, nil, "--mongo-uri", "mongodb://"+addr+"/?serverSelectionTimeoutMS=500")

	lr := loginAs(t, p.URL, "nomongo")
	if code := call(t, "POST", p.URL+"/api/v1/actions", lr.Session, pings(1), nil); code != 200 {
		t.Fatalf("action without MongoDB: %d, want 200", code)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "mongodb") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz without MongoDB: %d %s, want 503 naming mongodb", resp.StatusCode, body)
		}
		<-time.After(100 * time.Millisecond) // the probe runs every 2 s
	}
	if !strings.Contains(p.Stderr(), "mongodb does not answer") {
		t.Errorf("the start did not log that MongoDB does not answer:\n%s", tail(p.Stderr(), 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("…%s", s[len(s)-n:])
	}
	return s
}
