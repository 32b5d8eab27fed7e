package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rawPool is a minimal HTTP/1.1 client for plain http:// servers, for
// load generators (WithRawHTTP): keep-alive connections shared by every
// session of the Client, one request at a time on each, written and read
// by the calling goroutine itself. Compared with net/http it saves the
// two goroutine hand-offs per request (its connection's read and write
// loops) and most allocations. Content-Length request bodies;
// Content-Length, chunked or to-EOF replies; no compression, no proxies.
type rawPool struct {
	addr    string // host:port to dial
	host    string // Host header
	maxIdle int

	mu   sync.Mutex
	idle []*rawConn // most recently used last

	dials   atomic.Int64
	resends atomic.Int64 // requests repeated on a new connection after a stale one
}

// rawConn is one keep-alive connection, owned by one call at a time.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
}

var errMalformed = errors.New("malformed HTTP response")

func newRawPool(hostport string, maxIdle int) *rawPool {
	return &rawPool{addr: hostport, host: hostport, maxIdle: maxIdle}
}

func (p *rawPool) get(ctx context.Context, deadline time.Time, fresh bool) (*rawConn, bool, error) {
	if !fresh {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return c, true, nil
		}
		p.mu.Unlock()
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", p.addr, err)
	}
	p.dials.Add(1)
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 4096)}, false, nil
}

func (p *rawPool) put(c *rawConn) {
	p.mu.Lock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.conn.Close()
}

// closeIdle closes the idle connections.
func (p *rawPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.conn.Close()
	}
}

// rawReply is what readResponse found.
type rawReply struct {
	status     int
	keep       bool
	etag       string
	retryAfter string
}

// roundTrip is Client.roundTrip over the pool. A kept-alive connection the
// server closed while idle fails on first use; if fresh is false (the
// call may be repeated), that is retried once on a new connection, as
// net/http does for idempotent requests.
// The request must be done within timeout (and before ctx's deadline);
// a ctx that can be canceled costs an AfterFunc, one that cannot costs
// nothing.
func (p *rawPool) roundTrip(ctx context.Context, timeout time.Duration, method, path string, h headers, ua string, body []byte, out []byte, fresh bool) (rawReply, []byte, error) {
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c, reused, err := p.get(ctx, deadline, fresh)
	if err != nil {
		return rawReply{}, out, err
	}
	r, out, err := p.try(ctx, deadline, c, method, path, h, ua, body, out)
	if err != nil && reused && ctx.Err() == nil && staleConn(err) {
		p.resends.Add(1)
		if c, _, err = p.get(ctx, deadline, true); err != nil {
			return rawReply{}, out, err
		}
		r, out, err = p.try(ctx, deadline, c, method, path, h, ua, body, out[:0])
	}
	return r, out, err
}

// staleConn reports whether err looks like a kept-alive connection that the
// server had already closed.
func staleConn(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

func (p *rawPool) try(ctx context.Context, deadline time.Time, c *rawConn, method, path string, h headers, ua string, body []byte, out []byte) (rawReply, []byte, error) {
	w := c.wbuf[:0]
	w = append(w, method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, p.host...)
	w = append(w, "\r\nUser-Agent: "...)
	w = append(w, ua...)
	w = append(w, "\r\n"...)
	if h.auth != "" {
		w = append(w, "Authorization: "...)
		w = append(w, h.auth...)
		w = append(w, "\r\n"...)
	}
	if h.player != "" {
		w = append(w, PlayerHeader+": "...)
		w = append(w, h.player...)
		w = append(w, "\r\n"...)
	}
	if body != nil {
		w = append(w, "Content-Type: application/json\r\nContent-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	c.wbuf = w

	c.conn.SetDeadline(deadline)
	// Cancellation before the deadline cuts the connection short.
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	}
	if _, err := c.conn.Write(w); err != nil {
		stop()
		c.conn.Close()
		return rawReply{}, out, err
	}
	r, out, err := readResponse(c.br, out)
	if !stop() { // ctx ended meanwhile: the deadline is spoilt
		c.conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return rawReply{}, out, err
	}
	if err != nil {
		c.conn.Close()
		return rawReply{}, out, err
	}
	if r.keep {
		p.put(c)
	} else {
		c.conn.Close()
	}
	return r, out, nil
}

func readResponse(br *bufio.Reader, out []byte) (rawReply, []byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return rawReply{}, out, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return rawReply{}, out, errMalformed
		}
		var r rawReply
		r.status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return rawReply{}, out, errMalformed
		}
		r.keep = line[7] == '1'
		length := int64(-1)
		chunked := false
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				if errors.Is(err, bufio.ErrBufferFull) {
					err = errMalformed
				}
				return rawReply{}, out, err
			}
			h = bytes.TrimRight(h, "\r\n")
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon < 0 {
				return rawReply{}, out, errMalformed
			}
			name, val := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				length, err = strconv.ParseInt(string(val), 10, 64)
				if err != nil || length < 0 || length > maxReply {
					return rawReply{}, out, errMalformed
				}
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				chunked = containsFold(val, "chunked")
			case bytes.EqualFold(name, []byte("Connection")):
				if containsFold(val, "close") {
					r.keep = false
				} else if containsFold(val, "keep-alive") {
					r.keep = true
				}
			case bytes.EqualFold(name, []byte("ETag")):
				r.etag = string(val)
			case bytes.EqualFold(name, []byte("Retry-After")):
				r.retryAfter = string(val)
			}
		}
		if r.status >= 100 && r.status < 200 {
			continue // 100 Continue and friends carry no body
		}
		out = out[:0]
		switch {
		case r.status == http.StatusNoContent || r.status == http.StatusNotModified:
		case chunked:
			out, err = readChunked(br, out)
		case length >= 0:
			out, err = readAll(br, out, length)
		default:
			// No length: the body runs to the end of the connection.
			r.keep = false
			out, err = readAll(br, out, -1)
		}
		return r, out, err
	}
}

func containsFold(v []byte, word string) bool {
	return bytes.Contains(bytes.ToLower(v), []byte(word))
}

func readChunked(br *bufio.Reader, out []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return out, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 || int64(len(out))+n > maxReply {
			return out, errMalformed
		}
		if n == 0 {
			// Trailers, then the blank line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return out, err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return out, nil
				}
			}
		}
		start := len(out)
		if cap(out)-start < int(n) {
			nb := make([]byte, start, 2*cap(out)+int(n))
			copy(nb, out)
			out = nb
		}
		out = out[:start+int(n)]
		if _, err := io.ReadFull(br, out[start:]); err != nil {
			return out, err
		}
		if _, err := br.Discard(2); err != nil { // CRLF after the chunk
			return out, err
		}
	}
}
