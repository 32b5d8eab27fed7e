package accounts

import (
	"errors"
	"fmt"
	"time"
)

// Error is a refusal with a stable code from API.md's error table. The api
// maps Code onto the status; Message is safe to show a client.
type Error struct {
	Code    string
	Message string
	// RetryAfter says when to try again (rate_limited only).
	RetryAfter time.Duration
	// Until is when a ban ends; zero means for ever (banned only).
	Until time.Time
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is(err, ErrBanned) true for every Error with that code,
// whatever its message, RetryAfter or Until.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The codes, as sentinels to compare against with errors.Is. Functions
// return these or an *Error with the same code and a more precise message.
var (
	// ErrBadRequest: the input breaks API.md's rules (400).
	ErrBadRequest = &Error{Code: "bad_request", Message: "bad request"}
	// ErrBadCredentials: wrong password, bad or expired ticket (401).
	ErrBadCredentials = &Error{Code: "bad_credentials", Message: "wrong credentials"}
	// ErrUnauthorized: a refresh token that is malformed, forged, expired,
	// spent or revoked (401).
	ErrUnauthorized = &Error{Code: "unauthorized", Message: "invalid or revoked token; sign in again"}
	// ErrNotFound: no account has this credential, or no account has this
	// id (404).
	ErrNotFound = &Error{Code: "not_found", Message: "no account for that credential"}
	// ErrAlreadyExists: the credential belongs to another account (409).
	ErrAlreadyExists = &Error{Code: "already_exists", Message: "the credential belongs to another account"}
	// ErrBanned: the account is banned (403); the returned *Error has Until.
	ErrBanned = &Error{Code: "banned", Message: "the account is banned"}
	// ErrRateLimited: password sign-in is locked for this account, or too
	// many password checks are queued (429); the returned *Error has
	// RetryAfter.
	ErrRateLimited = &Error{Code: "rate_limited", Message: "too many attempts; retry later"}
	// ErrTicketsDisabled: the server has no ticket key (the api answers
	// 404 on the route).
	ErrTicketsDisabled = &Error{Code: "not_found", Message: "ticket sign-in is not configured"}
)

// ErrUnavailable wraps every S3 failure (after the bookkeeper's retries):
// the api answers 503 unavailable. The S3 error is wrapped beside it.
var ErrUnavailable = errors.New("account storage unavailable")

func badRequest(msg string) error { return &Error{Code: "bad_request", Message: msg} }

func badCredentials(msg string) error { return &Error{Code: "bad_credentials", Message: msg} }

func rateLimited(msg string, after time.Duration) error {
	// Retry-After is in whole seconds; never tell a client 0.
	after = max(after, time.Second)
	return &Error{Code: "rate_limited", Message: msg, RetryAfter: after}
}

func banned(until time.Time) error {
	msg := "the account is banned for ever"
	if !until.IsZero() {
		msg = "the account is banned until " + until.UTC().Format(time.RFC3339)
	}
	return &Error{Code: "banned", Message: msg, Until: until}
}

func unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
}
