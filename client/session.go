package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// Action is one game action to send. The session gives it its seq.
type Action struct {
	Name string
	// Args is the action's JSON object (ACTIONS.md); nil sends {}.
	Args json.RawMessage
}

// Act is shorthand for an Action with literal JSON arguments:
// Act("collect", `{"building_id":"b4"}`).
func Act(name, args string) Action { return Action{Name: name, Args: json.RawMessage(args)} }

// Result is the server's answer to one action. A failed action is not a Go
// error: OK is false and Code says why (ACTIONS.md).
type Result struct {
	Seq int64
	OK  bool
	// Duplicate: the seq had been applied before (a resend after a lost
	// reply); this is the stored result of that first time.
	Duplicate bool
	// Pending: the action is asynchronous; its result arrives later as an
	// event (WebSocket) and in Player.
	Pending bool
	Code    string          // the error code when !OK
	Message string          // the error message when !OK
	Value   json.RawMessage // the "result" object, if any; owned by the caller
}

// Err returns the action's failure as an *ActionError, or nil if it
// succeeded.
func (r Result) Err() error {
	if r.OK {
		return nil
	}
	return &ActionError{Seq: r.Seq, Code: r.Code, Message: r.Message}
}

// ActionError is a failed game action (a rule said no): see Result.Err.
type ActionError struct {
	Seq     int64
	Code    string
	Message string
}

func (e *ActionError) Error() string {
	return "action " + strconv.FormatInt(e.Seq, 10) + ": " + e.Code + ": " + e.Message
}

// Session is one signed-in player. Its calls are made one at a time (a
// call waits for the one in flight); Close, Events and DroppedEvents may
// be called at any time.
//
// A session numbers actions itself: strictly increasing seqs from the
// player's last_seq+1 at sign-in. A call that loses its reply is resent
// with the same seqs, so it is applied exactly once.
type Session struct {
	c         *Client
	transport Transport
	playerID  string // set at sign-in (by Resume before it returns), never changed after
	created   bool
	devID     string // the development door's player id, for a socket login with no session yet

	closed atomic.Bool

	mu sync.Mutex // one call at a time; guards the fields below
	// token is the session token and auth its Authorization header value.
	token, auth string
	refresh     string
	next        int64 // the seq the next action gets
	version     string
	serverTime  int64           // server_time of the latest reply that had one
	loginPlayer json.RawMessage // from the latest sign-in or resume, until taken

	ws *wsState // nil for HTTP sessions
}

// PlayerID is the player's id.
func (s *Session) PlayerID() string { return s.playerID }

// Created reports whether the sign-in made a new account. A sign-in resent
// after a lost reply may report false for the account its first copy made.
func (s *Session) Created() bool { return s.created }

// Transport is the transport the session sends its actions by.
func (s *Session) Transport() Transport { return s.transport }

// Token is the current session token (it changes with Refresh, and when a
// resume found the player logged out and signed it in afresh).
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// RefreshToken is the current refresh token; empty after the development
// door.
func (s *Session) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh
}

// NextSeq is the seq the next action will get.
func (s *Session) NextSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// GamedataVersion is the game data version of the latest reply; when it
// differs from the GameData held, fetch it again.
func (s *Session) GamedataVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// ServerTime is the server's clock (Unix ms) in the latest reply that
// carried it: a sign-in, a resume, an actions batch or Player. A client
// that predicts time-based effects brackets the server's clock with it.
func (s *Session) ServerTime() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serverTime
}

// TakeLoginPlayer returns the player document of the latest sign-in or
// resume and forgets it, so that an idle session does not keep it (about
// 3 KB for a mid-game base: a load generator with many sessions should
// take it, or drop it); nil if already taken.
func (s *Session) TakeLoginPlayer() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.loginPlayer
	s.loginPlayer = nil
	return p
}

// headers are the session's request headers. Session.mu is held.
func (s *Session) headers() headers { return headers{auth: s.auth, player: s.playerID} }

func (s *Session) setToken(token string) {
	if token != s.token {
		s.token, s.auth = token, "Bearer "+token
	}
}

// lock takes s.mu unless the session is closed.
func (s *Session) lock() error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Do sends actions as one batch and returns their results, in order.
// Over either transport the answer is the same. A failed action is a
// Result with OK false, not an error; an error means the batch got no
// answer (the server refused it, or retries were spent): its seqs may or
// may not have been applied, and later batches go on with higher seqs.
func (s *Session) Do(ctx context.Context, actions ...Action) ([]Result, error) {
	return s.DoAppend(ctx, nil, actions...)
}

// DoAppend is Do appending the results to dst, so a caller can reuse one
// slice.
func (s *Session) DoAppend(ctx context.Context, dst []Result, actions ...Action) ([]Result, error) {
	return s.do(ctx, dst, 0, actions)
}

// DoSeq sends actions as one batch with the seqs first, first+1, ...: a
// batch whose answer was lost on an earlier session (its server went
// away), resent on a new one with the same seqs, so that the seqs the
// server had applied answer their stored result with Duplicate and the
// others are applied now (API.md), each exactly once. Later batches go on
// above the highest seq sent. first must be positive.
func (s *Session) DoSeq(ctx context.Context, dst []Result, first int64, actions ...Action) ([]Result, error) {
	if first < 1 {
		return dst, fmt.Errorf("rampart client: do: seq %d is not positive", first)
	}
	return s.do(ctx, dst, first, actions)
}

// do sends a batch numbered from first, or from the session's next seq
// when first is 0.
func (s *Session) do(ctx context.Context, dst []Result, first int64, actions []Action) ([]Result, error) {
	if len(actions) == 0 {
		return dst, errors.New("rampart client: do: no actions")
	}
	if err := s.lock(); err != nil {
		return dst, err
	}
	defer s.mu.Unlock()
	if first == 0 {
		first = s.next
	}
	s.next = max(s.next, first+int64(len(actions)))

	buf := s.c.getBuf()
	defer s.c.putBuf(buf)
	b := *buf
	if s.ws != nil {
		b = append(b, `{"type":"actions","actions":`...)
	} else {
		b = append(b, `{"actions":`...)
	}
	b = appendActions(b, first, actions)
	b = append(b, '}')
	*buf = b

	var reply *[]byte
	var err error
	if s.ws != nil {
		reply, err = s.wsCall(ctx, b, "results")
	} else {
		reply, err = s.c.call(ctx, resendAlways, http.MethodPost, "/api/v1/actions", s.headers(), b)
	}
	if err != nil {
		return dst, fmt.Errorf("actions %d..%d: %w", first, first+int64(len(actions))-1, err)
	}
	defer s.c.putBuf(reply)
	n := len(dst)
	dst, meta, err := parseResults(*reply, dst, &s.c.version)
	if err == nil && len(dst)-n != len(actions) {
		err = fmt.Errorf("%d results for %d actions", len(dst)-n, len(actions))
	}
	if err != nil {
		return dst[:n], fmt.Errorf("actions %d..%d: %w: %v", first, first+int64(len(actions))-1, ErrProtocol, err)
	}
	s.noteReply(meta.version, meta.serverTime)
	return dst, nil
}

// noteReply keeps the game data version and the server time of a reply
// that carried them (either may be absent: "", 0). Session.mu is held.
func (s *Session) noteReply(version string, serverTime int64) {
	if version != "" {
		s.version = version
	}
	if serverTime != 0 {
		s.serverTime = serverTime
	}
}

// PlayerState is the answer of GET /api/v1/player.
type PlayerState struct {
	ID         string
	LastSeq    int64
	Resources  map[string]int64 // the base's resources
	ServerTime int64
	// Raw is the whole player document (API.md, state's public player).
	Raw json.RawMessage
}

// Player fetches the player's current state (over HTTP on either
// transport).
func (s *Session) Player(ctx context.Context) (PlayerState, error) {
	var ps PlayerState
	err := s.get(ctx, "player", "/api/v1/player", func(reply []byte) error {
		var v struct {
			Player          json.RawMessage `json:"player"`
			GamedataVersion string          `json:"gamedata_version"`
			ServerTime      int64           `json:"server_time"`
		}
		var p struct {
			ID      string `json:"id"`
			LastSeq int64  `json:"last_seq"`
			Base    struct {
				Res map[string]int64 `json:"res"`
			} `json:"base"`
		}
		if err := json.Unmarshal(reply, &v); err != nil {
			return err
		}
		if err := json.Unmarshal(v.Player, &p); err != nil {
			return err
		}
		s.next = max(s.next, p.LastSeq+1)
		s.noteReply(v.GamedataVersion, v.ServerTime)
		ps = PlayerState{ID: p.ID, LastSeq: p.LastSeq, Resources: p.Base.Res, ServerTime: v.ServerTime, Raw: v.Player}
		return nil
	})
	if err != nil {
		return PlayerState{}, err
	}
	return ps, nil
}

// get sends GET path with the session's token and hands the reply to
// decode, all under s.mu (decode may update the session); the reply's
// buffer is reused after decode returns. A decode error is ErrProtocol.
// what names the call in errors.
func (s *Session) get(ctx context.Context, what, path string, decode func(reply []byte) error) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	reply, err := s.c.call(ctx, resendAlways, http.MethodGet, path, s.headers(), nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer s.c.putBuf(reply)
	if err := decode(*reply); err != nil {
		return fmt.Errorf("%s: %w: %v", what, ErrProtocol, err)
	}
	return nil
}

// Logout saves the player durably and ends the session (and its refresh
// token); the session is closed afterwards whatever the outcome, except
// that a failure leaves the server-side session usable by a new Session
// (Client.Resume) to log out again.
func (s *Session) Logout(ctx context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	err := s.logoutLocked(ctx)
	s.mu.Unlock()
	s.Close()
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

func (s *Session) logoutLocked(ctx context.Context) error {
	if s.ws != nil {
		done, err := s.wsLogout(ctx)
		if done || err == nil {
			return err
		}
		// The socket failed before logout_ok: whether the logout happened
		// is unknown, and a resume would sign the player in again. Ask over
		// HTTP: a 401 means it did.
	}
	return s.c.retry(ctx, resendAlways, func(ctx context.Context, n int) error {
		r, err := s.c.roundTrip(ctx, resendAlways, http.MethodPost, "/api/v1/logout", s.headers(), []byte("{}"))
		if err == nil {
			s.c.putBuf(r.body)
			return nil
		}
		if errors.Is(err, ErrUnauthorized) && (n > 0 || s.ws != nil) {
			return nil // an earlier copy logged out; the session is spent
		}
		return err
	})
}

// Events is the channel of events pushed to a WebSocket session, in the
// order they came: async results, finished upgrades and trainings, raids,
// new game data, "replaced". Its capacity is WithEventBuffer's; an event
// that finds it full is dropped and counted (DroppedEvents), so a slow
// consumer never stalls the socket or the replies. It is closed by Close.
// HTTP sessions have no events, nor sessions of a Client with
// WithEventFunc: the channel is nil.
func (s *Session) Events() <-chan Event {
	if s.ws == nil {
		return nil
	}
	return s.ws.events
}

// DroppedEvents counts the events dropped because Events was full.
func (s *Session) DroppedEvents() int64 {
	if s.ws == nil {
		return 0
	}
	return s.ws.dropped.Load()
}

// Close ends the session on this side: the socket (if any) is closed and
// Events is closed once its reader has ended. The player stays online on
// the server until its idle timeout, and the token stays valid (another
// Session can Resume it). A call in flight returns ErrClosed or a network
// error. Close is idempotent.
func (s *Session) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.ws == nil {
		return nil
	}
	if cur := s.ws.cur.Load(); cur != nil {
		cur.close() // unblocks a call in flight
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ws.drop()
	if s.ws.events != nil {
		close(s.ws.events)
	}
	return nil
}

// Ping checks that the server answers: over a WebSocket a ping message
// (reconnecting and resuming first if the socket dropped), over HTTP
// GET /healthz.
func (s *Session) Ping(ctx context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.ws != nil {
		buf, err := s.wsCall(ctx, []byte(`{"type":"ping"}`), "pong")
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		s.c.putBuf(buf)
		return nil
	}
	buf, err := s.c.call(ctx, resendAlways, http.MethodGet, "/healthz", headers{player: s.playerID}, nil)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	s.c.putBuf(buf)
	return nil
}
