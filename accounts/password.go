package accounts

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes (doc.go, "Passwords"): OWASP's
// 19 MiB / 2 passes / 1 lane profile. One lane because the server bounds
// hashes to about one per core already; more lanes would only let one
// sign-in take several cores from the game.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Bounds on parameters read back from a stored hash, so a damaged record
// cannot make one check take a gigabyte or a minute.
const (
	maxArgonTime   = 10
	maxArgonMemory = 256 * 1024
)

// hasher runs argon2id, at most cap(slots) at a time, with at most
// queueLimit callers waiting for a slot; past that, rate_limited.
type hasher struct {
	slots      chan struct{}
	queueLimit int64
	waiting    atomic.Int64
	rand       io.Reader
	// m, t are the parameters of new hashes (tests lower them).
	m, t uint32
}

func newHasher(concurrency, queueLimit int, rand io.Reader, memory, passes uint32) *hasher {
	return &hasher{slots: make(chan struct{}, concurrency), queueLimit: int64(queueLimit), rand: rand, m: memory, t: passes}
}

// acquire waits for a hashing slot.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.queueLimit {
		h.waiting.Add(-1)
		return rateLimited("too many password checks at once; retry shortly", time.Second)
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.slots }

// hash returns the PHC string of a new argon2id hash of pw:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, h.t, h.m, argonThreads, argonKeyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.m, h.t, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// check reports whether pw matches the PHC string stored. A stored string
// that does not parse is an error, not a mismatch.
func (h *hasher) check(ctx context.Context, stored, pw string) (bool, error) {
	p, err := parsePHC(stored)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.t, p.m, p.p, uint32(len(p.key)))
	h.release()
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type phc struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

func parsePHC(s string) (phc, error) {
	var p phc
	bad := fmt.Errorf("stored password hash is malformed")
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, bad
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.m, &p.t, &threads); n != 3 || err != nil {
		return p, bad
	}
	if p.m < 8 || p.m > maxArgonMemory || p.t < 1 || p.t > maxArgonTime || threads < 1 || threads > 4 {
		return p, bad
	}
	p.p = uint8(threads)
	var err1, err2 error
	p.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	p.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(p.salt) < 8 || len(p.key) < 16 || len(p.key) > 64 {
		return p, bad
	}
	return p, nil
}
