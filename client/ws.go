package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Event is one message the server pushed to a WebSocket session.
type Event struct {
	// Kind is "async_result", "upgrade_done", "training_done", "raided",
	// "gamedata", "replaced", or a kind newer than this package.
	Kind string
	// Raw is the whole event object, {"kind": ..., ...}; owned by the
	// receiver.
	Raw json.RawMessage
}

// wsState is a WebSocket session's socket side. The socket is dialled
// lazily by the first call that needs it, and again by the first call
// after it dropped: that call resumes the session ({"type":"login",
// "session"}) and then resends what it was sending.
type wsState struct {
	events     chan Event // written only by the reader of conn; closed by Session.Close after the last reader ended; nil with WithEventFunc
	dropped    atomic.Int64
	unexpected atomic.Int64 // messages no call waited for

	conn *wsConn                // the current socket, nil if none; guarded by Session.mu
	cur  atomic.Pointer[wsConn] // conn, for Close to reach without Session.mu
}

// wsConn is one socket. Its reader goroutine is started by dial and ends
// when the socket fails or is closed; whoever replaces or drops the
// socket waits for that end, so at most one reader of a session runs.
type wsConn struct {
	c       *websocket.Conn
	token   string        // the session it logged in with; guarded by Session.mu
	replies chan *[]byte  // cap 1: the answer to the call in flight (a pooled buffer); written by the reader
	done    chan struct{} // closed when the reader ends
	err     error         // why the reader ended; written before done closes

	timer *time.Timer // the call in flight's timeout, reused; used under Session.mu

	replaced  atomic.Bool // a "replaced" event came: a newer sign-in took the player
	closeOnce sync.Once
}

func newWSState(buffer int, fn func(*Session, Event)) *wsState {
	if fn != nil {
		return &wsState{}
	}
	return &wsState{events: make(chan Event, buffer)}
}

// close sends a normal close and closes the socket; the reader then ends.
func (wc *wsConn) close() {
	wc.closeOnce.Do(func() {
		wc.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		wc.c.Close()
	})
}

// drop closes the current socket, if any, and waits for its reader.
// Session.mu is held (or the session is closed and no call runs).
func (st *wsState) drop() {
	if wc := st.conn; wc != nil {
		wc.close()
		<-wc.done
		st.conn = nil
		st.cur.Store(nil)
	}
}

// read is the socket's reader: replies go to the call in flight, events to
// the events channel, neither ever blocks. It owns no state but wc's
// reply buffers and st's counters.
func (wc *wsConn) read(c *Client, st *wsState, s *Session) {
	defer close(wc.done)
	defer wc.c.Close()
	for {
		typ, r, err := wc.c.NextReader()
		if err != nil {
			wc.err = err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		buf := c.getBuf()
		*buf, err = readAll(r, *buf, -1)
		if err != nil {
			c.putBuf(buf)
			wc.err = err
			return
		}
		if string(unquote(field(*buf, "type"))) == "event" {
			wc.event(c, st, s, *buf)
			c.putBuf(buf)
			continue
		}
		select {
		case wc.replies <- buf:
		default:
			st.unexpected.Add(1)
			c.putBuf(buf)
		}
	}
}

func (wc *wsConn) event(c *Client, st *wsState, s *Session, msg []byte) {
	raw := field(msg, "event")
	kind := eventKind(unquote(field(raw, "kind")))
	if kind == "replaced" {
		wc.replaced.Store(true)
	}
	if c.eventFunc != nil {
		c.eventFunc(s, Event{Kind: kind, Raw: raw})
		return
	}
	select {
	case st.events <- Event{Kind: kind, Raw: bytes.Clone(raw)}:
	default:
		st.dropped.Add(1)
		c.stats.dropped.Add(1)
	}
}

func eventKind(b []byte) string {
	switch string(b) {
	case "async_result":
		return "async_result"
	case "upgrade_done":
		return "upgrade_done"
	case "training_done":
		return "training_done"
	case "raided":
		return "raided"
	case "gamedata":
		return "gamedata"
	case "replaced":
		return "replaced"
	}
	return string(b)
}

// wsCall sends msg over the socket and returns the reply of type want (a
// pooled buffer), reconnecting, resuming and resending as needed.
// Session.mu is held.
func (s *Session) wsCall(ctx context.Context, msg []byte, want string) (*[]byte, error) {
	var reply *[]byte
	err := s.c.retry(ctx, resendAlways, func(ctx context.Context, _ int) error {
		wc, err := s.wsEnsure(ctx)
		if err != nil {
			return err
		}
		reply, err = s.wsExchange(ctx, wc, msg, want)
		return err
	})
	return reply, err
}

// wsEnsure returns a live, logged-in socket, dialling and logging in (a
// resume once the session has a token) if there is none. Session.mu is
// held.
func (s *Session) wsEnsure(ctx context.Context) (*wsConn, error) {
	st := s.ws
	if wc := st.conn; wc != nil {
		select {
		case <-wc.done:
			st.conn = nil
			st.cur.Store(nil)
			if wc.replaced.Load() && wc.token == s.token {
				return nil, ErrReplaced
			}
		default:
			return wc, nil
		}
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	dctx, cancel := context.WithTimeout(ctx, s.c.timeout)
	defer cancel()
	u := s.c.wsURL
	h := http.Header{"User-Agent": {s.c.userAgent}}
	if s.playerID != "" {
		// The balancer of a cluster hashes on the player: the upgrade
		// names it, as the query and as the header of HTTP requests.
		u += "?player=" + url.QueryEscape(s.playerID)
		h[PlayerHeader] = []string{s.playerID}
	}
	conn, resp, err := s.c.dialer.DialContext(dctx, u, h)
	if err != nil {
		if resp != nil {
			return nil, handshakeError(resp)
		}
		return nil, &netError{fmt.Errorf("dial %s: %w", s.c.wsURL, err)}
	}
	s.c.stats.wsDials.Add(1)
	conn.SetReadLimit(maxReply)
	wc := &wsConn{c: conn, replies: make(chan *[]byte, 1), done: make(chan struct{}), timer: time.NewTimer(time.Hour)}
	wc.timer.Stop()
	st.conn = wc
	st.cur.Store(wc)
	go wc.read(s.c, st, s)
	if s.closed.Load() { // Close ran meanwhile and may have missed wc
		st.drop()
		return nil, ErrClosed
	}

	buf := s.c.getBuf()
	defer s.c.putBuf(buf)
	b := append(*buf, `{"type":"login",`...)
	if s.token != "" {
		b = appendString(append(b, `"session":`...), s.token)
	} else {
		b = appendString(append(b, `"player_id":`...), s.devID)
	}
	b = append(b, '}')
	*buf = b
	s.c.stats.wsLogins.Add(1)
	reply, err := s.wsExchange(ctx, wc, b, "login_ok")
	if err != nil {
		st.drop() // a socket that is not logged in is of no use
		return nil, fmt.Errorf("websocket login: %w", err)
	}
	defer s.c.putBuf(reply)
	lr, err := parseLogin(*reply, &s.c.version)
	if err != nil {
		st.drop()
		return nil, fmt.Errorf("websocket login: %w: %v", ErrProtocol, err)
	}
	s.applyLogin(lr)
	wc.token = s.token
	return wc, nil
}

// handshakeError is a refused upgrade, as an *Error.
func handshakeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var ok bool
	if resp.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		e.Code, e.Message, ok = parseError(body)
	}
	if !ok {
		e.Code, e.Message = statusCode(resp.StatusCode), "websocket handshake answered "+resp.Status
	}
	return e
}

// wsExchange writes msg on wc and waits for the reply of type want. An
// "error" message is returned as an *Error and leaves the socket usable;
// anything that leaves the socket in doubt (a write or read failure, a
// timeout, ctx ending) drops it, so that a late reply can never be taken
// for the next call's. Session.mu is held.
func (s *Session) wsExchange(ctx context.Context, wc *wsConn, msg []byte, want string) (*[]byte, error) {
	st := s.ws
	select { // a stray message left from before: not ours
	case stale := <-wc.replies:
		st.unexpected.Add(1)
		s.c.putBuf(stale)
	default:
	}
	wc.c.SetWriteDeadline(time.Now().Add(s.c.timeout))
	if err := wc.c.WriteMessage(websocket.TextMessage, msg); err != nil {
		st.drop()
		return nil, s.wsLost(wc, fmt.Errorf("websocket write: %w", err))
	}
	// Since Go 1.23 a Reset timer never delivers a stale tick.
	wc.timer.Reset(s.c.timeout)
	defer wc.timer.Stop()
	for {
		var buf *[]byte
		select {
		case buf = <-wc.replies:
		case <-wc.done:
			select { // the reply came just before the socket closed
			case buf = <-wc.replies:
			default:
				st.drop()
				return nil, s.wsLost(wc, fmt.Errorf("websocket read: %w", wc.err))
			}
		case <-wc.timer.C:
			st.drop()
			return nil, &netError{fmt.Errorf("websocket: no %s within %s", want, s.c.timeout)}
		case <-ctx.Done():
			st.drop()
			return nil, ctx.Err()
		}
		switch typ := string(unquote(field(*buf, "type"))); typ {
		case want:
			return buf, nil
		case "error":
			code, message, _ := parseError(*buf)
			s.c.putBuf(buf)
			if code == "unauthorized" && wc.replaced.Load() && wc.token == s.token {
				// The replaced event came first; the server refused a
				// message that crossed it.
				return nil, ErrReplaced
			}
			return nil, &Error{Status: codeStatus(code), Code: code, Message: message}
		default: // a reply of a newer protocol, or a pong nobody asked for
			st.unexpected.Add(1)
			s.c.putBuf(buf)
		}
	}
}

// wsLost names why wc ended: replaced by a newer sign-in (final), closed by
// us (final), or lost (resend).
func (s *Session) wsLost(wc *wsConn, err error) error {
	switch {
	case wc.replaced.Load() && wc.token == s.token:
		return ErrReplaced
	case s.closed.Load():
		return ErrClosed
	}
	return &netError{err}
}

// wsLogout logs out over the socket if one is up. done is false when
// the outcome is unknown (no socket, or it failed, or the server asked to
// retry): the caller then logs out over HTTP. Session.mu is held.
func (s *Session) wsLogout(ctx context.Context) (done bool, err error) {
	wc := s.ws.conn
	if wc == nil {
		return false, nil
	}
	select {
	case <-wc.done:
		return false, nil
	default:
	}
	reply, err := s.wsExchange(ctx, wc, []byte(`{"type":"logout"}`), "logout_ok")
	if err == nil {
		s.c.putBuf(reply)
		s.ws.drop()
		return true, nil
	}
	var ne *netError
	if _, again := retryable(err); again || errors.As(err, &ne) {
		return false, nil
	}
	return true, err
}
