package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"rampart/accounts"
)

// routes lists every route. Each is timed in the profiler under
// "METHOD pattern", resolved once here, so adding a route needs no
// profiler edit and the key is never the raw path.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(s.timed("(not found)", adapt(s.cfg.Log, func(http.ResponseWriter, *http.Request) error { return errNotFound })).ServeHTTP)
	r.MethodNotAllowed(s.timed("(method not allowed)", adapt(s.cfg.Log, func(http.ResponseWriter, *http.Request) error { return errMethodNotAllowed })).ServeHTTP)

	s.handle(r, http.MethodGet, "/healthz", s.healthz())
	if s.cfg.DevLogin {
		s.handle(r, http.MethodPost, "/api/v1/login", s.devLogin())
	}
	s.handle(r, http.MethodPost, "/api/v1/auth/device", s.signIn(accounts.KindDevice))
	s.handle(r, http.MethodPost, "/api/v1/auth/email", s.signIn(accounts.KindEmail))
	s.handle(r, http.MethodPost, "/api/v1/auth/ticket", s.signIn(accounts.KindTicket))
	s.handle(r, http.MethodPost, "/api/v1/auth/refresh", s.refresh())
	s.handle(r, http.MethodPost, "/api/v1/account/link", s.link())
	s.handle(r, http.MethodGet, "/api/v1/account", s.account())
	s.handle(r, http.MethodPost, "/api/v1/logout", s.logout())
	s.handle(r, http.MethodGet, "/api/v1/player", s.player())
	s.handle(r, http.MethodPost, "/api/v1/actions", s.actions())
	s.handle(r, http.MethodGet, "/api/v1/gamedata", s.gamedata())
	// The socket's lifetime is not a latency: ws() times the upgrade and
	// each message type in rows of their own.
	r.Method(http.MethodGet, "/api/v1/ws", s.ws())

	if s.cfg.Client != nil {
		r.Method(http.MethodGet, "/", s.timed("GET /", s.cfg.Client))
		r.Method(http.MethodGet, "/game/*", s.timed("GET /game/*", s.cfg.Client))
	}
	if s.cfg.AdminToken != "" {
		admin := r.With(s.adminGuard)
		s.handle(admin, http.MethodGet, "/admin/v1/players/{id}", s.adminPlayer())
		s.handle(admin, http.MethodPost, "/admin/v1/players/{id}/ban", s.adminBan())
		s.handle(admin, http.MethodPost, "/admin/v1/players/{id}/unban", s.adminUnban())
		s.handle(admin, http.MethodPost, "/admin/v1/players/{id}/grant", s.adminGrant())
	}
	if s.cfg.Debug != nil {
		r.With(s.debugGuard).Mount("/debug", s.cfg.Debug)
	}
	return r
}

// handle registers h for method and pattern, timed.
func (s *Server) handle(r chi.Router, method, pattern string, h handlerFunc) {
	r.Method(method, pattern, s.timed(method+" "+pattern, adapt(s.cfg.Log, h)))
}

// timed records each request's duration in the row called name.
func (s *Server) timed(name string, h http.Handler) http.Handler {
	row := s.cfg.Profiler.Row(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		h.ServeHTTP(w, r)
		row.Record(time.Since(t0))
	})
}
