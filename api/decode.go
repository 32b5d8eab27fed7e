package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"rampart/state"
)

// MaxBody is the default request body limit.
const MaxBody = 64 << 10

// MaxBatch is the most actions one request may carry.
const MaxBatch = 100

// readBody reads r's body up to Config.MaxBody; past it the error is a
// *http.MaxBytesError (413).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, fmt.Errorf("read body: %w", err)
	case err != nil: // the client broke off its upload
		return nil, fmt.Errorf("read body: %w: %w", errBodyRead, err)
	}
	return body, nil
}

// readJSON reads r's body into v, one JSON object (400 otherwise).
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return unmarshal(body, v)
}

// errBodyRead means the client stopped sending its body part-way.
var errBodyRead = errors.New("client stopped sending the body")

type loginRequest struct {
	PlayerID string `json:"player_id"`
	Ticket   string `json:"ticket,omitempty"`
	// Session resumes a session (WebSocket login).
	Session string `json:"session,omitempty"`
}

// decodeLogin parses a login body.
func decodeLogin(body []byte) (loginRequest, error) {
	var req loginRequest
	if err := unmarshal(body, &req); err != nil {
		return req, err
	}
	if req.PlayerID == "" && req.Session == "" {
		return req, errBadRequest("player_id is required")
	}
	if req.PlayerID != "" && !state.ValidID(req.PlayerID) {
		return req, errBadRequest(state.ErrBadPlayerID.Error())
	}
	return req, nil
}

type actionsRequest struct {
	Actions []state.Action `json:"actions"`
}

// decodeActions parses an actions body: a non-empty batch of at most
// MaxBatch actions, each with a positive seq and a name. Their Args may
// slice body, which the caller must not reuse while they live.
func decodeActions(body []byte) ([]state.Action, error) {
	var req actionsRequest
	var ok bool
	if _, req.Actions, ok = parseActions(bytes.TrimSpace(body)); !ok {
		if err := unmarshal(body, &req); err != nil {
			return nil, err
		}
	}
	return checkActions(req.Actions)
}

// checkActions enforces API.md's rules on a decoded batch: 1 to MaxBatch
// actions, each with a name and a positive seq, seqs increasing.
func checkActions(acts []state.Action) ([]state.Action, error) {
	if len(acts) == 0 {
		return nil, errBadRequest("actions: at least one action is required")
	}
	if len(acts) > MaxBatch {
		return nil, errBadRequest(fmt.Sprintf("actions: at most %d per request", MaxBatch))
	}
	for i, a := range acts {
		if a.Seq <= 0 {
			return nil, errBadRequest(fmt.Sprintf("actions[%d].seq: a positive integer is required", i))
		}
		if a.Name == "" {
			return nil, errBadRequest(fmt.Sprintf("actions[%d].name is required", i))
		}
		if i > 0 && a.Seq <= acts[i-1].Seq {
			return nil, errBadRequest(fmt.Sprintf("actions[%d].seq: must increase within a batch", i))
		}
	}
	return acts, nil
}

// unmarshal decodes one JSON object into v, answering 400 for anything
// that is not one.
func unmarshal(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errBadRequest("body must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return errBadRequest("malformed JSON: " + err.Error())
	}
	return nil
}
