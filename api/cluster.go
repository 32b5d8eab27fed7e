package api

import (
	"net/http"

	"rampart/cluster"
)

// Forwarder sends a request to the server its player is live on
// (cluster.Peers).
type Forwarder interface {
	Forward(w http.ResponseWriter, r *http.Request, server string)
}

// routed serves h here, or, in a cluster, forwards the request to the
// server its player is live on (API.md Session: a client may reach any
// server). A player live nowhere is loaded here under its session
// (Store.Route), so a server that shut down or died costs its clients a
// retry, not a sign-in. A request forwarded once is never forwarded again.
func (s *Server) routed(h handlerFunc) handlerFunc {
	if s.cfg.Forward == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if token := bearer(r); token != "" {
			owner, err := s.cfg.Store.Route(r.Context(), token, cluster.IsHop(r))
			if err != nil {
				return err
			}
			if owner != "" {
				s.cfg.Forward.Forward(w, r, owner)
				return nil
			}
		}
		return h(w, r)
	}
}
