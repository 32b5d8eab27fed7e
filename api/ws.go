package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"rampart/profiler"
	"rampart/state"
	"rampart/state/push"
)

// WebSocket limits.
const (
	wsReadLimit    = 64 << 10
	wsSendQueue    = 32               // messages queued per connection before it counts as too slow
	wsWriteTimeout = 10 * time.Second // one message, or the close handshake
	wsPingEvery    = 30 * time.Second // default of Config.WSPingEvery
)

// WSStats counts WebSocket connections.
type WSStats struct {
	Open       atomic.Int64
	Accepted   atomic.Int64
	SlowClosed atomic.Int64 // cut off because their send queue filled
	Replaced   atomic.Int64 // closed because the player logged in elsewhere
}

// wsRows are the profiler rows of the socket's own message types.
type wsRows struct{ login, actions, logout, ping, unknown *profiler.Row }

// upgrader accepts every origin: sessions travel inside messages, never in
// cookies, so a cross-site page gains nothing by opening a socket. Writes
// borrow pooled buffers, so an idle connection holds none.
var upgrader = websocket.Upgrader{
	// A 1 KiB read buffer of its own instead of keeping net/http's 4 KiB
	// one: messages are small and are streamed into pooled buffers anyway.
	ReadBufferSize:  1024,
	WriteBufferPool: &sync.Pool{},
	CheckOrigin:     func(*http.Request) bool { return true },
}

// readBuffers hold one message while it is handled.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ws upgrades GET /api/v1/ws. Each connection then has a reader goroutine
// and, only while it has something to write, a writer (see flush): an idle
// socket costs one goroutine's stack. The HTTP handler returns at once, so
// net/http frees the request's buffers.
func (s *Server) ws() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		c, err := upgrader.Upgrade(w, r, nil)
		s.wsUpgradeRow.Record(time.Since(t0))
		if err != nil {
			return // Upgrade has answered the client
		}
		c.SetReadLimit(wsReadLimit)
		ctx, cancel := context.WithCancel(context.Background())
		wc := &wsConn{s: s, c: c, ctx: ctx, cancel: cancel, remote: r.RemoteAddr,
			req: &http.Request{RemoteAddr: r.RemoteAddr, Header: forwardingHeaders(r.Header)}}
		s.wsStats.Accepted.Add(1)
		s.wsStats.Open.Add(1)
		wc.lastMsg.Store(time.Now().UnixNano()) // quiet from the upgrade on
		wc.mu.Lock()
		wc.pinger = time.AfterFunc(s.cfg.WSPingEvery, wc.pingDue)
		wc.mu.Unlock()
		go func() {
			defer s.wsStats.Open.Add(-1)
			wc.readLoop()
			wc.shutdown(websocket.CloseNormalClosure, "")
			if wc.authed {
				s.cfg.Store.Detach(wc.sess, wc)
			}
		}()
	})
}

// wsConn is one WebSocket. It implements push.Conn.
type wsConn struct {
	s      *Server
	c      *websocket.Conn
	ctx    context.Context // the connection's lifetime: ends when the socket is closed
	cancel context.CancelFunc
	remote string // for logs; a per-socket logger would cost every idle socket

	mu          sync.Mutex // guards the fields below
	pinger      *time.Timer
	queue       [][]byte // messages for the writer, at most wsSendQueue
	ping        bool     // a ping is due
	writing     bool     // a flush goroutine is running
	quit        bool     // shutdown was called: the writer closes after the queue
	closed      bool     // the socket is closed: nothing more is written
	closeCode   int
	closeReason string

	// lastMsg is when the client last sent a message (Unix ns): a socket
	// with no message for the idle timeout is closed (pongs keep the TCP
	// connection known alive, not the player active).
	lastMsg atomic.Int64

	// Owned by the read loop.
	sess   state.Session
	authed bool
	// limited counts consecutive messages refused by the player's
	// budget; at wsMaxLimited the client is closed with 1008.
	limited int
	// req is the upgrade request, for the client address (sign-in budget).
	req *http.Request
}

// wsMaxLimited is how many messages in a row a client may send past its
// budget (each answered with an error rate_limited) before it is closed
// with 1008: it is not slowing down.
const wsMaxLimited = 3

var _ push.Conn = (*wsConn)(nil)

// Push implements push.Conn: queue an event without blocking; a client
// whose queue is full is too slow and is cut off.
func (wc *wsConn) Push(ev json.RawMessage) {
	msg := make([]byte, 0, len(ev)+26)
	msg = append(msg, `{"type":"event","event":`...)
	msg = append(msg, ev...)
	msg = append(msg, '}')
	wc.enqueue(msg)
}

// Close implements push.Conn.
func (wc *wsConn) Close(reason string) {
	if reason == push.Replaced {
		wc.s.wsStats.Replaced.Add(1)
	}
	wc.shutdown(websocket.CloseNormalClosure, reason)
}

// forwardingHeaders keeps of the upgrade request's headers the ones
// clientAddr reads, for the socket's lifetime: the whole header would cost
// every idle socket about a kilobyte.
func forwardingHeaders(h http.Header) http.Header {
	kept := http.Header{}
	for _, k := range []string{"Forwarded", "X-Forwarded-For"} {
		if v := h.Values(k); len(v) > 0 {
			kept[k] = slices.Clone(v)
		}
	}
	return kept
}

// enqueue queues msg for the writer, starting one if none runs. A client
// whose queue is full is too slow and is cut off.
func (wc *wsConn) enqueue(msg []byte) {
	wc.mu.Lock()
	if wc.quit || wc.closed {
		wc.mu.Unlock()
		return // the socket is closing: what comes after the close is dropped
	}
	if len(wc.queue) >= wsSendQueue {
		// A client cut off for being too slow gets its close frame next,
		// not after the queue it could not read: otherwise it would see
		// the connection drop (1006), not 1008.
		clear(wc.queue)
		wc.queue = wc.queue[:0]
		wc.mu.Unlock()
		wc.s.wsStats.SlowClosed.Add(1)
		wc.logger().Warn("websocket client too slow; disconnecting", "queue", wsSendQueue)
		wc.shutdown(websocket.ClosePolicyViolation, "send queue full: client too slow")
		return
	}
	wc.queue = append(wc.queue, msg)
	wc.wakeLocked()
}

// wakeLocked starts the writer unless it runs; it unlocks wc.mu.
func (wc *wsConn) wakeLocked() {
	start := !wc.writing && !wc.closed
	wc.writing = wc.writing || start
	wc.mu.Unlock()
	if start {
		go wc.flush()
	}
}

// shutdown asks the writer to write what is queued and close with code.
func (wc *wsConn) shutdown(code int, reason string) {
	wc.mu.Lock()
	if wc.quit {
		wc.mu.Unlock()
		return
	}
	wc.quit, wc.closeCode, wc.closeReason = true, code, reason
	wc.wakeLocked()
}

// pingDue runs on the ping timer: an idle client is closed, a quiet one
// pinged, and the timer set again.
func (wc *wsConn) pingDue() {
	quiet := time.Since(time.Unix(0, wc.lastMsg.Load()))
	if quiet > wc.s.cfg.IdleTimeout {
		wc.shutdown(websocket.CloseGoingAway, "idle timeout")
		return
	}
	wc.mu.Lock()
	if wc.quit || wc.closed {
		wc.mu.Unlock()
		return
	}
	ping, next := pingPlan(quiet, wc.s.cfg.WSPingEvery)
	wc.pinger.Reset(next)
	if !ping {
		wc.mu.Unlock()
		return
	}
	wc.ping = true
	wc.wakeLocked()
}

// pingPlan says whether a socket whose client last sent a message quiet
// ago is pinged now, and when its timer fires next. One that sent a
// message within the last interval is not pinged: its message proved the
// connection and moved the read deadline as a pong would, and a playing
// client is spared a ping (a write, and a pong to read) every interval.
// Its timer then fires when it will have been quiet for an interval, so a
// client that falls silent is pinged an interval after its last message,
// as when every socket was pinged every interval: the pong has an interval
// and the write timeout to arrive before pongWait runs out.
func pingPlan(quiet, every time.Duration) (ping bool, next time.Duration) {
	if quiet < every {
		return false, every - quiet
	}
	return true, every
}

// pongWait is how long a socket pinged every every may stay silent, no
// message and no pong, before it counts as gone: two intervals (the ping
// an interval after its last frame, and one more) and the write timeout.
func pongWait(every time.Duration) time.Duration { return 2*every + wsWriteTimeout }

// flush is the writer: the one goroutine that writes on the socket —
// messages, pings and the close — while there is something to write; it
// exits when the queue is empty. After shutdown it writes the close frame
// and closes the socket.
func (wc *wsConn) flush() {
	var batch [][]byte
	for {
		wc.mu.Lock()
		batch, wc.queue = wc.queue, batch[:0]
		ping, quit := wc.ping, wc.quit
		wc.ping = false
		if len(batch) == 0 && !ping && !quit {
			wc.writing = false
			wc.mu.Unlock()
			return
		}
		wc.mu.Unlock()
		for i, msg := range batch {
			batch[i] = nil
			if wc.write(msg) != nil {
				wc.teardown()
				return
			}
		}
		if ping && wc.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)) != nil {
			wc.teardown()
			return
		}
		if quit {
			wc.mu.Lock()
			more := len(wc.queue) > 0
			wc.mu.Unlock()
			if more {
				continue // queued before the shutdown: written first
			}
			wc.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(wc.closeCode, wc.closeReason),
				time.Now().Add(wsWriteTimeout))
			wc.teardown()
			return
		}
	}
}

// teardown closes the socket (which ends the read loop) and the
// connection's context; the writer calls it once, as it exits for good.
func (wc *wsConn) teardown() {
	wc.mu.Lock()
	wc.closed, wc.quit, wc.queue = true, true, nil
	wc.pinger.Stop()
	wc.mu.Unlock()
	wc.cancel()
	wc.c.Close()
}

func (wc *wsConn) write(msg []byte) error {
	wc.c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return wc.c.WriteMessage(websocket.TextMessage, msg)
}

// reply queues a reply to the client.
func (wc *wsConn) reply(v any) {
	data, err := marshal(v)
	if err != nil {
		wc.logger().Error("encode websocket reply", "err", err)
		return
	}
	wc.enqueue(data)
}

// replyError sends an error message; the connection stays usable.
func (wc *wsConn) replyError(err error) {
	e := toError(err)
	if e.Status >= 500 {
		wc.logger().Error("websocket request failed", "err", err)
	}
	wc.reply(wsError{Type: "error", Error: e.body()})
}

type wsError struct {
	Type  string    `json:"type"`
	Error errorBody `json:"error"`
}

// wsMessage is the part every client message shares.
type wsMessage struct {
	Type string `json:"type"`
}

// decodeWSMessage reads a message's type and, when it is an actions
// message of parseActions's shape, its actions, decoded from a copy of
// data (they slice it; data is a pooled buffer): one pass over the
// message instead of encoding/json's for the type and the hand decoder's
// for the actions. Anything else is decodeWSType's, acts nil.
func decodeWSMessage(data []byte) (typ string, acts []state.Action, err error) {
	if bytes.Contains(data, []byte(`"actions"`)) {
		c := bytes.Clone(data)
		if typ, acts, ok := parseActions(bytes.TrimSpace(c)); ok && typ != "" {
			if typ != "actions" {
				acts = nil
			}
			return typ, acts, nil
		}
	}
	typ, err = decodeWSType(data)
	return typ, nil, err
}

// decodeWSType reads a message's type, answering 400 for anything that is
// not a JSON object with a string type.
func decodeWSType(data []byte) (string, error) {
	var m wsMessage
	if err := unmarshal(data, &m); err != nil {
		return "", err
	}
	if m.Type == "" {
		return "", errBadRequest("type is required")
	}
	return m.Type, nil
}

// readLoop reads until the client closes, breaks the protocol, stops
// answering pings or the writer ends the connection.
func (wc *wsConn) readLoop() {
	wait := pongWait(wc.s.cfg.WSPingEvery)
	wc.c.SetReadDeadline(time.Now().Add(wait))
	wc.c.SetPongHandler(func(string) error {
		return wc.c.SetReadDeadline(time.Now().Add(wait))
	})
	for {
		typ, r, err := wc.c.NextReader()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				wc.shutdown(websocket.CloseGoingAway, "no pong: connection lost")
			} else if errors.Is(err, websocket.ErrReadLimit) {
				wc.shutdown(websocket.CloseMessageTooBig, "message over 64 KiB")
			}
			return // closed, broken or a protocol error (answered by the library)
		}
		now := time.Now()
		wc.lastMsg.Store(now.UnixNano())
		wc.c.SetReadDeadline(now.Add(wait))
		if typ != websocket.TextMessage {
			wc.shutdown(websocket.CloseUnsupportedData, "messages are JSON text")
			return
		}
		buf := readBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		if err != nil {
			readBuffers.Put(buf)
			if errors.Is(err, websocket.ErrReadLimit) {
				wc.shutdown(websocket.CloseMessageTooBig, "message over 64 KiB")
			}
			return
		}
		t0 := time.Now()
		row := wc.handle(buf.Bytes())
		row.Record(time.Since(t0))
		if buf.Cap() <= 16<<10 {
			readBuffers.Put(buf)
		}
	}
}

// handle runs one client message and returns the profiler row it counts in.
func (wc *wsConn) handle(data []byte) *profiler.Row {
	rows := &wc.s.wsRows
	typ, acts, err := decodeWSMessage(data)
	if err != nil {
		wc.replyError(err)
		return rows.unknown
	}
	if wc.authed {
		// One budget for HTTP requests and WebSocket messages: past it
		// nothing in the message is applied.
		if ok, after := wc.s.cfg.Store.Allow(wc.sess); !ok {
			wc.s.signins.LimitedPlayer.Add(1)
			wc.limited++
			wc.replyError(errRateLimited("too many messages for this player; slow down", after))
			if wc.limited >= wsMaxLimited {
				wc.shutdown(websocket.ClosePolicyViolation, "rate limit exceeded")
			}
			return rows.unknown
		}
		wc.limited = 0
	}
	switch typ {
	case "ping":
		wc.enqueue([]byte(`{"type":"pong"}`))
		return rows.ping
	case "login":
		onFreshStack(func() { wc.login(data) })
		return rows.login
	case "actions":
		wc.actions(data, acts)
		return rows.actions
	case "logout":
		onFreshStack(wc.logout)
		return rows.logout
	}
	wc.replyError(&Error{Status: http.StatusBadRequest, Code: "unknown_type", Message: "unknown message type " + quote(typ)})
	return rows.unknown
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func (wc *wsConn) login(data []byte) {
	req, err := decodeLogin(data)
	if err != nil {
		wc.replyError(err)
		return
	}
	store := wc.s.cfg.Store
	var res state.LoginResult
	if err := wc.s.allowAddr(wc.req); err != nil {
		wc.replyError(err)
		return
	}
	if req.Session != "" {
		res, err = store.Resume(wc.ctx, req.Session)
	} else {
		res, err = wc.s.loginDev(wc.req.WithContext(wc.ctx), req.PlayerID)
	}
	if err != nil {
		wc.replyError(err)
		return
	}
	sess, err := store.Authenticate(res.Session)
	if err == nil {
		err = store.Attach(sess, wc)
	}
	if err != nil {
		wc.replyError(err)
		return
	}
	if wc.authed && wc.sess != sess {
		store.Detach(wc.sess, wc)
	}
	wc.sess, wc.authed = sess, true
	wc.reply(loginReply{Type: "login_ok", Session: res.Session, Player: res.Player,
		GamedataVersion: wc.s.cfg.GameData.Current().Version, ServerTime: wc.s.cfg.Now().UnixMilli()})
}

// actions runs an actions message: acts, when decodeWSMessage decoded
// them, else decoded from data here.
func (wc *wsConn) actions(data []byte, acts []state.Action) {
	if !wc.authed {
		wc.replyError(errUnauthorized)
		return
	}
	var batch []state.Action
	var err error
	if acts != nil {
		batch, err = checkActions(acts)
	} else {
		// The actions' args slice what they were decoded from, and data
		// is a pooled read buffer that the next message overwrites.
		batch, err = decodeActions(bytes.Clone(data))
	}
	if err != nil {
		wc.replyError(err)
		return
	}
	reply, err := wc.s.dispatch(wc.sess, batch)
	if err != nil {
		wc.replyError(err)
		return
	}
	reply.Type = "results"
	wc.reply(reply)
}

func (wc *wsConn) logout() {
	if !wc.authed {
		wc.replyError(errUnauthorized)
		return
	}
	// Detach first: the logout must not close the socket before logout_ok.
	gen, err := wc.s.revoke(wc.req.WithContext(wc.ctx), wc.sess.PlayerID())
	if err != nil {
		wc.replyError(err)
		return
	}
	wc.s.cfg.Store.Detach(wc.sess, wc)
	if err := wc.s.cfg.Store.Logout(wc.ctx, wc.sess, gen); err != nil {
		wc.s.cfg.Store.Attach(wc.sess, wc)
		wc.replyError(err)
		return
	}
	wc.authed = false
	wc.enqueue([]byte(`{"type":"logout_ok"}`))
	wc.shutdown(websocket.CloseNormalClosure, "logged out")
}

// loginReply is the login answer on both transports.
type loginReply struct {
	Type            string          `json:"type,omitempty"`
	Session         string          `json:"session"`
	Player          json.RawMessage `json:"player"`
	GamedataVersion string          `json:"gamedata_version"`
	ServerTime      int64           `json:"server_time"`
}

func (wc *wsConn) logger() *slog.Logger { return wc.s.cfg.Log.With("remote", wc.remote) }

// onFreshStack runs f on a goroutine of its own and waits for it. Login
// and logout go deep (S3 through the SDK); run on the reader, they would
// grow its stack for the socket's whole idle life.
func onFreshStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
