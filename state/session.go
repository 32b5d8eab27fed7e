package state

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrUnauthorized means a session token is missing, malformed, forged,
// expired or replaced.
var ErrUnauthorized = errors.New("unauthorized")

// Signer issues and checks session tokens: "<player>.<session>.<expiry
// ms>.<base64url HMAC-SHA256 of the first three>".
type Signer struct {
	key []byte
}

// NewSigner returns a signer with key (at least 32 bytes).
func NewSigner(key []byte) *Signer { return &Signer{key: key} }

// Claims are what a token carries.
type Claims struct {
	Player  string
	Session string
	Expires int64 // Unix ms
}

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) string {
	body := c.Player + "." + c.Session + "." + strconv.FormatInt(c.Expires, 10)
	return body + "." + s.mac(body)
}

// Verify checks token's signature and expiry at now.
func (s *Signer) Verify(token string, now time.Time) (Claims, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return Claims{}, ErrUnauthorized
	}
	body, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(s.mac(body))) {
		return Claims{}, ErrUnauthorized
	}
	parts := strings.Split(body, ".")
	if len(parts) != 3 {
		return Claims{}, ErrUnauthorized
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || now.UnixMilli() >= exp {
		return Claims{}, ErrUnauthorized
	}
	return Claims{Player: parts[0], Session: parts[1], Expires: exp}, nil
}

func (s *Signer) mac(body string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// NewSessionID returns a random session id.
func NewSessionID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
