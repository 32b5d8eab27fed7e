package api

import (
	"context"
	"testing"

	"rampart/state"
	"rampart/state/push"
)

// heldIndex is a player index whose Top waits until the test lets it go:
// it holds an asynchronous action in flight (fault injection, not a
// stand-in for MongoDB: the MongoDB side is tested in state).
type heldIndex struct {
	state.Index
	release chan struct{}
}

func (h *heldIndex) Top(ctx context.Context, n int) ([]state.Summary, error) {
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []state.Summary{{ID: "someone", Trophies: 10}}, nil
}

func (h *heldIndex) Rank(ctx context.Context, trophies int, id string) (int, error) { return 2, nil }

// A client that reconnects while its asynchronous action is in flight gets
// the result on the new socket.
func TestWSReconnectDuringAsyncAction(t *testing.T) {
	idx := &heldIndex{release: make(chan struct{})}
	e := newWSEnvWith(t, state.Mongo{Index: idx})

	w := e.dial(t)
	session := w.login("fran")
	w.send(`{"type":"actions","actions":[{"seq":1,"name":"leaderboard","args":{}}]}`)
	if r := result(t, w.expect("results")); r["pending"] != true {
		t.Fatalf("leaderboard: %v, want pending", r)
	}
	w.hangUp()

	w2 := e.dial(t)
	w2.send(`{"type":"login","session":"` + session + `"}`)
	w2.expect("login_ok")
	close(idx.release)
	m := w2.recv()
	ev, _ := m["event"].(map[string]any)
	if m["type"] != "event" || ev["kind"] != push.AsyncResult || ev["seq"] != float64(1) || ev["ok"] != true {
		t.Fatalf("after reconnecting: got %v, want the async_result of seq 1", m)
	}
	// And a resend of the seq now answers with the result, not "pending".
	w2.send(`{"type":"actions","actions":[{"seq":1,"name":"leaderboard"}]}`)
	if r := result(t, w2.expect("results")); r["pending"] == true || r["duplicate"] != true || r["result"] == nil {
		t.Fatalf("resent seq 1: %v", r)
	}
}
