package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"rampart/accounts"
	"rampart/profiler"
)

// routes lists every route. Each is timed in the profiler under
// "METHOD pattern", resolved once here, so adding a route needs no
// profiler edit and the key is never the raw path.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	s.handleFallback(r.NotFound, "(not found)", errNotFound)
	s.handleFallback(r.MethodNotAllowed, "(method not allowed)", errMethodNotAllowed)

	s.handle(r, http.MethodGet, "/healthz", s.healthz())
	s.handle(r, http.MethodGet, "/readyz", s.readyz())
	if s.cfg.DevLogin {
		s.handle(r, http.MethodPost, "/api/v1/login", s.countSignIn("dev", s.devLogin()))
	}
	s.handle(r, http.MethodPost, "/api/v1/auth/device", s.countSignIn(accounts.KindDevice, s.signIn(accounts.KindDevice)))
	s.handle(r, http.MethodPost, "/api/v1/auth/email", s.countSignIn(accounts.KindEmail, s.signIn(accounts.KindEmail)))
	s.handle(r, http.MethodPost, "/api/v1/auth/ticket", s.countSignIn(accounts.KindTicket, s.signIn(accounts.KindTicket)))
	s.handle(r, http.MethodPost, "/api/v1/auth/refresh", s.countSignIn("refresh", s.refresh()))
	s.handle(r, http.MethodPost, "/api/v1/account/link", s.routed(s.link()))
	s.handle(r, http.MethodGet, "/api/v1/account", s.routed(s.account()))
	s.handle(r, http.MethodPost, "/api/v1/logout", s.routed(s.logout()))
	s.handle(r, http.MethodGet, "/api/v1/player", s.routed(s.player()))
	s.handle(r, http.MethodPost, "/api/v1/actions", s.routed(s.actions()))
	s.handle(r, http.MethodGet, "/api/v1/gamedata", s.gamedata())
	// The socket's lifetime is not a latency: ws() times the upgrade and
	// each message type in rows of their own.
	r.Method(http.MethodGet, "/api/v1/ws", s.ws())

	if s.cfg.Client != nil {
		r.Method(http.MethodGet, "/", s.timed("GET /", s.cfg.Client))
		r.Method(http.MethodGet, "/game/*", s.timed("GET /game/*", s.cfg.Client))
	}
	if s.cfg.Metrics != nil {
		r.With(s.debugGuard).Method(http.MethodGet, "/metrics", s.timed("GET /metrics", s.cfg.Metrics))
	}
	if s.cfg.AdminToken != "" {
		admin := r.With(s.adminGuard)
		s.handle(admin, http.MethodGet, "/admin/v1/players/{id}", s.adminPlayer())
		s.handle(admin, http.MethodPost, "/admin/v1/players/{id}/ban", s.adminBan())
		s.handle(admin, http.MethodPost, "/admin/v1/players/{id}/unban", s.adminUnban())
		s.handle(admin, http.MethodPost, "/admin/v1/players/{id}/grant", s.adminGrant())
	}
	if s.cfg.Debug != nil {
		r.With(s.debugGuard).Mount("/debug", s.debugRoutes(s.cfg.Debug))
	}
	return r
}

// handle registers h for method and pattern, timed, its outcome counted.
func (s *Server) handle(r chi.Router, method, pattern string, h handlerFunc) {
	row := s.cfg.Profiler.Row(method + " " + pattern)
	r.Method(method, pattern, s.timedRow(row, adapt(s.cfg.Log, row, h)))
}

// handleFallback registers the answer for unknown routes or methods.
func (s *Server) handleFallback(set func(http.HandlerFunc), name string, e *Error) {
	row := s.cfg.Profiler.Row(name)
	set(s.timedRow(row, adapt(s.cfg.Log, row, func(http.ResponseWriter, *http.Request) error { return e })).ServeHTTP)
}

// timed records each request's duration in the row called name.
func (s *Server) timed(name string, h http.Handler) http.Handler {
	return s.timedRow(s.cfg.Profiler.Row(name), h)
}

// timedRow records each request's duration in row, and keeps it on the
// profiler's in-flight list while it runs: a request that hangs shows
// there, and past the hard limit raises the alert, before it ends.
func (s *Server) timedRow(row *profiler.Row, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		f := row.Begin(t0)
		h.ServeHTTP(w, r)
		f.End(time.Since(t0))
	})
}
