package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// loginReply is what every sign-in route (and the socket's login_ok)
// answers. player points into the reply buffer.
type loginReply struct {
	session, refresh, playerID, version string
	created                             bool
	player                              []byte
	lastSeq                             int64
	serverTime                          int64
}

// parseLogin scans a sign-in reply.
func parseLogin(b []byte, vc *versionCache) (loginReply, error) {
	var r loginReply
	var s scanner
	s.reset(b)
	if !s.open('{') {
		return r, s.err
	}
	for s.more('}') {
		switch string(s.key()) {
		case "session":
			r.session = jsonString(s.str())
		case "refresh":
			r.refresh = jsonString(s.str())
		case "player_id":
			r.playerID = jsonString(s.str())
		case "created":
			r.created = s.bool()
		case "gamedata_version":
			r.version = vc.get(s.str())
		case "server_time":
			r.serverTime = s.int()
		case "player":
			r.player = s.skip()
		default:
			s.skip()
		}
	}
	if s.err != nil {
		return r, s.err
	}
	if r.session == "" || r.player == nil {
		return r, fmt.Errorf("sign-in reply without session or player")
	}
	var p scanner
	p.reset(r.player)
	if p.open('{') {
		for p.more('}') {
			switch string(p.key()) {
			case "id":
				if r.playerID == "" {
					r.playerID = jsonString(p.str())
				} else {
					p.skip()
				}
			case "last_seq":
				r.lastSeq = p.int()
			default:
				p.skip()
			}
		}
	}
	return r, p.err
}

// applyLogin takes in what a sign-in or resume answered. Session.mu is
// held (or s is not shared yet).
func (s *Session) applyLogin(r loginReply) {
	s.setToken(r.session)
	if r.refresh != "" {
		s.refresh = r.refresh
	}
	s.next = max(s.next, r.lastSeq+1)
	s.noteReply(r.version, r.serverTime)
	s.loginPlayer = bytes.Clone(r.player)
}

func (c *Client) newSession(t Transport) *Session {
	s := &Session{c: c, transport: t, next: 1}
	if t == WebSocket {
		s.ws = newWSState(c.eventBuf, c.eventFunc)
	}
	return s
}

// SignInOption adjusts a sign-in.
type SignInOption func(*signInOptions)

type signInOptions struct {
	player string // the player id the caller expects, for PlayerHeader
}

// KnownPlayer tells a sign-in the player id the caller already knows (a
// returning player's, from its last session): the sign-in request then
// carries PlayerHeader, so that a load balancer hashing on it sends the
// player to the server that owns it. The id the server answers is the
// session's either way.
func KnownPlayer(id string) SignInOption { return func(o *signInOptions) { o.player = id } }

func signInOpts(opts []SignInOption) signInOptions {
	var o signInOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// signIn posts a sign-in body to path and makes the session of the reply.
// A sign-in is resent after a lost reply: the second copy finds the
// account the first made (or replaces the session it opened).
func (c *Client) signIn(ctx context.Context, path string, body []byte, o signInOptions) (*Session, error) {
	buf, err := c.call(ctx, resendAlways, http.MethodPost, path, headers{player: o.player}, body)
	if err != nil {
		return nil, fmt.Errorf("sign in (%s): %w", path, err)
	}
	defer c.putBuf(buf)
	r, err := parseLogin(*buf, &c.version)
	if err != nil {
		return nil, fmt.Errorf("sign in (%s): %w: %v", path, ErrProtocol, err)
	}
	s := c.newSession(c.transport)
	s.playerID, s.created = r.playerID, r.created
	if s.playerID == "" {
		s.playerID = o.player
	}
	s.applyLogin(r)
	if err := s.connect(ctx); err != nil {
		return nil, fmt.Errorf("sign in (%s): %w", path, err)
	}
	return s, nil
}

// connect opens a WebSocket session's socket (a no-op over HTTP).
func (s *Session) connect(ctx context.Context) error {
	if s.ws == nil {
		return nil
	}
	s.mu.Lock()
	err := s.c.retry(ctx, resendAlways, func(ctx context.Context, _ int) error {
		_, err := s.wsEnsure(ctx)
		return err
	})
	s.mu.Unlock()
	if err != nil {
		s.Close()
	}
	return err
}

func signInBody(b []byte, kv ...string) []byte {
	b = append(b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, kv[i])
		b = append(b, ':')
		b = appendString(b, kv[i+1])
	}
	return b
}

func closeCreate(b []byte, create bool) []byte {
	if create {
		return append(b, `,"create":true}`...)
	}
	return append(b, `,"create":false}`...)
}

// SignInDevice signs in with a device id (16–128 characters of
// [A-Za-z0-9_-], a secret the app generates once and keeps). Without
// create, an unknown id is ErrNotFound; with it, a new account.
func (c *Client) SignInDevice(ctx context.Context, deviceID string, create bool, opts ...SignInOption) (*Session, error) {
	buf := c.getBuf()
	defer c.putBuf(buf)
	*buf = closeCreate(signInBody(*buf, "device_id", deviceID), create)
	return c.signIn(ctx, "/api/v1/auth/device", *buf, signInOpts(opts))
}

// SignInEmail signs in with an email and password. A wrong password is
// ErrBadCredentials; after 5 failures in 15 minutes the account's
// password sign-in is ErrRateLimited with a RetryAfter of minutes (not
// waited out).
func (c *Client) SignInEmail(ctx context.Context, email, password string, create bool, opts ...SignInOption) (*Session, error) {
	buf := c.getBuf()
	defer c.putBuf(buf)
	*buf = closeCreate(signInBody(*buf, "email", email, "password", password), create)
	return c.signIn(ctx, "/api/v1/auth/email", *buf, signInOpts(opts))
}

// SignInTicket signs in with a studio's ticket (a compact JWS; API.md).
// A bad or expired ticket is ErrBadCredentials.
func (c *Client) SignInTicket(ctx context.Context, ticket string, create bool, opts ...SignInOption) (*Session, error) {
	buf := c.getBuf()
	defer c.putBuf(buf)
	*buf = closeCreate(signInBody(*buf, "ticket", ticket), create)
	return c.signIn(ctx, "/api/v1/auth/ticket", *buf, signInOpts(opts))
}

// DevLogin signs in through the development door (POST /api/v1/login
// {"player_id"}), open only on a loopback server run with --dev-login.
// A WebSocket session logs in over its socket directly, one round trip.
func (c *Client) DevLogin(ctx context.Context, playerID string) (*Session, error) {
	if c.transport == WebSocket {
		s := c.newSession(WebSocket)
		s.playerID, s.devID = playerID, playerID
		if err := s.connect(ctx); err != nil {
			return nil, fmt.Errorf("dev login %s: %w", playerID, err)
		}
		return s, nil
	}
	buf := c.getBuf()
	defer c.putBuf(buf)
	*buf = append(signInBody(*buf, "player_id", playerID), '}')
	s, err := c.signIn(ctx, "/api/v1/login", *buf, signInOptions{player: playerID})
	if err != nil {
		return nil, fmt.Errorf("dev login %s: %w", playerID, err)
	}
	if s.playerID == "" {
		s.playerID = playerID
	}
	return s, nil
}

// Resume continues a session whose token was kept (by another process, or
// from a closed Session): a WebSocket session resumes over its socket; an
// HTTP session reads the player to learn its last seq. refresh may be
// empty; KnownPlayer names the player before the server has.
func (c *Client) Resume(ctx context.Context, token, refresh string, opts ...SignInOption) (*Session, error) {
	s := c.newSession(c.transport)
	s.setToken(token)
	s.refresh = refresh
	s.playerID = signInOpts(opts).player
	if s.ws != nil {
		if err := s.connect(ctx); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		s.mu.Lock()
		if p := s.loginPlayer; p != nil {
			if id := string(unquote(field(p, "id"))); id != "" {
				s.playerID = id
			}
		}
		s.mu.Unlock()
		return s, nil
	}
	p, err := s.Player(ctx)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	s.playerID = p.ID
	return s, nil
}

// Refresh trades the refresh token for a new session and refresh token.
// It is never resent after a lost reply: a spent refresh token presented
// again revokes every token of the account. A WebSocket session closes its
// socket first (the server replaces the old session) and opens one with
// the new session; if the refresh fails, the next call resumes the old.
func (s *Session) Refresh(ctx context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.refresh == "" {
		return fmt.Errorf("refresh: no refresh token (development door?): %w", ErrUnauthorized)
	}
	if s.ws != nil {
		// The new session replaces this one on the server, which would
		// push "replaced" to the socket and close it: close it first, so
		// the consumer of Events sees no replacement that is not one.
		s.ws.drop()
	}
	buf := s.c.getBuf()
	defer s.c.putBuf(buf)
	*buf = append(signInBody(*buf, "refresh", s.refresh), '}')
	reply, err := s.c.call(ctx, resendRefused, http.MethodPost, "/api/v1/auth/refresh", headers{player: s.playerID}, *buf)
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	defer s.c.putBuf(reply)
	r, err := parseLogin(*reply, &s.c.version)
	if err != nil {
		// A reply without a player is fine for refresh: take the tokens.
		r.session = jsonString(unquote(field(*reply, "session")))
		r.refresh = jsonString(unquote(field(*reply, "refresh")))
		if r.session == "" {
			return fmt.Errorf("refresh: %w: %v", ErrProtocol, err)
		}
	}
	s.setToken(r.session)
	if r.refresh != "" {
		s.refresh = r.refresh
	}
	if r.player != nil {
		s.next = max(s.next, r.lastSeq+1)
	}
	if s.ws != nil {
		// Log a socket in with the new session. If that fails on the
		// network, the next call does it; a refusal is worth telling.
		var e *Error
		if _, err := s.wsEnsure(ctx); errors.As(err, &e) || errors.Is(err, ErrClosed) {
			return fmt.Errorf("refresh: log the socket in: %w", err)
		}
	}
	return nil
}

// LinkDevice adds a device credential to this account; ErrAlreadyExists
// if another account has it. Linking one the account has is a success.
func (s *Session) LinkDevice(ctx context.Context, deviceID string) error {
	return s.link(ctx, "device_id", deviceID)
}

// LinkEmail adds an email and password credential to this account;
// ErrAlreadyExists if another account has the email. Linking the account's
// own email again replaces its password.
func (s *Session) LinkEmail(ctx context.Context, email, password string) error {
	return s.link(ctx, "email", email, "password", password)
}

func (s *Session) link(ctx context.Context, kv ...string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	buf := s.c.getBuf()
	defer s.c.putBuf(buf)
	*buf = append(signInBody(*buf, kv...), '}')
	// Linking a credential this account already has succeeds, so a link
	// whose reply was lost may be sent again.
	reply, err := s.c.call(ctx, resendAlways, http.MethodPost, "/api/v1/account/link", s.headers(), *buf)
	if err != nil {
		return fmt.Errorf("link %s: %w", kv[0], err)
	}
	s.c.putBuf(reply)
	return nil
}

// Account is the answer of GET /api/v1/account.
type Account struct {
	PlayerID    string   `json:"player_id"`
	Created     int64    `json:"created"`     // Unix ms
	Credentials []string `json:"credentials"` // kinds: "device", "email", "ticket"
	// Raw is the whole answer, for fields newer than this package.
	Raw json.RawMessage `json:"-"`
}

// Account fetches the account: its player id and the kinds of its
// credentials (never a secret).
func (s *Session) Account(ctx context.Context) (Account, error) {
	var a Account
	err := s.get(ctx, "account", "/api/v1/account", func(reply []byte) error {
		if err := json.Unmarshal(reply, &a); err != nil {
			return err
		}
		a.Raw = bytes.Clone(reply)
		return nil
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}
