package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"rampart/state"
)

func (s *Server) healthz() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.draining.Load() {
			return errDraining
		}
		replyHeaders(w, plainContentType) // as the JSON replies: the ratio's two sides pay alike
		_, err := w.Write([]byte("ok\n"))
		return err
	}
}

// readyz is for load balancers: 200 while this server can take players,
// 503 with the reason while it cannot (draining, a store down, full).
func (s *Server) readyz() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.draining.Load() {
			return errDraining
		}
		if s.cfg.Store.Full() {
			return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "not ready: full (--max-players)"}
		}
		if s.cfg.Store.Fenced() {
			return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "not ready: fenced (no cluster heartbeat)"}
		}
		if s.cfg.Ready != nil {
			if err := s.cfg.Ready.Ready(); err != nil {
				return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "not ready: " + err.Error()}
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.Write([]byte("ready\n"))
		return err
	}
}

// session authenticates r's bearer token and spends one request of the
// player's budget (API.md rate limits): past it the request is refused
// before anything in it is applied.
func (s *Server) session(r *http.Request) (state.Session, error) {
	token := bearer(r)
	if token == "" {
		return state.Session{}, errUnauthorized
	}
	sess, err := s.cfg.Store.Authenticate(token)
	if err != nil {
		return state.Session{}, err
	}
	if ok, after := s.cfg.Store.Allow(sess); !ok {
		s.signins.LimitedPlayer.Add(1)
		return state.Session{}, errRateLimited("too many requests for this player; retry later", after)
	}
	return sess, nil
}

// sessionBody authenticates r, then reads its body: the start of every
// authenticated POST that carries one.
func (s *Server) sessionBody(w http.ResponseWriter, r *http.Request) (state.Session, []byte, error) {
	sess, err := s.session(r)
	if err != nil {
		return sess, nil, err
	}
	body, err := s.readBody(w, r)
	return sess, body, err
}

func (s *Server) logout() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.session(r)
		if err != nil {
			return err
		}
		// Revoke first: once the account's generation moved, the tokens
		// are dead on every server, even if the save below fails.
		gen, err := s.revoke(r, sess.PlayerID())
		if err != nil {
			return err
		}
		if err := s.cfg.Store.Logout(r.Context(), sess, gen); err != nil {
			return err
		}
		return writeJSON(w, struct{}{})
	}
}

func (s *Server) player() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.session(r)
		if err != nil {
			return err
		}
		view, err := s.cfg.Store.View(sess)
		if err != nil {
			return err
		}
		return writeJSON(w, struct {
			Player          json.RawMessage `json:"player"`
			GamedataVersion string          `json:"gamedata_version"`
			ServerTime      int64           `json:"server_time"`
		}{view, s.cfg.GameData.Current().Version, s.cfg.Now().UnixMilli()})
	}
}

// actionsReply is the answer to a batch, on HTTP and WebSocket alike.
type actionsReply struct {
	Type            string        `json:"type,omitempty"`
	Results         []state.Reply `json:"results"`
	GamedataVersion string        `json:"gamedata_version"`
	ServerTime      int64         `json:"server_time"`
}

// dispatch runs a batch for sess: the one code path of every action,
// whatever transport it came by.
func (s *Server) dispatch(sess state.Session, batch []state.Action) (actionsReply, error) {
	b, err := s.cfg.Store.ApplyBatch(sess, batch)
	if err != nil {
		return actionsReply{}, err
	}
	// server_time is the moment the batch ran at, which every timer and
	// amount in the results was computed for.
	return actionsReply{Results: b.Replies, GamedataVersion: b.Version, ServerTime: b.At.UnixMilli()}, nil
}

func (s *Server) actions() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, body, err := s.sessionBody(w, r)
		if err != nil {
			return err
		}
		batch, err := decodeActions(body)
		if err != nil {
			return err
		}
		reply, err := s.dispatch(sess, batch)
		if err != nil {
			return err
		}
		return writeJSON(w, reply)
	}
}

// gamedata serves the compiled bundle, once per version per client.
func (s *Server) gamedata() handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		gd := s.cfg.GameData.Current()
		etag := `"` + gd.Version + `"`
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("Vary", "Accept-Encoding")
		if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag || strings.Contains(inm, etag) || inm == "*") {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		h.Set("Content-Type", "application/json")
		body := gd.Raw()
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body = gd.Gzip()
		}
		_, err := bytes.NewReader(body).WriteTo(w)
		return err
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
