package api

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// LimitConns bounds the connections open at once per client address on
// ln, so one client cannot take every file descriptor: a connection past
// perIP is closed as soon as it is accepted (the client sees a reset or
// EOF), before net/http reads a byte of it. Peers in trusted (the
// proxies) are not bounded: every client behind them shares their
// address.
func LimitConns(ln net.Listener, perIP int, trusted []netip.Prefix) *ConnLimiter {
	return &ConnLimiter{Listener: ln, perIP: perIP, trusted: trusted, open: make(map[netip.Addr]int)}
}

// ConnLimiter is a net.Listener with a per-address connection bound.
type ConnLimiter struct {
	net.Listener
	perIP   int
	trusted []netip.Prefix

	mu   sync.Mutex
	open map[netip.Addr]int // guarded by mu; entries at 0 are deleted

	// Refused counts connections closed for being over the bound.
	Refused atomic.Int64
}

// Accept returns the next connection within the bound.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, ok := tcpAddr(c.RemoteAddr())
		if !ok || l.isTrusted(addr) {
			return c, nil
		}
		l.mu.Lock()
		n := l.open[addr]
		if n >= l.perIP {
			l.mu.Unlock()
			l.Refused.Add(1)
			c.Close()
			continue
		}
		l.open[addr] = n + 1
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *ConnLimiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (l *ConnLimiter) release(a netip.Addr) {
	l.mu.Lock()
	if l.open[a] <= 1 {
		delete(l.open, a)
	} else {
		l.open[a]--
	}
	l.mu.Unlock()
}

func tcpAddr(a net.Addr) (netip.Addr, bool) {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return ap.Addr().Unmap(), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap(), err == nil
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	l    *ConnLimiter
	addr netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}
