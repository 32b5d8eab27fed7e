package state_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// mongoGate is a TCP relay in front of the embedded MongoDB, so that a
// test can stop MongoDB and start it again on the same data behind the
// address its clients were given (FerretDB picks a new port each start).
type mongoGate struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	target string                // host:port of the FerretDB behind; guarded by mu
	conns  map[net.Conn]struct{} // both ends of every relay; guarded by mu
	closed bool                  // guarded by mu
}

// startMongoGate relays to the MongoDB at uri until t ends and returns
// the URI that reaches it through the gate.
func startMongoGate(t testing.TB, uri string) (gate *mongoGate, gateURI string) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &mongoGate{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	g.wg.Add(1)
	go g.accept()
	t.Cleanup(g.close)
	u.Host = ln.Addr().String()
	return g, u.String()
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

func (g *mongoGate) accept() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		target := g.target
		g.mu.Unlock()
		s, err := net.Dial("tcp", target)
		if err != nil { // MongoDB is down: the client sees a closed connection
			c.Close()
			continue
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		g.conns[c], g.conns[s] = struct{}{}, struct{}{}
		g.mu.Unlock()
		g.wg.Add(2)
		go g.relay(c, s)
		go g.relay(s, c)
	}
}

// relay copies from → to until either side ends, then closes both.
func (g *mongoGate) relay(from, to net.Conn) {
	defer g.wg.Done()
	io.Copy(to, from)
	from.Close()
	to.Close()
	g.mu.Lock()
	delete(g.conns, from)
	delete(g.conns, to)
	g.mu.Unlock()
}

func (g *mongoGate) close() {
	g.mu.Lock()
	g.closed = true
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.ln.Close()
	g.wg.Wait()
}
