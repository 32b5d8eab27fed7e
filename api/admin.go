package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"rampart/accounts"
	"rampart/state"
)

// adminGuard admits only requests with the admin token. The routes exist
// only when a token is configured (routes.go): without one they are 404.
func (s *Server) adminGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.isAdmin(r) {
			s.cfg.Store.Record(state.Event{Time: s.cfg.Now(), Player: chi.URLParam(r, "id"), Kind: "admin",
				Name: r.Method + " " + r.URL.Path, OK: false, Code: "unauthorized"})
			writeError(w, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// admin wraps an admin handler: it gets the player id and every call is
// recorded as an analytics event of kind "admin", its outcome included.
func (s *Server) admin(name string, h func(w http.ResponseWriter, r *http.Request, id string, extra map[string]any) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := chi.URLParam(r, "id")
		extra := map[string]any{"remote": s.clientAddr(r)}
		err := h(w, r, id, extra)
		e := state.Event{Time: s.cfg.Now(), Player: id, Kind: "admin", Name: name, OK: err == nil, Extra: extra}
		if err != nil {
			e.Code = toError(err).Code
		}
		s.cfg.Store.Record(e)
		// Also in the log: analytics may be off (no MongoDB) or drop
		// under pressure, and an operator's act must leave a trace.
		s.cfg.Log.Info("admin call", "op", name, "player", id, "ok", e.OK, "code", e.Code, "remote", extra["remote"])
		return err
	}
}

// lookupAccount answers 404 for an id that is neither an account's nor
// a development player's.
func (s *Server) lookupAccount(r *http.Request, id string) (*accounts.Info, error) {
	if !state.ValidID(id) {
		return nil, errBadRequest(state.ErrBadPlayerID.Error())
	}
	if !accounts.ValidPlayerID(id) {
		return nil, nil // a development player: no account
	}
	info, err := s.cfg.Accounts.Account(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

func (s *Server) adminPlayer() handlerFunc {
	return s.admin("player", func(w http.ResponseWriter, r *http.Request, id string, _ map[string]any) error {
		acct, err := s.lookupAccount(r, id)
		if err != nil {
			return err
		}
		p, err := s.cfg.Store.Inspect(r.Context(), id)
		if err != nil {
			return err
		}
		if acct == nil && p.Player == nil {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such player"}
		}
		return writeJSON(w, struct {
			Account *accounts.Info `json:"account"`
			state.PlayerInfo
		}{acct, p})
	})
}

type banRequest struct {
	Until  int64  `json:"until"` // Unix ms; 0 for ever
	Reason string `json:"reason"`
}

func (s *Server) adminBan() handlerFunc {
	return s.admin("ban", func(w http.ResponseWriter, r *http.Request, id string, extra map[string]any) error {
		var req banRequest
		if err := s.readJSON(w, r, &req); err != nil {
			return err
		}
		if req.Until < 0 || len(req.Reason) > 1024 {
			return errBadRequest("until must be Unix ms (0 for ever), reason at most 1024 bytes")
		}
		extra["until"], extra["reason"] = req.Until, req.Reason
		if !accounts.ValidPlayerID(id) {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no account with that id"}
		}
		var until time.Time
		if req.Until > 0 {
			until = time.UnixMilli(req.Until)
		}
		gen, err := s.cfg.Accounts.Ban(r.Context(), id, until, req.Reason)
		if err != nil {
			return err
		}
		// Banning signs the player out at once, saved.
		if err := s.cfg.Store.Revoke(r.Context(), id, gen); err != nil {
			return err
		}
		return writeJSON(w, struct{}{})
	})
}

func (s *Server) adminUnban() handlerFunc {
	return s.admin("unban", func(w http.ResponseWriter, r *http.Request, id string, _ map[string]any) error {
		if !accounts.ValidPlayerID(id) {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no account with that id"}
		}
		if err := s.cfg.Accounts.Unban(r.Context(), id); err != nil {
			return err
		}
		return writeJSON(w, struct{}{})
	})
}

type grantRequest struct {
	ID        string           `json:"id"`
	Resources map[string]int64 `json:"resources"`
	Reason    string           `json:"reason"`
}

func (s *Server) adminGrant() handlerFunc {
	return s.admin("grant", func(w http.ResponseWriter, r *http.Request, id string, extra map[string]any) error {
		var req grantRequest
		if err := s.readJSON(w, r, &req); err != nil {
			return err
		}
		extra["grant"], extra["resources"], extra["reason"] = req.ID, req.Resources, req.Reason
		acct, err := s.lookupAccount(r, id)
		if err != nil {
			return err
		}
		if acct == nil && accounts.ValidPlayerID(id) {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no account with that id"}
		}
		dup, err := s.cfg.Store.Grant(r.Context(), id, req.ID, req.Resources)
		if errors.Is(err, state.ErrBadGrant) {
			return errBadRequest(err.Error())
		}
		if err != nil {
			return err
		}
		return writeJSON(w, struct {
			Duplicate bool `json:"duplicate,omitempty"`
		}{dup})
	})
}
