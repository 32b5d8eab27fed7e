package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"rampart/accounts"
	"rampart/state"
)

// signInReply is every sign-in's answer: the login reply plus the
// account's id and refresh token (API.md, Accounts and sign-in).
type signInReply struct {
	loginReply
	PlayerID string `json:"player_id"`
	Refresh  string `json:"refresh,omitempty"`
	Created  bool   `json:"created,omitempty"`
}

// credentialRequest is the body of a sign-in or link: one kind of
// credential, and whether to make the account.
type credentialRequest struct {
	DeviceID string `json:"device_id"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Ticket   string `json:"ticket"`
	Refresh  string `json:"refresh"`
	Create   bool   `json:"create"`
}

// decodeCredential parses the body of a sign-in (kind "device", "email",
// "ticket") or of a link (kind ""), into the one credential it carries.
// The rules of each field (lengths, characters, email shape) are the
// accounts package's; this checks JSON types and which fields are there.
func decodeCredential(kind string, body []byte) (accounts.Credential, bool, error) {
	if !utf8.Valid(body) {
		// encoding/json would turn bad bytes into U+FFFD: a password
		// the client never typed.
		return accounts.Credential{}, false, errBadRequest("body must be UTF-8")
	}
	var req credentialRequest
	if err := unmarshal(body, &req); err != nil {
		return accounts.Credential{}, false, err
	}
	if kind == "" { // link: device, or email and password
		switch {
		case req.DeviceID != "" && req.Email == "":
			kind = accounts.KindDevice
		case req.Email != "" && req.DeviceID == "":
			kind = accounts.KindEmail
		default:
			return accounts.Credential{}, false, errBadRequest(`give "device_id", or "email" and "password"`)
		}
	}
	var c accounts.Credential
	switch kind {
	case accounts.KindDevice:
		if req.DeviceID == "" {
			return c, false, errBadRequest("device_id is required")
		}
		c.DeviceID = req.DeviceID
	case accounts.KindEmail:
		if req.Email == "" || req.Password == "" {
			return c, false, errBadRequest("email and password are required")
		}
		c.Email, c.Password = req.Email, req.Password
	case accounts.KindTicket:
		if req.Ticket == "" {
			return c, false, errBadRequest("ticket is required")
		}
		c.Ticket = req.Ticket
	default:
		return c, false, fmt.Errorf("decode credential: unknown kind %q", kind)
	}
	return c, req.Create, nil
}

// signIn serves POST /api/v1/auth/{kind}: the per-address budget, the
// credential, then the player.
func (s *Server) signIn(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.allowAddr(r); err != nil {
			return err
		}
		body, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		cred, create, err := decodeCredential(kind, body)
		if err != nil {
			return err
		}
		g, err := s.cfg.Accounts.SignIn(r.Context(), cred, create)
		if ae := (*accounts.Error)(nil); errors.As(err, &ae) && ae == accounts.ErrTicketsDisabled {
			// (errors.Is would match every not_found: Error.Is compares codes.)
			// The route is in the contract; with no studio key no ticket
			// can be checked, so every ticket is a bad one (API.md: a bad
			// ticket is 401), not an unknown route.
			return errNoTicketKey
		}
		if err != nil {
			return err
		}
		return s.adopt(w, r, g)
	}
}

// refresh serves POST /api/v1/auth/refresh.
func (s *Server) refresh() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.allowAddr(r); err != nil {
			return err
		}
		var req credentialRequest
		if err := s.readJSON(w, r, &req); err != nil {
			return err
		}
		if req.Refresh == "" {
			return errBadRequest("refresh is required")
		}
		g, err := s.cfg.Accounts.Refresh(r.Context(), req.Refresh)
		if errors.Is(err, accounts.ErrUnauthorized) {
			// A bad, expired or revoked token: if it is behind the
			// account's generation and a revocation elsewhere has not
			// reached the live session here yet, that session ends now.
			s.kickRevoked(r, accounts.RefreshPlayer(req.Refresh))
		}
		if err != nil {
			return err
		}
		// Login checks the token is its family's unspent one.
		err = s.adopt(w, r, g)
		if errors.Is(err, state.ErrRefreshReused) {
			return s.revokeReused(r, g.PlayerID)
		}
		if err == nil && g.Rotation.Legacy {
			// The family now lives with the player; the account forgets it
			// (if this fails, the player's family already refuses it).
			if ferr := s.cfg.Accounts.ForgetLegacy(context.WithoutCancel(r.Context()), g.PlayerID, g.Rotation.Family); ferr != nil {
				s.cfg.Log.Warn("forget a legacy refresh family", "player", g.PlayerID, "err", ferr)
			}
		}
		return err
	}
}

// errRefreshReused answers a refresh that presented a spent token.
var errRefreshReused = &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
	Message: "refresh token reused; every session of this account is revoked"}

// revokeReused revokes every token of id, whose refresh token was spent
// before (it was copied, or replayed), and signs the player out.
func (s *Server) revokeReused(r *http.Request, id string) error {
	gen, err := s.cfg.Accounts.Revoke(r.Context(), id)
	if err != nil {
		return err // nothing revoked: the same token again tries again
	}
	if err := s.cfg.Store.Revoke(r.Context(), id, gen); err != nil {
		s.cfg.Log.Warn("sign out after a refresh-token reuse", "player", id, "err", err)
	}
	return errRefreshReused
}

// kickRevoked signs id out of this server if its account's generation
// moved past the one its live session holds (a revocation elsewhere).
func (s *Server) kickRevoked(r *http.Request, id string) {
	if !accounts.ValidPlayerID(id) {
		return
	}
	info, err := s.cfg.Accounts.Account(r.Context(), id)
	if err != nil {
		return
	}
	if err := s.cfg.Store.Revoke(r.Context(), id, info.Gen); err != nil {
		s.cfg.Log.Warn("sign out after a revocation", "player", id, "err", err)
	}
}

// adopt brings g's player online under g's session and answers.
func (s *Server) adopt(w http.ResponseWriter, r *http.Request, g accounts.Grant) error {
	login := s.cfg.Store.Login
	if g.Created {
		login = s.cfg.Store.LoginCreated // no player to read yet
	}
	res, err := login(r.Context(), g.PlayerID, g.Claims, g.Rotation)
	if err != nil {
		return err
	}
	return writeJSON(w, signInReply{
		loginReply: loginReply{Session: g.Session, Player: res.Player,
			GamedataVersion: s.cfg.GameData.Current().Version, ServerTime: s.cfg.Now().UnixMilli()},
		PlayerID: g.PlayerID, Refresh: g.Refresh, Created: g.Created,
	})
}

// devLogin serves the development door, POST /api/v1/login (registered
// only with Config.DevLogin).
func (s *Server) devLogin() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		req, err := decodeLogin(body)
		if err != nil {
			return err
		}
		if req.PlayerID == "" {
			return errBadRequest("player_id is required")
		}
		res, err := s.loginDev(r, req.PlayerID)
		if err != nil {
			return err
		}
		return writeJSON(w, loginReply{Session: res.Session, Player: res.Player,
			GamedataVersion: s.cfg.GameData.Current().Version, ServerTime: s.cfg.Now().UnixMilli()})
	}
}

// loginDev signs id in through the development door.
func (s *Server) loginDev(r *http.Request, id string) (state.LoginResult, error) {
	if !s.cfg.DevLogin {
		return state.LoginResult{}, errDevClosed
	}
	g, err := s.cfg.Accounts.DevSession(id)
	if err != nil {
		return state.LoginResult{}, err
	}
	res, err := s.cfg.Store.Login(r.Context(), id, g.Claims, g.Rotation)
	res.Session = g.Session
	return res, err
}

var errNoTicketKey = &Error{Status: http.StatusUnauthorized, Code: "bad_credentials",
	Message: "ticket sign-in is not configured on this server (no --ticket-secret or --ticket-public-key)"}

var errDevClosed = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "the development door is closed (serve --dev-login)"}

// link serves POST /api/v1/account/link.
func (s *Server) link() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, body, err := s.sessionBody(w, r)
		if err != nil {
			return err
		}
		cred, _, err := decodeCredential("", body)
		if err != nil {
			return err
		}
		if err := s.cfg.Accounts.Link(r.Context(), sess.PlayerID(), cred); err != nil {
			return err
		}
		return s.writeAccount(w, r, sess.PlayerID())
	}
}

// account serves GET /api/v1/account.
func (s *Server) account() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.session(r)
		if err != nil {
			return err
		}
		return s.writeAccount(w, r, sess.PlayerID())
	}
}

func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, id string) error {
	if !accounts.ValidPlayerID(id) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "development players have no account"}
	}
	info, err := s.cfg.Accounts.Account(r.Context(), id)
	if err != nil {
		return err
	}
	info.Ban = nil // a signed-in player is not banned; operators see bans
	return writeJSON(w, info)
}

// revoke ends every token of sess's account for good and returns the new
// generation (0 for development players, who have no account).
func (s *Server) revoke(r *http.Request, id string) (uint64, error) {
	if !accounts.ValidPlayerID(id) {
		return 0, nil
	}
	return s.cfg.Accounts.Revoke(r.Context(), id)
}

// allowAddr spends one request of the client address's sign-in budget.
func (s *Server) allowAddr(r *http.Request) error {
	if s.cfg.SignInLimiter == nil {
		return nil
	}
	if ok, after := s.cfg.SignInLimiter.Allow(s.clientAddr(r)); !ok {
		s.signins.LimitedAddress.Add(1)
		return errRateLimited("too many sign-ins from this address; retry later", after)
	}
	return nil
}

// clientAddr is the address a request's budget is kept under: the peer,
// or, when the peer is one of Config.TrustedProxies, the nearest address
// the proxies forwarded that is not itself a trusted proxy.
func (s *Server) clientAddr(r *http.Request) string {
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer.String() // a hop we cannot read: stop trusting there
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
	}
	return peer.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr parses a RemoteAddr ("ip:port").
func peerAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		a, err := netip.ParseAddr(remote)
		return a.Unmap(), err == nil
	}
	return ap.Addr().Unmap(), true
}

// forwardedFor lists the client addresses of X-Forwarded-For and of
// Forwarded's for= parameters, nearest last.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				val = strings.Trim(val, `"`)
				if strings.HasPrefix(val, "[") { // "[2001:db8::1]:4711"
					if end := strings.IndexByte(val, ']'); end > 0 {
						val = val[1:end]
					}
				} else if host, _, err := splitHostPort(val); err == nil {
					val = host
				}
				hops = append(hops, val)
			}
		}
	}
	for _, v := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

func splitHostPort(v string) (string, string, error) {
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return "", "", err
	}
	return ap.Addr().String(), fmt.Sprint(ap.Port()), nil
}

// proxied reports whether r came through a proxy: it is then never a
// loopback client, whatever its peer.
func proxied(r *http.Request) bool {
	return r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != ""
}
