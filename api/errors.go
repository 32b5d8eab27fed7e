package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"rampart/bookkeeper"
	"rampart/profiler"
	"rampart/state"
)

// Error is an answer with a status and a stable code (API.md's table).
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errBadRequest(msg string) *Error {
	return &Error{http.StatusBadRequest, "bad_request", msg}
}

var (
	errNotFound         = &Error{http.StatusNotFound, "not_found", "no such route"}
	errMethodNotAllowed = &Error{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"}
	errTooLarge         = &Error{http.StatusRequestEntityTooLarge, "too_large", "request body over the limit"}
	errUnauthorized     = &Error{http.StatusUnauthorized, "unauthorized", "missing, expired or replaced session; log in again"}
	errBusy             = &Error{http.StatusConflict, "player_busy", "the player is live on another server; try again shortly"}
	errUnavailable      = &Error{http.StatusServiceUnavailable, "unavailable", "storage is unavailable; retry later"}
	errDraining         = &Error{http.StatusServiceUnavailable, "unavailable", "server is shutting down"}
	errInternal         = &Error{http.StatusInternalServerError, "internal", "internal error"}
)

// toError maps a domain error onto its answer. Anything unknown is
// internal: logged in full, never shown to the client.
func toError(err error) *Error {
	var e *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, state.ErrBadPlayerID):
		return errBadRequest(state.ErrBadPlayerID.Error())
	case errors.Is(err, state.ErrBadSeq):
		return errBadRequest(err.Error())
	case errors.Is(err, state.ErrUnauthorized), errors.Is(err, state.ErrLostOwnership):
		return errUnauthorized
	case errors.Is(err, state.ErrPlayerBusy):
		return errBusy
	case errors.Is(err, state.ErrUnavailable), errors.Is(err, bookkeeper.ErrDropped), errors.Is(err, state.ErrJournal):
		return errUnavailable
	}
	return errInternal
}

// handlerFunc is a handler that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// adapt turns h into an http.Handler that answers errors as API.md says
// and counts each answer's status in row. A request whose client went
// away (it aborted its upload, or hung up) is counted as client-closed
// (499, as tsweb does), logged at debug and not answered: it is not a
// server error and raises no alert.
func adapt(log *slog.Logger, row *profiler.Row, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			row.CountStatus(http.StatusOK)
			return
		}
		if clientGone(r, err) {
			row.CountStatus(profiler.StatusClientClosed)
			log.Debug("client closed the request", "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
		e := toError(err)
		row.CountStatus(e.Status)
		if e.Status >= 500 {
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
		}
		writeError(w, e)
	})
}

// clientGone reports whether err comes from the client leaving: its
// context was cancelled, or reading its body failed mid-way.
func clientGone(r *http.Request, err error) bool {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errBodyRead)
}

func writeError(w http.ResponseWriter, e *Error) {
	body, _ := json.Marshal(struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}
