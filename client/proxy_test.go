package client_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"rampart/internal/testenv"
)

// cutProxy is a testenv.Relay for fault injection on the WebSocket, which
// testenv.FaultProxy (an HTTP proxy) cannot carry. It relays bytes both
// ways and can cut every connection (the server closing the socket, as
// the client sees it) or lose the next reply: the next bytes the client
// sends are forwarded, then both sides are closed before anything more
// reaches the client.
type cutProxy struct {
	*testenv.Relay

	mu    sync.Mutex
	conns map[*relay]struct{}
	armed bool // lose the reply to the next client write

	accepted atomic.Int64
	lost     atomic.Int64 // replies lost by arm
}

type relay struct {
	client, server net.Conn
	cut            bool // guarded by cutProxy.mu: nothing more goes to the client
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{conns: map[*relay]struct{}{}}
	p.Relay = testenv.StartRelay(t, func() (net.Conn, error) { return net.Dial("tcp", target) }, p.serve)
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.Addr }

// serve relays one connection both ways, up and down, until both end.
func (p *cutProxy) serve(client, server net.Conn) {
	r := &relay{client: client, server: server}
	p.mu.Lock()
	p.conns[r] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	var wg sync.WaitGroup
	wg.Go(func() { p.up(r) })
	p.down(r)
	wg.Wait()
}

// up relays client → server. When armed, the chunk is forwarded and the
// relay cut at once: the reply to it can never reach the client.
func (p *cutProxy) up(r *relay) {
	p.pump(r, r.client, func(chunk []byte) bool {
		p.mu.Lock()
		lose := p.armed
		if lose {
			p.armed = false
			r.cut = true
		}
		p.mu.Unlock()
		_, err := r.server.Write(chunk)
		if lose {
			p.lost.Add(1)
		}
		return lose || err != nil
	})
}

// down relays server → client until the relay is cut, then discards what
// the server still sends until it closes.
func (p *cutProxy) down(r *relay) {
	defer r.server.Close()
	p.pump(r, r.server, func(chunk []byte) bool {
		p.mu.Lock()
		cut := r.cut
		p.mu.Unlock()
		if !cut {
			if _, err := r.client.Write(chunk); err != nil {
				p.drop(r)
			}
		}
		return false
	})
}

// pump reads src and hands each chunk to forward until a read fails or
// forward reports the relay done; either way it then drops r.
func (p *cutProxy) pump(r *relay, src net.Conn, forward func(chunk []byte) (done bool)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if (n > 0 && forward(buf[:n])) || err != nil {
			p.drop(r)
			return
		}
	}
}

func (p *cutProxy) drop(r *relay) {
	p.mu.Lock()
	r.cut = true
	delete(p.conns, r)
	p.mu.Unlock()
	r.client.Close()
	// Half-close: the server reads everything forwarded before it sees
	// the end, and then closes; down closes our side.
	r.server.(*net.TCPConn).CloseWrite()
}

// loseNextReply arms the proxy: the client's next write is delivered and
// its answer lost.
func (p *cutProxy) loseNextReply() {
	p.mu.Lock()
	p.armed = true
	p.mu.Unlock()
}

// cutAll closes every relayed connection.
func (p *cutProxy) cutAll() {
	p.mu.Lock()
	rs := make([]*relay, 0, len(p.conns))
	for r := range p.conns {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	for _, r := range rs {
		p.drop(r)
	}
}

// close cuts every connection and refuses new ones.
func (p *cutProxy) close() {
	p.cutAll()
	p.Relay.Close()
}
