package api

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"rampart/accounts"
	"rampart/gamedata"
	"rampart/profiler"
	"rampart/state"
)

// Config is what the api needs from the wiring.
type Config struct {
	Store    *state.Store
	GameData *gamedata.Holder
	Profiler *profiler.Profiler
	Log      *slog.Logger
	// Accounts signs players in and revokes their tokens.
	Accounts *accounts.Accounts
	// AdminToken opens /admin/v1/ (and /debug/ from afar); empty, the
	// admin routes answer 404.
	AdminToken string
	// DevLogin opens the development door: POST /api/v1/login and the
	// WebSocket login with player_id (the wiring refuses it unless the
	// server listens on loopback).
	DevLogin bool
	// SignInLimiter is the per-address budget of the sign-in routes
	// (nil: none), keyed by clientAddr.
	SignInLimiter *accounts.KeyedLimiter
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded
	// name the client address for SignInLimiter.
	TrustedProxies []netip.Prefix
	// Debug, when set, serves /debug/ (the pages, pprof, reload) behind
	// the loopback-or-admin guard.
	Debug *Debug
	// Client, when set, serves the browser client at `/` and `/game/*`.
	Client http.Handler
	// Metrics, when set, is GET /metrics, behind the same guard as /debug.
	Metrics http.Handler
	// Ready, when set, answers /readyz (nil: 200).
	Ready *Readiness
	// MaxBody is the request body limit (default MaxBody).
	MaxBody int64
	// Now is the clock for server_time (injected in tests).
	Now func() time.Time
	// Forward, in a cluster, sends a request whose player is live on
	// another server to that server (nil: one server alone).
	Forward Forwarder
	// IdleTimeout closes a WebSocket that sent nothing for this long
	// (default 10m, the player idle timeout).
	IdleTimeout time.Duration
	// WSPingEvery is how long a WebSocket's client may send nothing
	// before it is pinged, and how often a quiet one is pinged again and
	// checked against IdleTimeout (default 30 s); a socket silent for
	// twice this and 10 s, no message and no pong, is closed.
	WSPingEvery time.Duration
}

// Server answers the routes of API.md.
type Server struct {
	cfg      Config
	draining atomic.Bool
	handler  http.Handler

	wsStats      WSStats
	signins      *SignInStats
	wsRows       wsRows
	wsUpgradeRow *profiler.Row
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = MaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.WSPingEvery <= 0 {
		cfg.WSPingEvery = wsPingEvery
	}
	s := &Server{cfg: cfg, signins: newSignInStats()}
	p := cfg.Profiler
	s.wsRows = wsRows{login: p.Row("ws:login"), actions: p.Row("ws:actions"), logout: p.Row("ws:logout"),
		ping: p.Row("ws:ping"), unknown: p.Row("ws:(bad message)")}
	s.wsUpgradeRow = p.Row("GET /api/v1/ws (upgrade)")
	s.handler = s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// replyDate is the Date header of the JSON replies and /healthz, set as
// they write (replyHeaders). net/http leaves a Date the handler set alone
// and formats one for every other reply: time.Time.AppendFormat alone was
// 1.2% of the server's CPU at 25,000 players. Only the writers set it, so
// a reply a cluster peer forwarded carries the owner's Date alone.
var replyDate httpDate

// httpDate is a Date header value formatted once a second.
type httpDate struct{ last atomic.Pointer[dateHeader] }

type dateHeader struct {
	unix  int64
	value []string // shared by every reply of that second; never written
}

func (d *httpDate) at(now time.Time) []string {
	sec := now.Unix()
	if h := d.last.Load(); h != nil && h.unix == sec {
		return h.value
	}
	h := &dateHeader{unix: sec, value: []string{now.UTC().Format(http.TimeFormat)}}
	d.last.Store(h)
	return h.value
}

// WSStats returns the WebSocket counters.
func (s *Server) WSStats() *WSStats { return &s.wsStats }

// Drain makes /healthz answer 503 so load balancers stop sending players.
func (s *Server) Drain() { s.draining.Store(true) }

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// debugGuard lets loopback clients, or anyone with the admin token, in. A
// request that came through a proxy is not a loopback client: the proxy
// on this machine would otherwise open the debug pages to the world.
func (s *Server) debugGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (proxied(r) || !isLoopback(r.RemoteAddr)) && !s.isAdmin(r) {
			writeError(w, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isAdmin reports whether r carries the admin token (constant time).
func (s *Server) isAdmin(r *http.Request) bool {
	t := bearer(r)
	return s.cfg.AdminToken != "" && t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.cfg.AdminToken)) == 1
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
