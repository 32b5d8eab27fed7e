package state

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
)

// ErrUnauthorized means a session token is missing, malformed, forged,
// expired, revoked or replaced.
var ErrUnauthorized = errors.New("unauthorized")

// NewSessionID returns a random id (server ids).
func NewSessionID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
