package loadtest

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
	"time"
)

// doer sends one HTTP request and returns the status and the body. The body
// is valid until the next call. A doer is owned by one worker.
type doer interface {
	do(method, path, auth string, body []byte) (status int, resp []byte, retried bool, err error)
	close()
}

// maxBody bounds a reply we are willing to buffer.
const maxBody = 16 << 20

var errProtocol = errors.New("malformed HTTP response")

// rawHTTP is a minimal HTTP/1.1 client over one keep-alive connection:
// one request at a time, Content-Length request bodies, Content-Length or
// chunked replies. It costs a fraction of net/http's client per request,
// which matters when one core of generator must saturate one core of
// server.
type rawHTTP struct {
	addr    string // host:port to dial
	host    string // Host header
	timeout time.Duration
	abort   context.Context // canceled when the run is aborted
	dials   int64           // connections opened

	conn net.Conn
	stop func() bool // unregisters the abort hook of conn
	br   *bufio.Reader
	wbuf []byte
	body []byte
}

func newRawHTTP(abort context.Context, addr, host string, timeout time.Duration) *rawHTTP {
	return &rawHTTP{addr: addr, host: host, timeout: timeout, abort: abort}
}

func (c *rawHTTP) close() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn = nil
	}
}

func (c *rawHTTP) dial() error {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(c.abort, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.addr, err)
	}
	c.dials++
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c.conn = conn
	c.stop = context.AfterFunc(c.abort, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

func (c *rawHTTP) do(method, path, auth string, body []byte) (int, []byte, bool, error) {
	reused := c.conn != nil
	status, resp, err := c.try(method, path, auth, body)
	// A keep-alive connection the server closed while idle fails on first
	// use; every request we send is safe to repeat (actions carry seqs), so
	// retry once on a fresh connection, as net/http does. The caller is
	// told: the first copy may have been applied.
	if err != nil && reused && c.abort.Err() == nil && staleConn(err) {
		status, resp, err = c.try(method, path, auth, body)
		return status, resp, true, err
	}
	return status, resp, false, err
}

// staleConn reports whether err looks like a kept-alive connection that the
// server had already closed.
func staleConn(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func (c *rawHTTP) try(method, path, auth string, body []byte) (int, []byte, error) {
	if c.conn == nil {
		if err := c.dial(); err != nil {
			return 0, nil, err
		}
	}
	w := c.wbuf[:0]
	w = append(w, method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, c.host...)
	w = append(w, "\r\nUser-Agent: rampart-loadtest\r\n"...)
	if auth != "" {
		w = append(w, "Authorization: Bearer "...)
		w = append(w, auth...)
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

	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(w); err != nil {
		c.close()
		return 0, nil, err
	}
	status, keep, err := c.readResponse()
	if err != nil {
		c.close()
		return 0, nil, err
	}
	if !keep {
		c.close()
	}
	return status, c.body, nil
}

func (c *rawHTTP) readResponse() (status int, keep bool, err error) {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return 0, false, errProtocol
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return 0, false, errProtocol
		}
		keep = line[7] == '1'
		length := int64(-1)
		chunked := false
		for {
			h, err := c.br.ReadSlice('\n')
			if err != nil {
				if errors.Is(err, bufio.ErrBufferFull) {
					err = errProtocol
				}
				return 0, false, err
			}
			h = bytes.TrimRight(h, "\r\n")
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon < 0 {
				return 0, false, errProtocol
			}
			name, val := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				length, err = strconv.ParseInt(string(val), 10, 64)
				if err != nil || length < 0 || length > maxBody {
					return 0, false, errProtocol
				}
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				chunked = containsFold(val, "chunked")
			case bytes.EqualFold(name, []byte("Connection")):
				if containsFold(val, "close") {
					keep = false
				} else if containsFold(val, "keep-alive") {
					keep = true
				}
			}
		}
		if status >= 100 && status < 200 {
			continue // 100 Continue and friends carry no body
		}
		c.body = c.body[:0]
		switch {
		case status == http.StatusNoContent || status == http.StatusNotModified:
		case chunked:
			err = c.readChunked()
		case length >= 0:
			err = c.readN(int(length))
		default:
			// No length: the body runs to the end of the connection.
			keep = false
			err = c.readToEOF()
		}
		return status, keep, err
	}
}

func containsFold(v []byte, word string) bool {
	return bytes.Contains(bytes.ToLower(v), []byte(word))
}

func (c *rawHTTP) readN(n int) error {
	if len(c.body)+n > maxBody {
		return errProtocol
	}
	start := len(c.body)
	c.body = ensure(c.body, n)[:start+n]
	_, err := io.ReadFull(c.br, c.body[start:])
	return err
}

func (c *rawHTTP) readChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 || n > maxBody {
			return errProtocol
		}
		if n == 0 {
			// Trailers, then the blank line.
			for {
				t, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := c.readN(int(n)); err != nil {
			return err
		}
		if _, err := c.br.Discard(2); err != nil { // CRLF after the chunk
			return err
		}
	}
}

func (c *rawHTTP) readToEOF() error {
	for {
		if len(c.body) >= maxBody {
			return errProtocol
		}
		c.body = ensure(c.body, 4096)
		n, err := c.br.Read(c.body[len(c.body):cap(c.body)])
		c.body = c.body[:len(c.body)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ensure returns b with room for n more bytes after len(b).
func ensure(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b
}

// stdHTTP sends through net/http: used for https targets, and as a
// reference for the raw client in tests.
type stdHTTP struct {
	client *http.Client
	base   string
	abort  context.Context
	body   []byte
}

func newStdTransport(conns int, timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		DisableCompression:  true,
	}
}

func (c *stdHTTP) close() {}

func (c *stdHTTP) do(method, path, auth string, body []byte) (int, []byte, bool, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.abort, method, c.base+path, rd)
	if err != nil {
		return 0, nil, false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, false, err
	}
	defer resp.Body.Close()
	c.body, err = readAllInto(resp.Body, c.body[:0])
	return resp.StatusCode, c.body, false, err
}
