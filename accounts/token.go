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

// tokenHead is what every token carries around its kind's own fields: the
// player and its account generation first, the expiry (Unix ms) last.
type tokenHead struct {
	player string
	gen    uint64
	exp    int64
}

// open checks the MAC of token and its expiry against now, and returns its
// head, with the fields between gen and the expiry in middle (whose length
// is the count wanted). Every field must be there and, but for the middle
// ones, well formed. It does not allocate.
func (s *signer) open(token, kind string, middle []string, now time.Time) (tokenHead, error) {
	if len(token) > maxToken || len(token) < macLen+1 || token[len(token)-macLen-1] != '.' {
		return tokenHead{}, errToken
	}
	body, sig := token[:len(token)-macLen-1], token[len(token)-macLen:]
	var want [32]byte
	var got [macLen]byte
	s.mac(body, &want)
	base64.RawURLEncoding.Encode(got[:], want[:])
	// Comparing the canonical encodings rejects the non-canonical
	// spellings of the same MAC too.
	if subtle.ConstantTimeCompare(got[:], []byte(sig)) != 1 {
		return tokenHead{}, errToken
	}
	rest, ok := strings.CutPrefix(body, kind+".")
	if !ok {
		return tokenHead{}, errToken
	}
	var all [maxMiddle + 3]string
	fields := all[:len(middle)+3]
	for i := range fields {
		j := strings.IndexByte(rest, '.')
		if i == len(fields)-1 {
			if j >= 0 {
				return tokenHead{}, errToken
			}
			fields[i] = rest
			break
		}
		if j < 0 {
			return tokenHead{}, errToken
		}
		fields[i], rest = rest[:j], rest[j+1:]
	}
	gen, err1 := strconv.ParseUint(fields[1], 10, 64)
	exp, err2 := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err1 != nil || err2 != nil || fields[0] == "" || now.UnixMilli() >= exp {
		return tokenHead{}, errToken
	}
	copy(middle, fields[2:])
	return tokenHead{player: fields[0], gen: gen, exp: exp}, nil
}

// maxMiddle is the most fields a kind has between gen and the expiry.
const maxMiddle = 2

// verifySession opens "s1.<player>.<gen>.<session>.<expires>".
func (s *signer) verifySession(token string, now time.Time) (Claims, error) {
	var m [1]string
	h, err := s.open(token, "s1", m[:], now)
	if err != nil || m[0] == "" {
		return Claims{}, errToken
	}
	return Claims{Player: h.player, Gen: h.gen, Session: m[0], Expires: h.exp}, nil
}

// verifyRefresh opens "r1.<player>.<gen>.<family>.<counter>.<expires>".
func (s *signer) verifyRefresh(token string, now time.Time) (refreshClaims, error) {
	var m [2]string
	h, err := s.open(token, "r1", m[:], now)
	if err != nil || m[0] == "" {
		return refreshClaims{}, errToken
	}
	ctr, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return refreshClaims{}, errToken
	}
	return refreshClaims{Player: h.player, Gen: h.gen, Family: m[0], Counter: ctr, Expires: h.exp}, nil
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
