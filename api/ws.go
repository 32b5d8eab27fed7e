package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"rampart/profiler"
	"rampart/state"
)

// WebSocket limits.
const (
	wsReadLimit    = 64 << 10
	wsSendQueue    = 32               // messages queued per connection before it counts as too slow
	wsWriteTimeout = 10 * time.Second // one message, or the close handshake
	wsPingEvery    = 30 * time.Second
	wsPongWait     = 2*wsPingEvery + wsWriteTimeout // a peer silent this long (no pong either) is gone
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

// ws upgrades GET /api/v1/ws. Each connection then has a reader and a
// writer goroutine and no other: the HTTP handler returns at once, so
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
		wc := &wsConn{s: s, c: c, ctx: ctx, cancel: cancel,
			send: make(chan []byte, wsSendQueue), quit: make(chan struct{}), remote: r.RemoteAddr,
			req: &http.Request{RemoteAddr: r.RemoteAddr, Header: r.Header.Clone()}}
		s.wsStats.Accepted.Add(1)
		s.wsStats.Open.Add(1)
		go wc.writeLoop()
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

// wsConn is one WebSocket. It implements state.Conn.
type wsConn struct {
	s      *Server
	c      *websocket.Conn
	ctx    context.Context // the connection's lifetime: ends when the writer exits
	cancel context.CancelFunc
	remote string // for logs; a per-socket logger would cost every idle socket

	send chan []byte   // to the writer; never closed
	quit chan struct{} // closed once by shutdown

	closeOnce   sync.Once
	closeCode   int // set before quit closes
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

var _ state.Conn = (*wsConn)(nil)

// Push implements state.Conn: queue an event without blocking; a client
// whose queue is full is too slow and is cut off.
func (wc *wsConn) Push(ev json.RawMessage) {
	msg := make([]byte, 0, len(ev)+26)
	msg = append(msg, `{"type":"event","event":`...)
	msg = append(msg, ev...)
	msg = append(msg, '}')
	wc.enqueue(msg)
}

// Close implements state.Conn.
func (wc *wsConn) Close(reason string) {
	if reason == state.EventReplaced {
		wc.s.wsStats.Replaced.Add(1)
	}
	wc.shutdown(websocket.CloseNormalClosure, reason)
}

func (wc *wsConn) enqueue(msg []byte) {
	select {
	case wc.send <- msg:
	default:
		wc.s.wsStats.SlowClosed.Add(1)
		wc.logger().Warn("websocket client too slow; disconnecting", "queue", wsSendQueue)
		wc.shutdown(websocket.ClosePolicyViolation, "send queue full: client too slow")
	}
}

// shutdown asks the writer to flush what is queued and close with code.
func (wc *wsConn) shutdown(code int, reason string) {
	wc.closeOnce.Do(func() {
		wc.closeCode, wc.closeReason = code, reason
		close(wc.quit)
	})
}

// writeLoop owns every write on the socket: messages, pings and the close.
func (wc *wsConn) writeLoop() {
	defer wc.cancel()
	defer wc.c.Close()
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	for {
		select {
		case msg := <-wc.send:
			if wc.write(msg) != nil {
				return
			}
		case now := <-ping.C:
			if now.Sub(time.Unix(0, wc.lastMsg.Load())) > wc.s.cfg.IdleTimeout {
				wc.shutdown(websocket.CloseGoingAway, "idle timeout")
				continue
			}
			if wc.c.WriteControl(websocket.PingMessage, nil, now.Add(wsWriteTimeout)) != nil {
				return
			}
		case <-wc.quit:
			// A client cut off for being too slow gets its close frame
			// now, not after the queue it could not read: otherwise it
			// would see the connection drop (1006), not 1008.
			for wc.closeCode != websocket.ClosePolicyViolation {
				select {
				case msg := <-wc.send:
					if wc.write(msg) != nil {
						return
					}
					continue
				default:
				}
				break
			}
			wc.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(wc.closeCode, wc.closeReason),
				time.Now().Add(wsWriteTimeout))
			return
		}
	}
}

func (wc *wsConn) write(msg []byte) error {
	wc.c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return wc.c.WriteMessage(websocket.TextMessage, msg)
}

// reply queues a reply to the client.
func (wc *wsConn) reply(v any) {
	data, err := json.Marshal(v)
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
	wc.lastMsg.Store(time.Now().UnixNano())
	wc.c.SetReadDeadline(time.Now().Add(wsPongWait))
	wc.c.SetPongHandler(func(string) error {
		return wc.c.SetReadDeadline(time.Now().Add(wsPongWait))
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
		wc.c.SetReadDeadline(now.Add(wsPongWait))
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
	typ, err := decodeWSType(data)
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
		wc.actions(data)
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

func (wc *wsConn) actions(data []byte) {
	if !wc.authed {
		wc.replyError(errUnauthorized)
		return
	}
	batch, err := decodeActions(data)
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
