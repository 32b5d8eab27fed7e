package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Transport is how a session sends its actions.
type Transport int

const (
	// HTTP sends every call as its own request over the shared
	// keep-alive connections of the Client's *http.Client. An idle HTTP
	// session holds no goroutine, no connection and no buffer.
	HTTP Transport = iota
	// WebSocket gives the session its own socket and a reader goroutine
	// for it; actions and logout go over the socket, pushed events arrive
	// on Events. Calls the socket protocol has no message for (Player,
	// Account, Link, Refresh) go over HTTP with the same session.
	WebSocket
)

func (t Transport) String() string {
	switch t {
	case HTTP:
		return "http"
	case WebSocket:
		return "websocket"
	}
	return "Transport(" + strconv.Itoa(int(t)) + ")"
}

// Defaults of the options.
const (
	DefaultRetries        = 4
	DefaultBackoff        = 50 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxRetryWait   = 5 * time.Second
	DefaultEventBuffer    = 16
)

// maxReply bounds a reply the client buffers (the game data bundle is the
// largest by far).
const maxReply = 32 << 20

// Client talks to one Rampart base URL. It is safe for concurrent use and
// meant to be shared: one Client serves any number of sessions.
type Client struct {
	base  string // "http://host:port", no trailing slash
	wsURL string

	hc         *http.Client
	dialer     *websocket.Dialer
	transport  Transport
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	maxWait    time.Duration
	eventBuf   int
	eventFunc  func(*Session, Event) // WithEventFunc
	userAgent  string
	rawIdle    int      // WithRawHTTP; 0: net/http
	raw        *rawPool // nil unless WithRawHTTP on an http:// URL

	bufs    sync.Pool // *[]byte: request and reply bodies, borrowed per call
	version versionCache
	stats   struct {
		attempts, resends, netErrors, refused, wsDials, wsLogins, dropped atomic.Int64
	}

	gd struct {
		mu   sync.Mutex // guards etag and data; held across the fetch so that concurrent callers fetch once
		etag string
		data GameData
	}
}

// Option configures a Client.
type Option func(*Client)

// WithTransport selects the transport of the sessions the Client signs
// in (default HTTP).
func WithTransport(t Transport) Option { return func(c *Client) { c.transport = t } }

// WithHTTPClient sends HTTP requests through hc instead of the Client's
// own (keep-alive, no HTTP/2, 256 idle connections).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRawHTTP sends the calls of sessions (not GameData, which wants
// gzip) through the package's own minimal HTTP/1.1 client instead of
// net/http: keep-alive connections shared by all sessions, at most idle
// of them kept, each request written and read by the calling goroutine.
// It costs a fraction of net/http per request, which matters to a load
// generator; it speaks only plain http:// and ignores proxies.
func WithRawHTTP(idle int) Option { return func(c *Client) { c.rawIdle = max(idle, 1) } }

// WithDialer opens WebSockets with d instead of the default (1 KiB read
// buffer, pooled write buffers, no compression).
func WithDialer(d *websocket.Dialer) Option { return func(c *Client) { c.dialer = d } }

// WithRetries sets how many times a call is resent after a lost reply or
// a 429/503 before its error is returned (default DefaultRetries; 0
// never resends).
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithBackoff sets the first wait between resends and its cap; each
// further wait doubles, with jitter (defaults DefaultBackoff,
// DefaultMaxBackoff).
func WithBackoff(first, limit time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = first, max(limit, first) }
}

// WithRequestTimeout bounds one attempt: a reply not complete by then
// counts as lost and the call is resent (default DefaultRequestTimeout).
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxRetryWait is the longest Retry-After the client waits out by
// itself; a longer one is returned as the *Error (default
// DefaultMaxRetryWait).
func WithMaxRetryWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// WithEventBuffer sets the capacity of a WebSocket session's Events
// channel (default DefaultEventBuffer); events that find it full are
// dropped and counted.
func WithEventBuffer(n int) Option { return func(c *Client) { c.eventBuf = max(n, 0) } }

// WithEventFunc hands every event pushed to the Client's WebSocket
// sessions to fn instead of their Events channels, for load generators
// that count events over thousands of sessions: no channel per session,
// nothing to drain, no allocation per event. fn runs on the session's
// reader goroutine, in order; it must return quickly and must not call
// the session (a call waits for the reader's replies). ev.Raw is valid
// only during the call: copy it to keep it.
func WithEventFunc(fn func(s *Session, ev Event)) Option { return func(c *Client) { c.eventFunc = fn } }

// WithUserAgent sets the User-Agent header (default "rampart-client").
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the server at baseURL (http:// or https://).
func New(baseURL string, opts ...Option) (*Client, error) {
	base := strings.TrimRight(baseURL, "/")
	var ws string
	switch {
	case strings.HasPrefix(base, "http://"):
		ws = "ws://" + strings.TrimPrefix(base, "http://")
	case strings.HasPrefix(base, "https://"):
		ws = "wss://" + strings.TrimPrefix(base, "https://")
	default:
		return nil, fmt.Errorf("rampart client: base URL %q is not http:// or https://", baseURL)
	}
	c := &Client{
		base: base, wsURL: ws + "/api/v1/ws",
		retries: DefaultRetries, backoff: DefaultBackoff, maxBackoff: DefaultMaxBackoff,
		timeout: DefaultRequestTimeout, maxWait: DefaultMaxRetryWait, eventBuf: DefaultEventBuffer,
		userAgent: "rampart-client",
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		}}
	}
	if c.rawIdle > 0 {
		if !strings.HasPrefix(base, "http://") {
			return nil, fmt.Errorf("rampart client: WithRawHTTP speaks only http://, not %q", baseURL)
		}
		hostport := strings.TrimPrefix(base, "http://")
		if i := strings.IndexByte(hostport, '/'); i >= 0 {
			return nil, fmt.Errorf("rampart client: WithRawHTTP needs a base URL without a path, not %q", baseURL)
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			hostport = net.JoinHostPort(hostport, "80")
		}
		c.raw = newRawPool(hostport, c.rawIdle)
	}
	if c.dialer == nil {
		c.dialer = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: c.timeout,
			ReadBufferSize:   1024,
			WriteBufferSize:  1024,
			WriteBufferPool:  &sync.Pool{},
		}
	}
	return c, nil
}

// Stats are a Client's counters since New, over all its sessions.
type Stats struct {
	Attempts  int64 // calls sent: first copies and resends (HTTP requests, socket messages, socket logins)
	Resends   int64 // attempts after the first of a call (the raw pool's quiet repeat on a stale connection included)
	NetErrors int64 // attempts that got no answer (reset, EOF, timeout, refused dial)
	Refused   int64 // attempts answered 429 or 503
	// HTTPDials counts connections opened by the WithRawHTTP pool (net/http
	// keeps its own count to itself).
	HTTPDials     int64
	WSDials       int64 // WebSockets opened
	WSLogins      int64 // logins on a socket, first ones and resumes
	DroppedEvents int64 // events dropped because a session's Events was full
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	st := &c.stats
	out := Stats{Attempts: st.attempts.Load(), Resends: st.resends.Load(), NetErrors: st.netErrors.Load(),
		Refused: st.refused.Load(), WSDials: st.wsDials.Load(), WSLogins: st.wsLogins.Load(), DroppedEvents: st.dropped.Load()}
	if c.raw != nil {
		out.HTTPDials = c.raw.dials.Load()
		out.Resends += c.raw.resends.Load()
		out.Attempts += c.raw.resends.Load()
	}
	return out
}

// CloseIdleConnections closes the keep-alive connections no call is
// using (sessions' sockets are theirs to close).
func (c *Client) CloseIdleConnections() {
	if c.raw != nil {
		c.raw.closeIdle()
	}
	c.hc.CloseIdleConnections()
}

// URL is the base URL the client talks to.
func (c *Client) URL() string { return c.base }

func (c *Client) getBuf() *[]byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 2048)
	return &b
}

func (c *Client) putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 { // an odd huge reply is not kept
		c.bufs.Put(b)
	}
}

// netError is a failure to get an answer: the request may or may not have
// reached the server. It is what a resend is for.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// resend says which failures a call may be resent after.
type resend int

const (
	// resendRefused resends only after 429 and 503: the server answered
	// and did nothing. For calls that must not reach the server twice
	// (refresh: a spent token presented again revokes the account's tokens).
	resendRefused resend = iota
	// resendAlways also resends after a lost reply: the call is
	// idempotent (actions carry seqs; GETs; sign-ins and logout).
	resendAlways
)

// retry runs attempt until it succeeds, fails for good, or the retries
// are spent. Each attempt gets its own timeout. attempt's error is a
// *netError (no answer), an *Error (refused) or anything else (final).
func (c *Client) retry(ctx context.Context, mode resend, attempt func(ctx context.Context, n int) error) error {
	st := &c.stats
	for n := 0; ; n++ {
		st.attempts.Add(1)
		if n > 0 {
			st.resends.Add(1)
		}
		err := attempt(ctx, n)
		if err == nil {
			return nil
		}
		// A proxy's 502 or 504 (the server went away mid-request, or did
		// not answer in time) is a lost reply like a broken connection:
		// the request may have been applied.
		var ne *netError
		lost := errors.As(err, &ne) || gatewayLost(err)
		if lost {
			st.netErrors.Add(1)
		} else if _, ok := retryable(err); ok {
			st.refused.Add(1)
		}
		if ctx.Err() != nil {
			return ctxError(ctx, err)
		}
		if n >= c.retries {
			return err
		}
		var wait time.Duration
		if e, ok := retryable(err); ok {
			wait = e.RetryAfter
			if wait > c.maxWait {
				return err
			}
		} else if !lost || mode != resendAlways {
			return err
		}
		if wait == 0 {
			wait = c.backoffFor(n)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctxError(ctx, err)
		}
	}
}

// ctxError is err, made to match ctx's error too.
func ctxError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); !errors.Is(err, cerr) {
		return fmt.Errorf("%w (last attempt: %w)", cerr, err)
	}
	return err
}

// backoffFor is the wait before resend n+1: doubling from c.backoff,
// capped, jittered down by up to half so that many clients spread out.
func (c *Client) backoffFor(n int) time.Duration {
	d := c.backoff << min(n, 20)
	if d > c.maxBackoff || d <= 0 {
		d = c.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// PlayerHeader names the player on every HTTP request of a session that
// knows its player id (and on a sign-in given KnownPlayer), so that a
// load balancer in front of a cluster can hash on the player and send
// it to the server that owns it. The WebSocket upgrade carries the same
// id as the query parameter "player".
const PlayerHeader = "X-Rampart-Player"

// headers are a request's per-session headers.
type headers struct {
	auth   string // the Authorization value, "" for none
	player string // the PlayerHeader value, "" for none
}

// httpReply is one HTTP answer; body is a pooled buffer the caller puts
// back.
type httpReply struct {
	status int
	body   *[]byte
	etag   string
}

// roundTrip sends one request and reads the whole reply. A non-2xx, non-304
// answer is returned as an *Error (and its body released); no answer is a
// *netError. mode says whether the request may reach the server twice.
// The attempt is bounded by the request timeout.
func (c *Client) roundTrip(ctx context.Context, mode resend, method, path string, h headers, body []byte) (httpReply, error) {
	if c.raw == nil {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		return c.stdRoundTrip(actx, method, path, h, body, "")
	}
	buf := c.getBuf()
	r, out, err := c.raw.roundTrip(ctx, c.timeout, method, path, h, c.userAgent, body, *buf, mode == resendRefused)
	*buf = out
	if err != nil {
		c.putBuf(buf)
		return httpReply{}, &netError{fmt.Errorf("%s %s: %w", method, path, err)}
	}
	return c.reply(buf, r.status, r.etag, r.retryAfter)
}

// reply makes the answer of a round trip: 2xx and 304 as they are,
// anything else an *Error.
func (c *Client) reply(buf *[]byte, status int, etag, retry string) (httpReply, error) {
	r := httpReply{status: status, body: buf, etag: etag}
	if r.status/100 == 2 || r.status == http.StatusNotModified {
		return r, nil
	}
	e := &Error{Status: r.status, RetryAfter: retryAfter(retry, time.Now())}
	var ok bool
	e.Code, e.Message, ok = parseError(*buf)
	if !ok {
		e.Code, e.Message = statusCode(r.status), http.StatusText(r.status)
	}
	c.putBuf(buf)
	return httpReply{}, e
}

// stdRoundTrip is roundTrip through net/http.
func (c *Client) stdRoundTrip(ctx context.Context, method, path string, hd headers, body []byte, ifNoneMatch string) (httpReply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return httpReply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	h := req.Header
	h["User-Agent"] = []string{c.userAgent}
	if body != nil {
		h["Content-Type"] = []string{"application/json"}
	}
	if hd.auth != "" {
		h["Authorization"] = []string{hd.auth}
	}
	if hd.player != "" {
		h[PlayerHeader] = []string{hd.player}
	}
	if ifNoneMatch != "" {
		h["If-None-Match"] = []string{ifNoneMatch}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return httpReply{}, &netError{fmt.Errorf("%s %s: %w", method, path, err)}
	}
	buf := c.getBuf()
	*buf, err = readAll(resp.Body, *buf, resp.ContentLength)
	resp.Body.Close()
	if err != nil {
		c.putBuf(buf)
		return httpReply{}, &netError{fmt.Errorf("%s %s: read reply: %w", method, path, err)}
	}
	return c.reply(buf, resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Retry-After"))
}

// statusCode names an answer that came without an API error body (a
// proxy's, say) by its status.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "banned"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return "unavailable"
	}
	return "internal"
}

// readAll reads r into b; n is the expected length, or -1.
func readAll(r io.Reader, b []byte, n int64) ([]byte, error) {
	if n > maxReply {
		return b, fmt.Errorf("reply of %d bytes is over the %d limit", n, maxReply)
	}
	if n >= 0 {
		if int64(cap(b)) < n {
			b = make([]byte, 0, n)
		}
		b = b[:n]
		_, err := io.ReadFull(r, b)
		return b, err
	}
	for {
		if len(b) >= maxReply {
			return b, fmt.Errorf("reply over the %d limit", maxReply)
		}
		if cap(b)-len(b) < 512 {
			nb := make([]byte, len(b), 2*cap(b)+4096)
			copy(nb, b)
			b = nb
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// call sends a request with retries and returns the reply body (a pooled
// buffer the caller puts back).
func (c *Client) call(ctx context.Context, mode resend, method, path string, h headers, body []byte) (*[]byte, error) {
	var out *[]byte
	err := c.retry(ctx, mode, func(ctx context.Context, _ int) error {
		r, err := c.roundTrip(ctx, mode, method, path, h, body)
		out = r.body
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Request sends any JSON request, for routes this package has no method
// for: body (if not nil) is encoded as JSON, a 2xx reply decoded into out
// (if not nil), anything else returned as an *Error. session, if not
// empty, is sent as the bearer token. GETs are resent after a lost reply;
// other methods only after 429/503.
func (c *Client) Request(ctx context.Context, method, path, session string, body, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	mode := resendRefused
	if method == http.MethodGet || method == http.MethodHead {
		mode = resendAlways
	}
	var h headers
	if session != "" {
		h.auth = "Bearer " + session
	}
	buf, err := c.call(ctx, mode, method, path, h, data)
	if err != nil {
		return err
	}
	defer c.putBuf(buf)
	if out != nil {
		if err := json.Unmarshal(*buf, out); err != nil {
			return fmt.Errorf("decode %s %s: %w: %v", method, path, ErrProtocol, err)
		}
	}
	return nil
}

// GameData is the compiled game data bundle.
type GameData struct {
	Version string          // its content hash, as in every reply's gamedata_version
	Bundle  json.RawMessage // the bundle JSON; shared, do not modify
}

// GameData fetches the bundle, or answers from the Client's cache when the
// server says it has not changed (If-None-Match, 304). It is downloaded
// gzip-compressed when the server offers it.
func (c *Client) GameData(ctx context.Context) (GameData, error) {
	c.gd.mu.Lock()
	defer c.gd.mu.Unlock()
	var got GameData
	err := c.retry(ctx, resendAlways, func(ctx context.Context, _ int) error {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		r, err := c.stdRoundTrip(actx, http.MethodGet, "/api/v1/gamedata", headers{}, nil, c.gd.etag)
		if err != nil {
			return err
		}
		defer c.putBuf(r.body)
		if r.status == http.StatusNotModified && c.gd.etag != "" {
			got = c.gd.data
			return nil
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("GET /api/v1/gamedata: status %d: %w", r.status, ErrProtocol)
		}
		got = GameData{Version: strings.Trim(r.etag, `"`), Bundle: bytes.Clone(*r.body)}
		if got.Version == "" {
			got.Version = string(unquote(field(got.Bundle, "version")))
		}
		c.gd.etag, c.gd.data = r.etag, got
		return nil
	})
	return got, err
}
