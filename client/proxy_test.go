package client_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// cutProxy is a TCP proxy for fault injection on the WebSocket, which
// testenv.FaultProxy (an HTTP proxy) cannot carry. It relays bytes both
// ways and can cut every connection (the server closing the socket, as
// the client sees it) or lose the next reply: the next bytes the client
// sends are forwarded, then both sides are closed before anything more
// reaches the client.
type cutProxy struct {
	addr   string
	target string
	ln     net.Listener

	mu     sync.Mutex
	conns  map[*relay]struct{}
	armed  bool // lose the reply to the next client write
	closed bool

	accepted atomic.Int64
	lost     atomic.Int64 // replies lost by arm
	wg       sync.WaitGroup
}

type relay struct {
	client, server net.Conn
	cut            bool // guarded by cutProxy.mu: nothing more goes to the client
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[*relay]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.addr }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		r := &relay{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[r] = struct{}{}
		p.mu.Unlock()
		p.accepted.Add(1)
		p.wg.Add(2)
		go p.up(r)
		go p.down(r)
	}
}

// up relays client → server. When armed, the chunk is forwarded and the
// relay cut at once: the reply to it can never reach the client.
func (p *cutProxy) up(r *relay) {
	defer p.wg.Done()
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
	defer p.wg.Done()
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

func (p *cutProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}
