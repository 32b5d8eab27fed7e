package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"rampart/accounts"
	"rampart/bookkeeper"
	"rampart/profiler"
	"rampart/state"
)

// Error is an answer with a status and a stable code (API.md's table).
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as Retry-After (whole seconds,
	// rounded up): rate_limited.
	RetryAfter time.Duration
	// Until is when a ban ends (Unix ms, 0 for ever): banned only, sent
	// as the error's "until".
	Until int64
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errBadRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
}

// errRateLimited is the answer past a request budget.
func errRateLimited(msg string, after time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: msg, RetryAfter: max(after, time.Millisecond)}
}

// accountStatus is the status of each accounts.Error code (API.md).
var accountStatus = map[string]int{
	"bad_request":     http.StatusBadRequest,
	"bad_credentials": http.StatusUnauthorized,
	"unauthorized":    http.StatusUnauthorized,
	"not_found":       http.StatusNotFound,
	"already_exists":  http.StatusConflict,
	"banned":          http.StatusForbidden,
	"rate_limited":    http.StatusTooManyRequests,
}

var (
	errNotFound         = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such route"}
	errMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method not allowed on this route"}
	errTooLarge         = &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "request body over the limit"}
	errUnauthorized     = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing, expired, revoked or replaced session; sign in again"}
	errBusy             = &Error{Status: http.StatusConflict, Code: "player_busy", Message: "the player is live on another server; try again shortly"}
	errUnavailable      = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "storage is unavailable; retry later"}
	errDraining         = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "server is shutting down"}
	errInternal         = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
)

// toError maps a domain error onto its answer. Anything unknown is
// internal: logged in full, never shown to the client.
func toError(err error) *Error {
	var e *Error
	var ae *accounts.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &ae):
		status, ok := accountStatus[ae.Code]
		if !ok {
			return errInternal
		}
		out := &Error{Status: status, Code: ae.Code, Message: ae.Message, RetryAfter: ae.RetryAfter}
		if ae.Code == "banned" && !ae.Until.IsZero() {
			out.Until = ae.Until.UnixMilli()
		}
		return out
	case errors.Is(err, accounts.ErrUnavailable):
		return errUnavailable
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, state.ErrBadPlayerID):
		return errBadRequest(state.ErrBadPlayerID.Error())
	case errors.Is(err, state.ErrBadSeq):
		return errBadRequest(err.Error())
	case errors.Is(err, state.ErrUnauthorized), errors.Is(err, state.ErrLostOwnership):
		return errUnauthorized
	case errors.Is(err, state.ErrFull):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "this server is full; retry (the balancer picks another)", RetryAfter: time.Second}
	case errors.Is(err, state.ErrMoving):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the player is moving between servers; retry", RetryAfter: time.Second}
	case errors.Is(err, state.ErrFenced):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "this server lost the cluster; retry", RetryAfter: time.Second}
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

// errorBody is the "error" object of every failure, on HTTP and WebSocket.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Until   *int64 `json:"until,omitempty"` // banned: Unix ms, 0 for ever
}

func (e *Error) body() errorBody {
	b := errorBody{Code: e.Code, Message: e.Message}
	if e.Code == "banned" {
		until := e.Until
		b.Until = &until
	}
	return b
}

// retryAfter is Retry-After's value for d: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
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
		Error errorBody `json:"error"`
	}{e.body()})
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(e.RetryAfter))
	}
	replyHeaders(w, jsonContentType)
	w.WriteHeader(e.Status)
	w.Write(body)
}

// jsonContentType is every JSON reply's Content-Type, one slice for all
// (Header.Set would canonicalise the key and allocate a slice per reply).
// Nothing writes into a header's values in place.
var (
	jsonContentType  = []string{"application/json"}
	plainContentType = []string{"text/plain; charset=utf-8"}
)

// replyHeaders sets a reply's Content-Type and Date without allocating.
func replyHeaders(w http.ResponseWriter, contentType []string) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Date"] = replyDate.at(time.Now())
}

func writeJSON(w http.ResponseWriter, v any) error {
	body, err := marshal(v)
	if err != nil {
		return err
	}
	replyHeaders(w, jsonContentType)
	_, err = w.Write(body)
	return err
}
