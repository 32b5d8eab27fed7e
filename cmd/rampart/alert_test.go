package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/bookkeeper"
	"rampart/profiler"
)

type alertEvent struct {
	Rule  string  `json:"rule"`
	State string  `json:"state"`
	Value float64 `json:"value"`
}

// TestLoadAlertFiresAndResolves drives a real server process (one
// scheduler thread, so one busy core is 100% unhalted load) past 50%
// unhalted load, and watches the alert fire on /debug/alerts and its SSE
// stream, then resolve once the load stops.
func TestLoadAlertFiresAndResolves(t *testing.T) {
	if testing.Short() {
		t.Skip("drives load for about 20 s")
	}
	proc := startProcess(t, []string{"GOMAXPROCS=1"}, "--data-dir", t.TempDir(), "--mongo-uri", "off", "--alert-load", "0.5")
	base, stderr := proc.Base, proc.Stderr

	// The SSE stream, read on its own goroutine.
	resp, err := (&httpClientNoTimeout).Get(base + "/debug/alerts/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan alertEvent, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		kind := ""
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				kind = strings.TrimPrefix(l, "event: ")
			case strings.HasPrefix(l, "data: ") && kind == "alert":
				var ev alertEvent
				if json.Unmarshal([]byte(strings.TrimPrefix(l, "data: ")), &ev) == nil {
					events <- ev
				}
			}
		}
		close(events)
	}()
	awaitAlert := func(state string, within time.Duration) alertEvent {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("alert stream closed before %s", state)
				}
				if ev.Rule == "unhalted-load" && ev.State == state {
					return ev
				}
			case <-deadline:
				t.Fatalf("no unhalted-load %s event within %s\n%s", state, within, stderr.String())
			}
		}
	}

	// Load: a few players sending ping batches as fast as answers come.
	// The workers never fail the test themselves (they may outlive it by a
	// request); the alert is what is asserted.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		session := loginAs(t, base, "load"+string(rune('a'+i))).Session
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := int64(0)
			untilClosed(stop, func(int) bool {
				batch := make([]int64, 50)
				for j := range batch {
					seq++
					batch[j] = seq
				}
				req, _ := http.NewRequest("POST", base+"/api/v1/actions", strings.NewReader(pings(batch...)))
				req.Header.Set("Authorization", "Bearer "+session)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				return true
			})
		}()
	}
	// Generous: on a busy machine the server gets less than its core.
	fired := awaitAlert("firing", 120*time.Second)
	if fired.Value < 0.5 {
		t.Errorf("fired at load %.2f, want ≥ 0.5", fired.Value)
	}
	var snap struct {
		Active []alertEvent `json:"active"`
	}
	call(t, "GET", base+"/debug/alerts?format=json", "", "", &snap)
	active := false
	for _, a := range snap.Active {
		active = active || a.Rule == "unhalted-load"
	}
	if !active {
		t.Errorf("/debug/alerts active = %+v, want unhalted-load", snap.Active)
	}
	close(stop)
	wg.Wait()
	awaitAlert("resolved", 90*time.Second)
}

// httpClientNoTimeout reads streams.
var httpClientNoTimeout = http.Client{}

// TestWebhookNotifier: the server's alert notifier goes through the
// webhook bookkeeper, which retries 5xx and not 4xx (profiler's
// TestWebhookReusesConnections checks the connection is kept).
func TestWebhookNotifier(t *testing.T) {
	tests := []struct {
		name      string
		answers   []int
		wantErr   bool
		wantTries int
	}{
		{"delivered", []int{200}, false, 1},
		{"5xx retried", []int{503, 502, 204}, false, 3},
		{"4xx final", []int{400, 200}, true, 1},
		{"tries run out", []int{500, 500, 500, 200}, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			tries := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				code := tt.answers[min(tries, len(tt.answers)-1)]
				tries++
				mu.Unlock()
				http.Error(w, http.StatusText(code), code)
			}))
			defer srv.Close()
			k := bookkeeper.New(bookkeeper.Config{Name: "webhook", MaxTries: 3, Retryable: profiler.WebhookRetryable,
				BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
			err := webhookNotifier(k, srv.Client(), srv.URL).Notify(context.Background(), []byte(`{"rule":"disk"}`))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify = %v, want error %v", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if tries != tt.wantTries {
				t.Fatalf("got %d tries, want %d", tries, tt.wantTries)
			}
		})
	}
}
