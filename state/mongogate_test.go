package state_test

import (
	"net"
	"net/url"
	"sync"
	"testing"

	"rampart/internal/testenv"
)

// mongoGate is a TCP relay in front of the embedded MongoDB, so that a
// test can stop MongoDB and start it again on the same data behind the
// address its clients were given (FerretDB picks a new port each start).
type mongoGate struct {
	*testenv.Relay

	mu     sync.Mutex
	target string // host:port of the FerretDB behind; guarded by mu
}

// startMongoGate relays to the MongoDB at uri until t ends and returns
// the URI that reaches it through the gate.
func startMongoGate(t testing.TB, uri string) (gate *mongoGate, gateURI string) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	g := &mongoGate{target: u.Host}
	// A refused dial (MongoDB is down) closes the client's connection.
	g.Relay = testenv.StartRelay(t, g.dial, nil)
	u.Host = g.Addr
	return g, u.String()
}

func (g *mongoGate) dial() (net.Conn, error) {
	g.mu.Lock()
	target := g.target
	g.mu.Unlock()
	return net.Dial("tcp", target)
}

// retarget sends new connections to the MongoDB at uri.
func (g *mongoGate) retarget(t testing.TB, uri string) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.target = u.Host
	g.mu.Unlock()
}
