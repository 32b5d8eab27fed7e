package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"rampart/profiler"
	"rampart/state"
)

// WebSocket limits.
const (
	wsReadLimit    = 64 << 10
	wsSendQueue    = 64               // messages queued per connection before it counts as too slow
	wsWriteTimeout = 10 * time.Second // one message, or the close handshake
	wsPingEvery    = 30 * time.Second
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

// ws upgrades GET /api/v1/ws. The handler goroutine reads; one writer
// goroutine per connection writes everything, from a bounded queue.
func (s *Server) ws() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		s.wsUpgradeRow.Record(time.Since(t0))
		if err != nil {
			return // Accept has answered the client
		}
		c.SetReadLimit(wsReadLimit)
		ctx, cancel := context.WithCancel(context.Background())
		wc := &wsConn{s: s, c: c, ctx: ctx, cancel: cancel,
			send: make(chan []byte, wsSendQueue), quit: make(chan struct{}),
			log: s.cfg.Log.With("remote", r.RemoteAddr)}
		s.wsStats.Accepted.Add(1)
		s.wsStats.Open.Add(1)
		defer s.wsStats.Open.Add(-1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			wc.writeLoop()
		}()
		wc.readLoop()
		wc.shutdown(websocket.StatusNormalClosure, "")
		<-done
		if wc.authed {
			s.cfg.Store.Detach(wc.sess, wc)
		}
	})
}

// wsConn is one WebSocket. It implements state.Conn.
type wsConn struct {
	s      *Server
	c      *websocket.Conn
	ctx    context.Context // the connection's lifetime
	cancel context.CancelFunc
	log    *slog.Logger

	send chan []byte   // to the writer; never closed
	quit chan struct{} // closed once by shutdown

	closeOnce   sync.Once
	closeCode   websocket.StatusCode // set before quit closes
	closeReason string

	// Owned by the read loop.
	sess   state.Session
	authed bool
}

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
	wc.shutdown(websocket.StatusNormalClosure, reason)
}

func (wc *wsConn) enqueue(msg []byte) {
	select {
	case wc.send <- msg:
	default:
		wc.s.wsStats.SlowClosed.Add(1)
		wc.log.Warn("websocket client too slow; disconnecting", "queue", wsSendQueue)
		wc.shutdown(websocket.StatusPolicyViolation, "send queue full: client too slow")
	}
}

// shutdown asks the writer to flush what is queued and close with code.
func (wc *wsConn) shutdown(code websocket.StatusCode, reason string) {
	wc.closeOnce.Do(func() {
		wc.closeCode, wc.closeReason = code, reason
		close(wc.quit)
	})
}

func (wc *wsConn) writeLoop() {
	defer wc.cancel()
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	for {
		select {
		case msg := <-wc.send:
			if err := wc.write(msg); err != nil {
				wc.c.CloseNow()
				return
			}
		case <-ping.C:
			go func() {
				ctx, cancel := context.WithTimeout(wc.ctx, wsWriteTimeout)
				defer cancel()
				if err := wc.c.Ping(ctx); err != nil && wc.ctx.Err() == nil {
					wc.shutdown(websocket.StatusGoingAway, "ping timeout")
				}
			}()
		case <-wc.quit:
			for {
				select {
				case msg := <-wc.send:
					if wc.write(msg) != nil {
						wc.c.CloseNow()
						return
					}
					continue
				default:
				}
				break
			}
			wc.c.Close(wc.closeCode, wc.closeReason)
			return
		}
	}
}

func (wc *wsConn) write(msg []byte) error {
	ctx, cancel := context.WithTimeout(wc.ctx, wsWriteTimeout)
	defer cancel()
	return wc.c.Write(ctx, websocket.MessageText, msg)
}

// reply queues a reply to the client.
func (wc *wsConn) reply(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		wc.log.Error("encode websocket reply", "err", err)
		return
	}
	wc.enqueue(data)
}

// replyError sends an error message; the connection stays usable.
func (wc *wsConn) replyError(err error) {
	e := toError(err)
	if e.Status >= 500 {
		wc.log.Error("websocket request failed", "err", err)
	}
	wc.reply(wsError{Type: "error", Error: wsErrorBody{e.Code, e.Message}})
}

type wsError struct {
	Type  string      `json:"type"`
	Error wsErrorBody `json:"error"`
}

type wsErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
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

func (wc *wsConn) readLoop() {
	idle := wc.s.cfg.IdleTimeout
	for {
		ctx, cancel := context.WithTimeout(wc.ctx, idle)
		typ, data, err := wc.c.Read(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				wc.shutdown(websocket.StatusGoingAway, "idle timeout")
			}
			return // closed, too big (the library answered 1009) or broken
		}
		if typ != websocket.MessageText {
			wc.shutdown(websocket.StatusUnsupportedData, "messages are JSON text")
			return
		}
		t0 := time.Now()
		row := wc.handle(data)
		row.Record(time.Since(t0))
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
	switch typ {
	case "ping":
		wc.enqueue([]byte(`{"type":"pong"}`))
		return rows.ping
	case "login":
		wc.login(data)
		return rows.login
	case "actions":
		wc.actions(data)
		return rows.actions
	case "logout":
		wc.logout()
		return rows.logout
	}
	wc.replyError(&Error{http.StatusBadRequest, "unknown_type", "unknown message type " + quote(typ)})
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
	if req.Session != "" {
		res, err = store.Resume(wc.ctx, req.Session)
	} else {
		res, err = store.Login(wc.ctx, req.PlayerID)
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
	wc.s.cfg.Store.Detach(wc.sess, wc)
	if err := wc.s.cfg.Store.Logout(wc.ctx, wc.sess); err != nil {
		wc.s.cfg.Store.Attach(wc.sess, wc)
		wc.replyError(err)
		return
	}
	wc.authed = false
	wc.enqueue([]byte(`{"type":"logout_ok"}`))
	wc.shutdown(websocket.StatusNormalClosure, "logged out")
}

// loginReply is the login answer on both transports.
type loginReply struct {
	Type            string          `json:"type,omitempty"`
	Session         string          `json:"session"`
	Player          json.RawMessage `json:"player"`
	GamedataVersion string          `json:"gamedata_version"`
	ServerTime      int64           `json:"server_time"`
}
