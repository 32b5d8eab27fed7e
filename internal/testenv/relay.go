package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Relay is a TCP relay on loopback for faults below HTTP (a WebSocket,
// MongoDB's wire protocol), which FaultProxy, an HTTP proxy, cannot carry.
// For each connection it accepts it dials the target and hands both ends
// to a serve function, which relays them; Close cuts every connection and
// refuses new ones.
type Relay struct {
	Addr string // host:port the clients dial

	ln    net.Listener
	dial  func() (net.Conn, error)
	serve func(client, server net.Conn)
	wg    sync.WaitGroup // the accept loop and every serve

	mu      sync.Mutex
	clients map[net.Conn]struct{} // the client end of every relayed connection; guarded by mu
	closed  bool                  // guarded by mu
}

// StartRelay relays until tb ends. dial reaches the target; when it fails
// the client's connection is closed, as a server that is down would.
// serve relays one connection and returns when it is done; both ends are
// closed then. A nil serve is Pipe.
func StartRelay(tb testing.TB, dial func() (net.Conn, error), serve func(client, server net.Conn)) *Relay {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if serve == nil {
		serve = Pipe
	}
	r := &Relay{Addr: ln.Addr().String(), ln: ln, dial: dial, serve: serve, clients: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	tb.Cleanup(r.Close)
	return r
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := r.dial()
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		r.clients[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			r.serve(c, s)
			c.Close()
			s.Close()
			r.mu.Lock()
			delete(r.clients, c)
			r.mu.Unlock()
		}()
	}
}

// Close refuses new connections, closes the client end of every relayed
// one (each serve then sees its client gone and ends) and waits for them.
// It may be called more than once.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.clients {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
}

// Pipe copies bytes both ways until either side ends, then closes both.
func Pipe(client, server net.Conn) {
	var wg sync.WaitGroup
	copyThenClose := func(dst, src net.Conn) {
		io.Copy(dst, src)
		client.Close()
		server.Close()
	}
	wg.Go(func() { copyThenClose(server, client) })
	copyThenClose(client, server)
	wg.Wait()
}
