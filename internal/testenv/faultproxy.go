package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults is what a FaultProxy does to the requests passing through it. The
// rates are probabilities in [0, 1], drawn per request from the proxy's
// seeded generator: first whether S3 is Down, then one of ErrorRate,
// ResetRate and LostReplyRate (exclusive, in that order), then,
// independently, DelayRate.
type Faults struct {
	// ErrorRate answers 503 with an S3 error body (ServiceUnavailable or
	// SlowDown) without forwarding: the request never reaches S3.
	ErrorRate float64
	// ResetRate reads the request, then resets the connection (TCP RST)
	// without forwarding: the request never reaches S3.
	ResetRate float64
	// LostReplyRate forwards the request to S3 and then resets the
	// connection instead of answering: the request took effect but its
	// reply is lost (a timeout after S3 committed a write looks the same).
	LostReplyRate float64
	// DelayRate holds a request for Delay before forwarding it. A client
	// that gives up meanwhile (its try timed out) is not forwarded.
	DelayRate float64
	Delay     time.Duration

	// Down makes every request fail the way DownMode says: S3 is out.
	Down     bool
	DownMode DownMode

	// Match, if set, limits the faults above (Down included) to the
	// requests it returns true for; the others pass untouched. It is called
	// once per request (again when a hung request is released), from the
	// request's goroutine, so concurrently; it may call SetFaults, which
	// then applies from the next request on (a scripted sequence).
	Match func(*http.Request) bool
}

// DownMode is how requests fail while Faults.Down is set.
type DownMode int

const (
	// Down503 answers every request 503 SlowDown or ServiceUnavailable.
	Down503 DownMode = iota
	// DownReset resets every connection after reading its request.
	DownReset
	// DownRefuse closes the proxy's listener and its open connections:
	// new connections are refused until Down is cleared, when the proxy
	// listens on the same address again.
	DownRefuse
	// DownHang holds every request without answering until its client
	// gives up, or until Down is cleared (then it is forwarded).
	DownHang
)

func (m DownMode) String() string {
	switch m {
	case Down503:
		return "503"
	case DownReset:
		return "reset"
	case DownRefuse:
		return "refuse"
	case DownHang:
		return "hang"
	}
	return fmt.Sprintf("DownMode(%d)", int(m))
}

// FaultCounts are a FaultProxy's counters since it started (or since
// ResetCounts).
type FaultCounts struct {
	Requests    int64 // requests read by the proxy
	Forwarded   int64 // sent on to S3
	Errors503   int64 // 503s the proxy made up (ErrorRate, Down503)
	Resets      int64 // connections reset before forwarding (ResetRate, DownReset)
	LostReplies int64 // forwarded, then the connection reset instead of the reply
	Delayed     int64 // held for Faults.Delay
	Hung        int64 // held while down in DownHang
	ClientGone  int64 // the client gave up while the proxy held its request
	// Answers from S3 to forwarded requests: 2xx, 404, other 4xx, 5xx;
	// S3Failed counts forwards that got no answer (S3 itself unreachable).
	S3OK, S3NotFound, S3Client, S3Server, S3Failed int64
	// Puts and Gets count the requests read, by method (HEAD not included).
	Puts, Gets int64
}

// Injected is every fault the proxy caused that a client sees as a failed
// request.
func (c FaultCounts) Injected() int64 { return c.Errors503 + c.Resets + c.LostReplies }

// FaultProxy is an HTTP reverse proxy on 127.0.0.1 in front of an S3
// endpoint that fails requests at configured rates: 503s, connection
// resets, lost replies, delays, and whole outages. Faults can change at
// any time with SetFaults.
type FaultProxy struct {
	// URL is the proxy's endpoint, to give the S3 client instead of the
	// target's.
	URL string

	target    *url.URL
	addr      string
	transport *http.Transport
	srv       *http.Server

	mu      sync.Mutex
	faults  Faults
	changed chan struct{} // closed and replaced by every SetFaults
	rng     *rand.Rand
	ln      net.Listener // nil while refusing
	conns   map[net.Conn]struct{}
	closed  bool

	serving sync.WaitGroup // Serve goroutines
	done    chan struct{}  // closed by Close

	c struct {
		requests, forwarded, errors503, resets, lostReplies, delayed, hung, clientGone atomic.Int64
		s3OK, s3NotFound, s3Client, s3Server, s3Failed, puts, gets                     atomic.Int64
	}
	reqID atomic.Int64
}

// NewFaultProxy starts a proxy to target (an http:// S3 endpoint) with no
// faults. seed makes the sequence of fault decisions reproducible (which
// request gets which depends on arrival order).
func NewFaultProxy(target string, seed int64) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("fault proxy: target %q is not an absolute URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	p := &FaultProxy{
		URL:     "http://" + ln.Addr().String(),
		target:  u,
		addr:    ln.Addr().String(),
		changed: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x5eed_fa17)),
		ln:      ln,
		conns:   make(map[net.Conn]struct{}),
		done:    make(chan struct{}),
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true, // pass bodies through untouched
		},
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         p.connState,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	p.serve(ln)
	return p, nil
}

// StartFaultProxy is NewFaultProxy for a test: it fails t if the proxy
// cannot start and closes it when t ends.
func StartFaultProxy(t testing.TB, target string, seed int64) *FaultProxy {
	t.Helper()
	p, err := NewFaultProxy(target, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func (p *FaultProxy) serve(ln net.Listener) {
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		p.srv.Serve(ln) //nolint:errcheck // returns when ln closes
	}()
}

func (p *FaultProxy) connState(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

// SetFaults replaces the faults; requests already held (delayed, hung)
// see the change at once.
func (p *FaultProxy) SetFaults(f Faults) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("fault proxy: closed")
	}
	wasRefusing := p.ln == nil
	refuse := f.Down && f.DownMode == DownRefuse
	p.faults = f
	close(p.changed)
	p.changed = make(chan struct{})
	switch {
	case refuse && !wasRefusing:
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			c.Close()
		}
	case !refuse && wasRefusing:
		// Listen again on the same port. It was ours a moment ago; allow
		// for a brief race with the kernel.
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; {
			var ln net.Listener
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				p.ln = ln
				p.serve(ln)
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("fault proxy: listen again on %s: %w", p.addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Faults returns the faults in force.
func (p *FaultProxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Counts returns a snapshot of the counters.
func (p *FaultProxy) Counts() FaultCounts {
	c := &p.c
	return FaultCounts{
		Requests: c.requests.Load(), Forwarded: c.forwarded.Load(), Errors503: c.errors503.Load(),
		Resets: c.resets.Load(), LostReplies: c.lostReplies.Load(), Delayed: c.delayed.Load(),
		Hung: c.hung.Load(), ClientGone: c.clientGone.Load(),
		S3OK: c.s3OK.Load(), S3NotFound: c.s3NotFound.Load(), S3Client: c.s3Client.Load(), S3Server: c.s3Server.Load(), S3Failed: c.s3Failed.Load(),
		Puts: c.puts.Load(), Gets: c.gets.Load(),
	}
}

// Close stops the proxy: the listener and every connection close, held
// requests are released unanswered.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.srv.Close()
	p.serving.Wait()
	p.transport.CloseIdleConnections()
}

// decision is what happens to one request.
type decision struct {
	fail  int // 0 forward, else one of the fail* below
	delay time.Duration
	code  string // of a 503
}

const (
	failNone = iota
	fail503
	failReset
	failLostReply
	failHang
)

func (p *FaultProxy) decide(r *http.Request) (decision, <-chan struct{}) {
	p.mu.Lock()
	f, changed := p.faults, p.changed
	p.mu.Unlock()
	if f.Match != nil && !f.Match(r) {
		return decision{}, changed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var d decision
	u, v, w := p.rng.Float64(), p.rng.Float64(), p.rng.Float64()
	d.code = "ServiceUnavailable"
	if w < 0.5 {
		d.code = "SlowDown"
	}
	switch {
	case f.Down:
		switch f.DownMode {
		case DownReset:
			d.fail = failReset
		case DownHang:
			d.fail = failHang
		default: // Down503; DownRefuse only reaches here in a race with SetFaults
			d.fail = fail503
		}
		return d, changed
	case u < f.ErrorRate:
		d.fail = fail503
	case u < f.ErrorRate+f.ResetRate:
		d.fail = failReset
	case u < f.ErrorRate+f.ResetRate+f.LostReplyRate:
		d.fail = failLostReply
	}
	if d.fail != fail503 && d.fail != failReset && v < f.DelayRate {
		d.delay = f.Delay
	}
	return d, changed
}

func (p *FaultProxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the whole body first: the server notices a client that gives up
	// (closes its connection) only once the body is consumed, and a held
	// request must see that.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.c.requests.Add(1)
	switch r.Method {
	case http.MethodPut:
		p.c.puts.Add(1)
	case http.MethodGet:
		p.c.gets.Add(1)
	}
	d, changed := p.decide(r)

	if d.fail == failHang {
		p.c.hung.Add(1)
		for d.fail == failHang {
			select {
			case <-r.Context().Done():
				p.c.clientGone.Add(1)
				return
			case <-p.done:
				return
			case <-changed:
				d, changed = p.decide(r) // S3 came back, or failed otherwise
			}
		}
	}
	if d.delay > 0 {
		p.c.delayed.Add(1)
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			p.c.clientGone.Add(1)
			return
		case <-p.done:
			t.Stop()
			return
		}
	}
	switch d.fail {
	case fail503:
		p.c.errors503.Add(1)
		p.answer503(w, r, d.code)
		return
	case failReset:
		p.c.resets.Add(1)
		reset(w)
		return
	}

	resp, err := p.forward(r, body)
	if err != nil {
		if r.Context().Err() != nil {
			p.c.clientGone.Add(1)
			return
		}
		p.c.s3Failed.Add(1)
		http.Error(w, "fault proxy: S3 unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		p.c.s3OK.Add(1)
	case resp.StatusCode == http.StatusNotFound:
		p.c.s3NotFound.Add(1)
	case resp.StatusCode < 500:
		p.c.s3Client.Add(1)
	default:
		p.c.s3Server.Add(1)
	}
	if d.fail == failLostReply {
		io.Copy(io.Discard, resp.Body) // let S3 finish; the answer goes nowhere
		p.c.lostReplies.Add(1)
		reset(w)
		return
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if !hopByHop(k) {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// forward sends r, with its body already read, to the target, keeping the
// Host the client signed.
func (p *FaultProxy) forward(r *http.Request, body []byte) (*http.Response, error) {
	p.c.forwarded.Add(1)
	u := *p.target
	u.Path = strings.TrimSuffix(p.target.Path, "/") + r.URL.Path
	u.RawPath = ""
	if r.URL.RawPath != "" {
		u.RawPath = strings.TrimSuffix(p.target.EscapedPath(), "/") + r.URL.RawPath
	}
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if !hopByHop(k) && k != "Expect" {
			out.Header[k] = vs
		}
	}
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	if len(body) == 0 {
		out.Body = http.NoBody
	}
	return p.transport.RoundTrip(out)
}

func hopByHop(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// answer503 writes an S3-style error, as S3 does when it sheds load.
func (p *FaultProxy) answer503(w http.ResponseWriter, r *http.Request, code string) {
	msg := "Please reduce your request rate."
	if code == "ServiceUnavailable" {
		msg = "The service is unavailable. Please retry."
	}
	id := fmt.Sprintf("faultproxy-%d", p.reqID.Add(1))
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>` + code + `</Code><Message>` + msg + `</Message><Resource>` +
		xmlEscape(r.URL.Path) + `</Resource><RequestId>` + id + `</RequestId></Error>`
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-amz-request-id", id)
	h.Set("Retry-After", "1")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// reset takes the connection from the server and closes it with SO_LINGER
// 0, so the client gets a TCP RST instead of an answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fault proxy: connection cannot be hijacked (HTTP/2?)")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
