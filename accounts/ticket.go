package accounts

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
)

// TicketLeeway is the clock skew allowed between the studio and us on
// exp, nbf and iat.
const TicketLeeway = 30 * time.Second

// maxTicket bounds a ticket's length before any decoding.
const maxTicket = 8 << 10

// TicketVerifier checks studio tickets: compact JWS (RFC 7515) with HS256
// and a shared secret, or EdDSA (Ed25519) and the studio's public key.
// Exactly one key is set; the header's alg must be the one for that key, so
// neither "none" nor an algorithm swap (HS256 signed with the public key)
// gets through.
type TicketVerifier struct {
	secret []byte            // HS256, or nil
	public ed25519.PublicKey // EdDSA, or nil
}

// NewTicketVerifier returns a verifier for HS256 with secret (at least 32
// bytes) or EdDSA with public (32 bytes). Both nil: tickets are disabled
// and Verify answers ErrTicketsDisabled.
func NewTicketVerifier(secret []byte, public ed25519.PublicKey) (*TicketVerifier, error) {
	switch {
	case secret != nil && public != nil:
		return nil, errors.New("ticket: give a secret or a public key, not both")
	case secret != nil && len(secret) < 32:
		return nil, errors.New("ticket: the HS256 secret must be at least 32 bytes")
	case public != nil && len(public) != ed25519.PublicKeySize:
		return nil, errors.New("ticket: the Ed25519 public key must be 32 bytes")
	}
	return &TicketVerifier{secret: bytes.Clone(secret), public: bytes.Clone(public)}, nil
}

type jwsHeader struct {
	Alg  string   `json:"alg"`
	Typ  string   `json:"typ"`
	Crit []string `json:"crit"`
}

type ticketClaims struct {
	Sub *string  `json:"sub"`
	Exp *float64 `json:"exp"`
	Nbf *float64 `json:"nbf"`
	Iat *float64 `json:"iat"`
}

// Verify checks ticket at now and returns its subject (the studio's user
// id). Every failure is bad_credentials; the message says which check
// failed and never echoes the ticket.
func (v *TicketVerifier) Verify(ticket string, now time.Time) (string, error) {
	if v == nil || v.secret == nil && v.public == nil {
		return "", ErrTicketsDisabled
	}
	if len(ticket) > maxTicket {
		return "", badCredentials("ticket is too long")
	}
	h64, rest, ok1 := strings.Cut(ticket, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return "", badCredentials("ticket is not a compact JWS")
	}
	b64 := base64.RawURLEncoding.Strict()
	hdrJSON, err1 := b64.DecodeString(h64)
	sig, err2 := b64.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return "", badCredentials("ticket is not base64url")
	}
	var hdr jwsHeader
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return "", badCredentials("ticket header is not JSON")
	}
	if len(hdr.Crit) > 0 {
		return "", badCredentials("ticket has critical header parameters we do not understand")
	}
	signed := ticket[:len(h64)+1+len(p64)]
	switch {
	case v.secret != nil && hdr.Alg == "HS256":
		m := hmac.New(sha256.New, v.secret)
		m.Write([]byte(signed))
		if !hmac.Equal(sig, m.Sum(nil)) {
			return "", badCredentials("ticket signature does not verify")
		}
	case v.public != nil && hdr.Alg == "EdDSA":
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(v.public, []byte(signed), sig) {
			return "", badCredentials("ticket signature does not verify")
		}
	default:
		return "", badCredentials("ticket alg is not the one this server accepts")
	}
	// Only signed bytes are parsed from here on.
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return "", badCredentials("ticket is not base64url")
	}
	var c ticketClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", badCredentials("ticket claims are not a JSON object")
	}
	if c.Sub == nil || *c.Sub == "" || len(*c.Sub) > maxSub {
		return "", badCredentials("ticket sub must be 1-255 bytes")
	}
	t := float64(now.Unix())
	leeway := TicketLeeway.Seconds()
	switch {
	case c.Exp == nil || !finite(*c.Exp):
		return "", badCredentials("ticket has no exp")
	case t >= *c.Exp+leeway:
		return "", badCredentials("ticket has expired")
	case c.Nbf != nil && (!finite(*c.Nbf) || t+leeway < *c.Nbf):
		return "", badCredentials("ticket is not valid yet (nbf)")
	case c.Iat != nil && (!finite(*c.Iat) || t+leeway < *c.Iat):
		return "", badCredentials("ticket was issued in the future (iat)")
	}
	return *c.Sub, nil
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
