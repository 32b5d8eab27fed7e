package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is a request the server refused: a non-2xx HTTP answer, or an
// "error" message on the WebSocket (given the HTTP status its code has in
// API.md). Compare with errors.Is against the sentinels below.
type Error struct {
	Status  int    // HTTP status; for WebSocket errors, the status of Code in API.md
	Code    string // stable snake_case code, e.g. "unauthorized"
	Message string // for humans; may change
	// RetryAfter is the server's Retry-After on 429 and 503, 0 if none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%d %s: %s (retry after %s)", e.Status, e.Code, e.Message, e.RetryAfter)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Is matches the sentinel of e's code, so errors.Is(err, ErrUnauthorized)
// holds for every 401 unauthorized whatever its message.
func (e *Error) Is(target error) bool {
	c, ok := target.(codeError)
	return ok && string(c) == e.Code
}

// codeError is the type of the sentinels: an API error code.
type codeError string

func (c codeError) Error() string { return "rampart: " + string(c) }

// Sentinels for the codes of API.md. errors.Is(err, ErrX) holds when err
// wraps an *Error with that code.
var (
	ErrBadRequest       error = codeError("bad_request")
	ErrUnauthorized     error = codeError("unauthorized")
	ErrBadCredentials   error = codeError("bad_credentials")
	ErrBanned           error = codeError("banned")
	ErrNotFound         error = codeError("not_found")
	ErrMethodNotAllowed error = codeError("method_not_allowed")
	ErrPlayerBusy       error = codeError("player_busy")
	ErrAlreadyExists    error = codeError("already_exists")
	ErrTooLarge         error = codeError("too_large")
	ErrRateLimited      error = codeError("rate_limited")
	ErrUnavailable      error = codeError("unavailable")
	ErrInternal         error = codeError("internal")
)

// Errors made on this side of the wire.
var (
	// ErrClosed: the session was closed (Close, Logout) and makes no more
	// requests.
	ErrClosed = errors.New("rampart client: session closed")
	// ErrReplaced: a newer sign-in of the same player took over; this
	// session's token answers 401 from now on. Sign in again. It also
	// matches ErrUnauthorized.
	ErrReplaced error = replacedError{}
	// ErrProtocol: the server's answer did not parse as API.md says.
	ErrProtocol = errors.New("rampart client: malformed reply")
)

type replacedError struct{}

func (replacedError) Error() string        { return "rampart client: session replaced by a newer sign-in" }
func (replacedError) Is(target error) bool { return target == ErrUnauthorized }

// codeStatus maps a code to its HTTP status in API.md, for WebSocket error
// messages that carry only the code.
func codeStatus(code string) int {
	switch code {
	case "bad_request", "unknown_type":
		return http.StatusBadRequest
	case "unauthorized", "bad_credentials":
		return http.StatusUnauthorized
	case "banned":
		return http.StatusForbidden
	case "not_found":
		return http.StatusNotFound
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	case "player_busy", "already_exists":
		return http.StatusConflict
	case "too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limited":
		return http.StatusTooManyRequests
	case "unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// gatewayLost reports whether err is a proxy's 502 or 504: the server
// behind it went away mid-request or did not answer in time.
func gatewayLost(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout)
}

// retryable reports whether a refusal says "nothing was done, try again
// later": 429 and 503.
func retryable(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable) {
		return e, true
	}
	return nil, false
}
