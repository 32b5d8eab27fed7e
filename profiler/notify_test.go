package profiler

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWebhookReusesConnections: the receiver's answers, successes and
// failures, are read and closed, so consecutive notifications ride one
// keep-alive connection instead of dialling each time.
func TestWebhookReusesConnections(t *testing.T) {
	fail := strings.Repeat("x", 8<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, fail, http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{"accepted":true,"note":"` + strings.Repeat("y", 4<<10) + `"}`))
	}))
	var dialled atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ok, failing := NewWebhook(srv.Client(), srv.URL), NewWebhook(srv.Client(), srv.URL+"?fail=1")
	ctx := context.Background()
	const n = 20
	for i := range n {
		hook, wantErr := ok, false
		if i%4 == 3 {
			hook, wantErr = failing, true
		}
		if err := hook.Notify(ctx, []byte(`{"rule":"disk"}`)); (err != nil) != wantErr {
			t.Fatalf("notification %d: got %v, want error %v", i, err, wantErr)
		}
	}
	if got := dialled.Load(); got != 1 {
		t.Fatalf("%d notifications opened %d connections, want 1", n, got)
	}
}

func TestWebhookRetryable(t *testing.T) {
	status := func(code int) error {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}))
		defer srv.Close()
		return NewWebhook(srv.Client(), srv.URL).Notify(context.Background(), []byte(`{}`))
	}
	refused := func() error {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		return NewWebhook(nil, url).Notify(context.Background(), []byte(`{}`))
	}
	cancelled := func() error {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return NewWebhook(nil, "http://127.0.0.1:1").Notify(ctx, []byte(`{}`))
	}
	tests := []struct {
		name  string
		err   error
		retry bool
	}{
		{"502", status(http.StatusBadGateway), true},
		{"503", status(http.StatusServiceUnavailable), true},
		{"429", status(http.StatusTooManyRequests), true},
		{"400", status(http.StatusBadRequest), false},
		{"404", status(http.StatusNotFound), false},
		{"connection refused", refused(), true},
		{"context cancelled", cancelled(), false},
		{"wrapped status", errors.Join(errors.New("keeper"), &WebhookStatusError{Status: 500}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("Notify succeeded, want an error")
			}
			if got := WebhookRetryable(tt.err); got != tt.retry {
				t.Errorf("WebhookRetryable(%v) = %v, want %v", tt.err, got, tt.retry)
			}
		})
	}
	if err := status(http.StatusNoContent); err != nil {
		t.Errorf("Notify to a 204 = %v, want nil", err)
	}
}
