package accounts

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Claims are what a session token carries.
type Claims struct {
	Player  string
	Gen     uint64 // the account's token generation when it was signed
	Session string // random per sign-in; state keeps the live one
	Expires int64  // Unix ms
}

// refreshClaims are what a refresh token carries.
type refreshClaims struct {
	Player  string
	Gen     uint64
	Family  string
	Counter uint64
	Expires int64
}

// signer signs and checks tokens (doc.go, "Tokens"). Its key is derived
// from the configured one, so the same secret given to another signer in
// the server never yields tokens this one accepts.
type signer struct {
	pool sync.Pool // of *macState
}

// macState is a reusable HMAC and the scratch space of one check, so that
// Verify allocates nothing.
type macState struct {
	h   hash.Hash // HMAC-SHA256 under the derived key
	buf [maxToken]byte
	sum [sha256.Size]byte
}

const maxToken = 512

const macLen = 43 // base64url of 32 bytes, no padding

func newSigner(key []byte) *signer {
	d := hmac.New(sha256.New, key)
	d.Write([]byte("rampart/accounts/token/v1"))
	derived := d.Sum(nil)
	s := &signer{}
	s.pool.New = func() any { return &macState{h: hmac.New(sha256.New, derived)} }
	return s
}

// mac puts the MAC of body (at most maxToken bytes) in out.
func (s *signer) mac(body string, out *[32]byte) {
	m := s.pool.Get().(*macState)
	m.h.Reset()
	m.h.Write(m.buf[:copy(m.buf[:], body)])
	copy(out[:], m.h.Sum(m.sum[:0]))
	s.pool.Put(m)
}

func (s *signer) seal(body string) string {
	var m [32]byte
	s.mac(body, &m)
	return body + "." + base64.RawURLEncoding.EncodeToString(m[:])
}

func (s *signer) signSession(c Claims) string {
	return s.seal("s1." + c.Player + "." + strconv.FormatUint(c.Gen, 10) + "." + c.Session + "." + strconv.FormatInt(c.Expires, 10))
}

func (s *signer) signRefresh(c refreshClaims) string {
	return s.seal("r1." + c.Player + "." + strconv.FormatUint(c.Gen, 10) + "." + c.Family + "." +
		strconv.FormatUint(c.Counter, 10) + "." + strconv.FormatInt(c.Expires, 10))
}

var errToken = errors.New("malformed, forged or expired token")

// open checks the MAC of token and returns its fields after the kind, in
// fields (whose length is the count wanted). It does not allocate.
func (s *signer) open(token, kind string, fields []string) error {
	if len(token) > maxToken || len(token) < macLen+1 || token[len(token)-macLen-1] != '.' {
		return errToken
	}
	body, sig := token[:len(token)-macLen-1], token[len(token)-macLen:]
	var want [32]byte
	var got [macLen]byte
	s.mac(body, &want)
	base64.RawURLEncoding.Encode(got[:], want[:])
	// Comparing the canonical encodings rejects the non-canonical
	// spellings of the same MAC too.
	if subtle.ConstantTimeCompare(got[:], []byte(sig)) != 1 {
		return errToken
	}
	rest, ok := strings.CutPrefix(body, kind+".")
	if !ok {
		return errToken
	}
	for i := range fields {
		j := strings.IndexByte(rest, '.')
		if i == len(fields)-1 {
			if j >= 0 {
				return errToken
			}
			fields[i] = rest
			break
		}
		if j < 0 {
			return errToken
		}
		fields[i], rest = rest[:j], rest[j+1:]
	}
	return nil
}

func (s *signer) verifySession(token string, now time.Time) (Claims, error) {
	var f [4]string
	if err := s.open(token, "s1", f[:]); err != nil {
		return Claims{}, err
	}
	gen, err1 := strconv.ParseUint(f[1], 10, 64)
	exp, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || f[0] == "" || f[2] == "" {
		return Claims{}, errToken
	}
	if now.UnixMilli() >= exp {
		return Claims{}, errToken
	}
	return Claims{Player: f[0], Gen: gen, Session: f[2], Expires: exp}, nil
}

func (s *signer) verifyRefresh(token string, now time.Time) (refreshClaims, error) {
	var f [5]string
	if err := s.open(token, "r1", f[:]); err != nil {
		return refreshClaims{}, err
	}
	gen, err1 := strconv.ParseUint(f[1], 10, 64)
	ctr, err2 := strconv.ParseUint(f[3], 10, 64)
	exp, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || f[0] == "" || f[2] == "" {
		return refreshClaims{}, errToken
	}
	if now.UnixMilli() >= exp {
		return refreshClaims{}, errToken
	}
	return refreshClaims{Player: f[0], Gen: gen, Family: f[2], Counter: ctr, Expires: exp}, nil
}

// SessionPlayer is the player id a session token names ("s1.<id>.…"),
// unverified: for routing a request to the server the player is on, which
// verifies it. "" if token is not a session token.
func SessionPlayer(token string) string { return tokenPlayer(token, "s1.") }

// RefreshPlayer is the player id a refresh token names ("r1.<id>.…"),
// unverified: for acting on what the account itself then says. "" if token
// is not a refresh token.
func RefreshPlayer(token string) string { return tokenPlayer(token, "r1.") }

func tokenPlayer(token, prefix string) string {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".")
	return id
}
