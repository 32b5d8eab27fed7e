package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"rampart/internal/testenv"
)

// TestDrainOrder: the drain runs its steps in the order that loses
// nothing — readiness first (the balancer stops sending), then the HTTP
// drain, the loops, the asynchronous work, the final checkpoint of
// everyone, and only then the journal, MongoDB's writes, the cluster and
// the bookkeepers — and the player signed in before it is saved with its
// lease released (a second server could sign it in at once).
func TestDrainOrder(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		want  []string
	}{
		{"defaults", nil, []string{"not ready", "http", "loops", "async", "checkpoint", "journal", "mongodb", "bookkeepers"}},
		{"without MongoDB (an A/B switch)", []string{"--mongo-uri", "off"}, []string{"not ready", "http", "loops", "async", "checkpoint", "journal", "bookkeepers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error"}, tt.extra...)
			a, err := newApp(args, func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			ctx, cancel := context.WithCancel(context.Background())
			if err := a.build(ctx); err != nil {
				t.Fatal(err)
			}
			ran := make(chan error, 1)
			go func() { ran <- a.run(ctx, io.Discard) }()
			base := "http://" + a.ln.Addr().String()
			waitServing(t, base)
			lr := loginAs(t, base, "drained")
			if code := call(t, "POST", base+"/api/v1/actions", lr.Session, pings(2), nil); code != 200 {
				t.Fatalf("actions: %d", code)
			}
			cancel()
			if err := <-ran; err != nil {
				t.Fatal(err)
			}
			if err := a.drain(); err != nil {
				t.Fatalf("drain: %v", err)
			}
			if !slices.Equal(a.drained, tt.want) {
				t.Errorf("drain steps %v, want %v", a.drained, tt.want)
			}
			if n := a.store.OnlineCount(); n != 0 {
				t.Errorf("%d players still online after the drain, want 0 (saved and released)", n)
			}
		})
	}
}

// waitServing waits until base answers /healthz.
func waitServing(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code := call(t, "GET", base+"/healthz", "", "", nil); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("server not serving within 10s")
		}
		time.Sleep(10 * time.Millisecond) // polling a server starting on this goroutine's behalf, bounded
	}
}

// TestSIGTERMWithAnOpenStream: an SSE stream open on /debug/alerts/stream
// must not hold the drain: SIGTERM ends the stream at once, saves every
// player and exits 0 (it used to spend the whole 30 s drain on the stream
// and exit 1 with players unsaved).
func TestSIGTERMWithAnOpenStream(t *testing.T) {
	p := testenv.StartRampart(t, nil, "--drain-timeout", "30s")
	lr := loginAs(t, p.URL, "streamer")
	if code := call(t, "POST", p.URL+"/api/v1/actions", lr.Session, pings(1), nil); code != 200 {
		t.Fatalf("actions: %d", code)
	}
	resp, err := http.Get(p.URL + "/debug/alerts/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(ended) }()

	t0 := time.Now()
	if err := p.Stop(25 * time.Second); err != nil {
		t.Fatalf("SIGTERM with an open stream: %v\n%s", err, p.Stderr())
	}
	<-ended
	if !strings.Contains(p.Stderr(), "shutdown complete") {
		t.Fatalf("no clean shutdown in the log:\n%s", p.Stderr())
	}
	t.Logf("exited 0 %v after SIGTERM", time.Since(t0))
}
