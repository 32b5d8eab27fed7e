package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/coder/websocket"
)

// reply is the answer to one exchange. Over WebSocket an "error" message
// gets the HTTP status its code has in API.md, so both transports are
// handled alike.
type reply struct {
	status  int
	body    []byte // valid until the worker's next exchange
	retried bool   // the request went out twice (a stale keep-alive connection)
}

// transport is how a worker speaks to the server for a player.
type transport interface {
	login(w *worker, p *player, resume bool) (reply, error)
	actions(w *worker, p *player, acts []byte) (reply, error)
	player(w *worker, p *player, session string) (reply, error)
	logout(w *worker, p *player) (reply, error)
	// drop closes the player's own connection, if it has one.
	drop(p *player)
}

// httpTransport sends everything over the worker's keep-alive connection.
type httpTransport struct{}

func (httpTransport) login(w *worker, p *player, resume bool) (reply, error) {
	b := append(w.body[:0], `{"device_id":`...)
	b = appendString(b, p.device)
	b = append(b, `,"create":true}`...)
	w.body = b
	rep, err := w.do("POST", "/api/v1/auth/device", "", b)
	if err == nil && rep.status == http.StatusOK && p.playerID == "" {
		p.playerID = string(unquote(field(rep.body, "player_id")))
	}
	return rep, err
}

func (httpTransport) actions(w *worker, p *player, acts []byte) (reply, error) {
	b := append(w.body[:0], `{"actions":`...)
	b = append(b, acts...)
	b = append(b, '}')
	w.body = b
	return w.do("POST", "/api/v1/actions", p.session, b)
}

func (httpTransport) player(w *worker, p *player, session string) (reply, error) {
	return w.do("GET", "/api/v1/player", session, nil)
}

func (httpTransport) logout(w *worker, p *player) (reply, error) {
	return w.do("POST", "/api/v1/logout", p.session, []byte("{}"))
}

func (httpTransport) drop(p *player) {}

func (w *worker) do(method, path, auth string, body []byte) (reply, error) {
	status, resp, retried, err := w.http.do(method, path, auth, body)
	return reply{status: status, body: resp, retried: retried}, err
}

// wsTransport gives every online player its own WebSocket. A worker drives
// one exchange at a time on it: write the request, read until the answer,
// counting pushed events on the way. Nobody reads an idle socket; events
// wait in the kernel until the player's next step. State reads go over the
// worker's HTTP connection with the player's session: the WebSocket
// protocol has no "player" message.
type wsTransport struct {
	url    string
	client *http.Client
}

func (t *wsTransport) dial(w *worker, p *player) error {
	ctx, cancel := context.WithTimeout(w.r.abort, w.r.cfg.Timeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, t.url, &websocket.DialOptions{
		HTTPClient:      t.client,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			err = handshakeError{resp.StatusCode}
		}
		return fmt.Errorf("dial %s: %w", t.url, err)
	}
	c.SetReadLimit(maxBody)
	w.dials++
	p.ws = c
	return nil
}

func (t *wsTransport) drop(p *player) {
	if p.ws != nil {
		p.ws.CloseNow()
		p.ws = nil
	}
}

func (t *wsTransport) login(w *worker, p *player, resume bool) (reply, error) {
	if p.ws == nil {
		if err := t.dial(w, p); err != nil {
			return reply{}, err
		}
	}
	session := p.session
	if !resume || session == "" {
		// Sign in over HTTP (the socket only resumes sessions), then
		// log the socket in with the new session.
		rep, err := httpTransport{}.login(w, p, false)
		if err != nil || rep.status != http.StatusOK {
			return rep, err
		}
		session = string(unquote(field(rep.body, "session")))
	}
	b := append(w.body[:0], `{"type":"login","session":`...)
	b = appendString(b, session)
	b = append(b, '}')
	w.body = b
	return t.exchange(w, p, b, "login_ok")
}

func (t *wsTransport) actions(w *worker, p *player, acts []byte) (reply, error) {
	if p.ws == nil {
		return reply{}, errNoSocket
	}
	b := append(w.body[:0], `{"type":"actions","actions":`...)
	b = append(b, acts...)
	b = append(b, '}')
	w.body = b
	return t.exchange(w, p, b, "results")
}

func (t *wsTransport) player(w *worker, p *player, session string) (reply, error) {
	return httpTransport{}.player(w, p, session)
}

func (t *wsTransport) logout(w *worker, p *player) (reply, error) {
	if p.ws == nil {
		return httpTransport{}.logout(w, p)
	}
	defer t.drop(p)
	rep, err := t.exchange(w, p, []byte(`{"type":"logout"}`), "")
	// The server may answer, or just close the socket once the player is
	// saved; a normal close is a successful logout.
	if s := websocket.CloseStatus(err); s == websocket.StatusNormalClosure || s == websocket.StatusGoingAway {
		return reply{status: http.StatusOK, body: []byte("{}")}, nil
	}
	return rep, err
}

// handshakeError is a WebSocket upgrade the server refused.
type handshakeError struct{ status int }

func (e handshakeError) Error() string {
	return fmt.Sprintf("WebSocket handshake answered %d", e.status)
}

var (
	errNoSocket = errors.New("no WebSocket")
	errReplaced = errors.New("session replaced")
)

// exchange writes msg and reads until a message of type want ("" takes
// any answer), an error message, or a failure.
func (t *wsTransport) exchange(w *worker, p *player, msg []byte, want string) (reply, error) {
	ctx, cancel := context.WithTimeout(w.r.abort, w.r.cfg.Timeout)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.drop(p)
		return reply{}, err
	}
	for {
		_, rd, err := p.ws.Reader(ctx)
		if err != nil {
			t.drop(p)
			return reply{}, err
		}
		buf, err := readAllInto(rd, w.wsbuf[:0])
		w.wsbuf = buf
		if err != nil {
			t.drop(p)
			return reply{}, err
		}
		typ := unquote(field(buf, "type"))
		switch {
		case string(typ) == "event":
			kind := eventKind(buf)
			w.st.event(w.in.get(kind))
			if string(kind) == "replaced" {
				t.drop(p)
				return reply{}, errReplaced
			}
		case string(typ) == "error":
			code := parseError(buf)
			return reply{status: wsErrorStatus(code), body: buf}, nil
		case want == "" || string(typ) == want:
			return reply{status: http.StatusOK, body: buf}, nil
		default:
			// pong or something newer than this client: not our answer.
			w.st.event(w.in.get(append(append(w.key[:0], "message:"...), typ...)))
		}
	}
}

func eventKind(msg []byte) []byte {
	ev := field(msg, "event")
	if ev == nil {
		return nil
	}
	return unquote(field(ev, "kind"))
}

// wsErrorStatus maps an error code to its HTTP status in API.md.
func wsErrorStatus(code []byte) int {
	switch string(code) {
	case "bad_request":
		return http.StatusBadRequest
	case "unauthorized":
		return http.StatusUnauthorized
	case "not_found":
		return http.StatusNotFound
	case "player_busy":
		return http.StatusConflict
	case "too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limited":
		return http.StatusTooManyRequests
	case "unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func readAllInto(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) >= maxBody {
			return b, errProtocol
		}
		b = ensure(b, 4096)
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// errClass names a transport failure for the report.
func errClass(err error) string {
	var ne net.Error
	var he handshakeError
	switch {
	case errors.As(err, &he):
		return fmt.Sprintf("ws_handshake_%d", he.status)
	case errors.Is(err, context.Canceled):
		return "aborted"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case isReset(err):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_ports"
	case errors.Is(err, errProtocol), errors.Is(err, errSyntax):
		return "protocol"
	case errors.Is(err, errReplaced):
		return "replaced"
	case websocket.CloseStatus(err) != -1:
		return fmt.Sprintf("ws_close_%d", websocket.CloseStatus(err))
	}
	return "other"
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
