package accounts

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"rampart/bookkeeper"
)

// Blobs is the part of S3 the accounts need. The server's S3 client
// satisfies it through a small adapter that turns conditional puts into
// Create and Replace and maps its two sentinel errors onto these.
type Blobs interface {
	// Get returns the object's bytes and ETag, or an error wrapping
	// ErrObjectNotFound.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	// Create writes the object only if no object has key (If-None-Match: *),
	// else an error wrapping ErrPrecondition.
	Create(ctx context.Context, key string, data []byte) (etag string, err error)
	// Replace writes the object only if its ETag is still etag (If-Match),
	// else an error wrapping ErrPrecondition.
	Replace(ctx context.Context, key string, data []byte, etag string) (newETag string, err error)
}

var (
	// ErrObjectNotFound means no object has that key.
	ErrObjectNotFound = errors.New("object not found")
	// ErrPrecondition means a conditional write lost.
	ErrPrecondition = errors.New("precondition failed")
)

// The rules of API.md that are not configuration.
const (
	MaxFailures = 5                // failed password sign-ins …
	FailWindow  = 15 * time.Minute // … within this window …
	LockFor     = 15 * time.Minute // … lock password sign-in this long
)

// Defaults for zero Config fields.
const (
	DefaultSessionTTL = time.Hour
	DefaultRefreshTTL = 30 * 24 * time.Hour
	DefaultHashQueue  = 64
)

// maxCAS bounds the read-modify-write rounds one change of an account
// makes before it gives up as unavailable: a player's account is written
// by that player's sign-ins and by operators, so losing this often means
// something is wrong. Between rounds a loser waits a random moment, up to
// casBackoff times the round, so a crowd of writers spreads out.
const (
	maxCAS     = 16
	casBackoff = 2 * time.Millisecond
)

// Config configures Accounts. Zero fields take the defaults.
type Config struct {
	// TokenKey signs session and refresh tokens: at least 32 secret bytes,
	// the same on every server of a cluster.
	TokenKey []byte
	// SessionTTL and RefreshTTL bound the tokens' lives. Defaults 1 h and
	// 30 days.
	SessionTTL, RefreshTTL time.Duration
	// TicketSecret (HS256) or TicketPublicKey (EdDSA) checks studio
	// tickets; neither disables ticket sign-in.
	TicketSecret    []byte
	TicketPublicKey ed25519.PublicKey
	// HashConcurrency bounds argon2id hashes running at once (default
	// GOMAXPROCS); HashQueue bounds the callers waiting for one (default
	// 64), past which sign-ins answer rate_limited.
	HashConcurrency, HashQueue int
	// PasswordMemoryKiB and PasswordPasses set argon2id's cost for new
	// hashes; zero takes the production values (doc.go). Only tests lower
	// them, so that -race runs stay quick.
	PasswordMemoryKiB, PasswordPasses uint32
	// Now is the clock (default time.Now) and Rand the randomness of ids,
	// salts and nonces (default crypto/rand.Reader); both are injected so
	// tests can drive lockout windows and expiry without sleeping.
	Now  func() time.Time
	Rand io.Reader
}

// Accounts owns the players' accounts: credentials, passwords, tickets,
// session and refresh tokens, lockout and bans. It is safe for concurrent
// use, and any number of servers may share one bucket.
type Accounts struct {
	cfg     Config // normalized by New; read-only afterwards
	blobs   Blobs
	s3      *bookkeeper.Keeper
	tokens  *signer
	tickets *TicketVerifier
	hasher  *hasher
}

// New returns Accounts kept in blobs, every S3 call going through s3.
func New(cfg Config, blobs Blobs, s3 *bookkeeper.Keeper) (*Accounts, error) {
	if len(cfg.TokenKey) < 32 {
		return nil, errors.New("accounts: TokenKey must be at least 32 bytes")
	}
	tickets, err := NewTicketVerifier(cfg.TicketSecret, cfg.TicketPublicKey)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.HashConcurrency <= 0 {
		cfg.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.HashQueue <= 0 {
		cfg.HashQueue = DefaultHashQueue
	}
	if cfg.PasswordMemoryKiB == 0 {
		cfg.PasswordMemoryKiB = argonMemory
	}
	if cfg.PasswordPasses == 0 {
		cfg.PasswordPasses = argonTime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = crand.Reader
	}
	return &Accounts{
		cfg:     cfg,
		blobs:   blobs,
		s3:      s3,
		tokens:  newSigner(cfg.TokenKey),
		tickets: tickets,
		hasher:  newHasher(cfg.HashConcurrency, cfg.HashQueue, cfg.Rand, cfg.PasswordMemoryKiB, cfg.PasswordPasses),
	}, nil
}

// Credential is one way into an account. Exactly one kind is set:
// DeviceID; or Email and Password; or Ticket.
type Credential struct {
	DeviceID        string
	Email, Password string
	Ticket          string
}

// Kinds of credential, as Info.Credentials lists them.
const (
	KindDevice = "device"
	KindEmail  = "email"
	KindTicket = "ticket"
)

// Grant is a successful sign-in or refresh.
type Grant struct {
	PlayerID string
	Created  bool // this call made the account
	// Session is the session token; Claims are its contents, for state to
	// adopt (the session id and the generation it must match).
	Session string
	Claims  Claims
	// Refresh is the refresh token, spent by its first use.
	Refresh        string
	RefreshExpires time.Time
	// Rotation is what this grant does to the player's refresh-token
	// family, which state keeps with the player and must write before it
	// answers (doc.go, "Revocation").
	Rotation Rotation
}

// Rotation is what a grant does to its player's refresh-token family. The
// family lives in the player's object, not the account's: state writes
// the player at every sign-in anyway (its lease), so a sign-in supersedes
// the previous family without an account write (doc.go, "Revocation").
// The zero Rotation (a resumed or development session) leaves it alone.
type Rotation struct {
	// Family and Counter are the minted refresh token's.
	Family  string
	Counter uint64
	// Refresh: the grant spends the token of Family at Counter-1, which
	// must be the family's unspent one (a spent one is a reuse). Without
	// it the grant is a sign-in, starting Family at Counter 0.
	Refresh bool
	// Legacy: the spent token is of the family an account object held
	// before families moved to the player (an account written by an
	// earlier version), and unspent there; good only for a player whose
	// object holds no family yet.
	Legacy bool
}

// Info is an account as it may be shown to its player or an operator.
// It never holds a secret or a hash.
type Info struct {
	PlayerID    string   `json:"player_id"`
	Created     int64    `json:"created"`     // Unix ms
	Credentials []string `json:"credentials"` // kinds, sorted, each once
	Ban         *Ban     `json:"ban,omitempty"`
	// Gen is the token generation: a session token is good only while its
	// Claims.Gen equals it. For state, not for the wire.
	Gen uint64 `json:"-"`
}

// Ban is an account's ban, in force while Until is 0 or after now.
type Ban struct {
	Until  int64  `json:"until"` // Unix ms; 0 for ever
	Reason string `json:"reason"`
	At     int64  `json:"at"` // Unix ms, when it was set
}

func (b *Ban) inForce(now time.Time) bool {
	return b != nil && (b.Until == 0 || now.UnixMilli() < b.Until)
}

func (b *Ban) until() time.Time {
	if b.Until == 0 {
		return time.Time{}
	}
	return time.UnixMilli(b.Until)
}

// record is the account object, accounts/<player_id> (doc.go, "Records").
type record struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	Created     int64     `json:"created"`
	Creds       []credRef `json:"creds"`
	Password    string    `json:"password,omitempty"`
	Fails       []int64   `json:"fails,omitempty"`
	LockedUntil int64     `json:"locked_until,omitempty"`
	Gen         uint64    `json:"gen"`
	// Family and Counter are an earlier version's refresh-token family,
	// good for one refresh (Rotation.Legacy) and forgotten after it
	// (ForgetLegacy), at a sign-in or a revocation; never set now.
	Family  string `json:"family,omitempty"`
	Counter uint64 `json:"counter,omitempty"`
	Ban     *Ban   `json:"ban,omitempty"`
	Write   string `json:"w"`
}

type credRef struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
}

// credObject is a credential's object, cred/<kind>/<hash>.
type credObject struct {
	V        int    `json:"v"`
	PlayerID string `json:"player_id"`
	Created  int64  `json:"created"`
}

const schema = 1

// playerIDLen is "u" and base64url of 16 random bytes.
const playerIDLen = 1 + 22

func accountKey(id string) string { return "accounts/" + id }

func credKey(kind, secret string) string {
	h := sha256.Sum256([]byte(secret))
	return "cred/" + kind + "/" + hex.EncodeToString(h[:])
}

// parsed is a validated credential.
type parsed struct {
	kind, key string
	password  string // email only
}

// parse validates c and names its object. Tickets are verified here.
func (a *Accounts) parse(c Credential) (parsed, error) {
	n := 0
	for _, s := range []string{c.DeviceID, c.Email + c.Password, c.Ticket} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return parsed{}, badRequest("give exactly one credential: device_id, email and password, or ticket")
	}
	switch {
	case c.DeviceID != "":
		if err := checkDeviceID(c.DeviceID); err != nil {
			return parsed{}, err
		}
		return parsed{kind: KindDevice, key: credKey(KindDevice, c.DeviceID)}, nil
	case c.Ticket != "":
		sub, err := a.tickets.Verify(c.Ticket, a.cfg.Now())
		if err != nil {
			return parsed{}, err
		}
		return parsed{kind: KindTicket, key: credKey(KindTicket, sub)}, nil
	}
	email, err := NormalizeEmail(c.Email)
	if err != nil {
		return parsed{}, err
	}
	if err := checkPassword(c.Password); err != nil {
		return parsed{}, err
	}
	return parsed{kind: KindEmail, key: credKey(KindEmail, email), password: c.Password}, nil
}

// SignIn signs in with c, making the account first if create is set and
// no account has c. Two servers creating the same credential at once make
// one account: the loser signs in to the winner's.
//
// Errors: bad_request (c breaks API.md's rules), bad_credentials (wrong
// password, bad ticket), not_found (no account and !create), banned,
// rate_limited (password sign-in locked, or the hash queue full),
// ErrUnavailable (S3).
func (a *Accounts) SignIn(ctx context.Context, c Credential, create bool) (Grant, error) {
	p, err := a.parse(c)
	if err != nil {
		return Grant{}, err
	}
	id, err := a.lookup(ctx, p.key)
	if errors.Is(err, ErrNotFound) && create {
		var g Grant
		g, id, err = a.create(ctx, p)
		if err == nil && g.Created {
			return g, nil
		}
	}
	if err != nil {
		return Grant{}, err
	}
	var snap *snapshot
	if p.kind == KindEmail {
		if snap, err = a.checkPassword(ctx, id, p.password); err != nil {
			return Grant{}, err
		}
	}
	// The account is written only to clear counted password failures or
	// an earlier version's family (once): the new refresh-token family
	// goes into the player's object with its lease (Rotation), one S3
	// write fewer per sign-in.
	r, err := a.updateFrom(ctx, id, snap, func(r *record) (bool, error) {
		now := a.cfg.Now()
		if p.kind == KindEmail && r.LockedUntil > now.UnixMilli() {
			return false, rateLimited("password sign-in is locked for this account", time.UnixMilli(r.LockedUntil).Sub(now))
		}
		if r.Ban.inForce(now) {
			return false, banned(r.Ban.until())
		}
		changed := r.Family != "" // superseded by this sign-in: never legacy again
		r.Family, r.Counter = "", 0
		if p.kind == KindEmail && r.Fails != nil {
			r.Fails, changed = nil, true
		}
		return changed, nil
	})
	if err != nil {
		return Grant{}, err
	}
	return a.signedIn(r, false)
}

// lookup returns the player id that credential key belongs to, or
// ErrNotFound.
func (a *Accounts) lookup(ctx context.Context, key string) (string, error) {
	data, _, err := a.get(ctx, "s3:cred_get", key)
	if errors.Is(err, ErrObjectNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", unavailable("read credential", err)
	}
	var o credObject
	if err := json.Unmarshal(data, &o); err != nil {
		return "", fmt.Errorf("credential %s is malformed: %w", key, err)
	}
	if o.V != schema || o.PlayerID == "" {
		return "", fmt.Errorf("credential %s has schema %d and player %q: not ours", key, o.V, o.PlayerID)
	}
	return o.PlayerID, nil
}

// create makes an account for p: first the account object under a fresh
// id, then the credential with If-None-Match. If the credential was made
// meanwhile, the new account is left unreachable (doc.go, "Orphans") and
// create returns the winner's id with Created false.
func (a *Accounts) create(ctx context.Context, p parsed) (Grant, string, error) {
	id, err := a.randomID("u", 16)
	if err != nil {
		return Grant{}, "", err
	}
	now := a.cfg.Now()
	r := record{V: schema, ID: id, Created: now.UnixMilli(), Creds: []credRef{{Kind: p.kind, Key: p.key}}}
	if p.kind == KindEmail {
		if r.Password, err = a.hasher.hash(ctx, p.password); err != nil {
			return Grant{}, "", err
		}
	}
	data, err := a.encode(&r)
	if err != nil {
		return Grant{}, "", err
	}
	if _, err := a.createObject(ctx, "s3:account_create", accountKey(id), data); err != nil {
		return Grant{}, "", unavailable("create account", err) // a 412 on 128 random bits is not a race
	}
	owner, err := a.claim(ctx, p.key, id)
	if err != nil {
		return Grant{}, "", err
	}
	if owner != id {
		return Grant{}, owner, nil
	}
	g, err := a.signedIn(r, true)
	return g, id, err
}

// claim creates credential key for id, or finds whom it belongs to.
func (a *Accounts) claim(ctx context.Context, key, id string) (owner string, err error) {
	data, err := json.Marshal(credObject{V: schema, PlayerID: id, Created: a.cfg.Now().UnixMilli()})
	if err != nil {
		return "", err
	}
	_, err = a.createObject(ctx, "s3:cred_create", key, data)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, ErrPrecondition) {
		return "", unavailable("create credential", err)
	}
	return a.lookup(ctx, key)
}

// checkPassword checks pw against account id's hash, counting a failure
// in the account, and returns the account as it read it. It hashes at
// most once, whatever the CAS rounds.
func (a *Accounts) checkPassword(ctx context.Context, id, pw string) (*snapshot, error) {
	r, etag, err := a.load(ctx, id)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now()
	if r.LockedUntil > now.UnixMilli() {
		return nil, rateLimited("password sign-in is locked for this account", time.UnixMilli(r.LockedUntil).Sub(now))
	}
	if r.Password == "" { // the email was linked, and the account write did not land: link again
		return nil, badCredentials("wrong email or password")
	}
	ok, err := a.hasher.check(ctx, r.Password, pw)
	if err != nil {
		return nil, err
	}
	if ok {
		return &snapshot{r, etag}, nil
	}
	_, err = a.updateFrom(ctx, id, &snapshot{r, etag}, func(r *record) (bool, error) {
		now := a.cfg.Now()
		ms := now.UnixMilli()
		if r.LockedUntil > ms {
			return false, rateLimited("password sign-in is locked for this account", time.UnixMilli(r.LockedUntil).Sub(now))
		}
		r.Fails = slices.DeleteFunc(r.Fails, func(t int64) bool { return t <= ms-FailWindow.Milliseconds() })
		r.Fails = append(r.Fails, ms)
		if len(r.Fails) >= MaxFailures {
			r.Fails = nil
			r.LockedUntil = now.Add(LockFor).UnixMilli()
		}
		return true, badCredentials("wrong email or password")
	})
	return nil, err
}

// signedIn mints the tokens of a sign-in to r: a new refresh-token family,
// which supersedes the previous one once state has written it.
func (a *Accounts) signedIn(r record, created bool) (Grant, error) {
	f, err := a.randomID("", 12)
	if err != nil {
		return Grant{}, err
	}
	return a.grant(r, created, Rotation{Family: f})
}

// grant mints the tokens for r's current generation and rot's family and
// counter.
func (a *Accounts) grant(r record, created bool, rot Rotation) (Grant, error) {
	now := a.cfg.Now()
	sid, err := a.randomID("", 12)
	if err != nil {
		return Grant{}, err
	}
	c := Claims{Player: r.ID, Gen: r.Gen, Session: sid, Expires: now.Add(a.cfg.SessionTTL).UnixMilli()}
	rexp := now.Add(a.cfg.RefreshTTL)
	return Grant{
		PlayerID: r.ID,
		Created:  created,
		Session:  a.tokens.signSession(c),
		Claims:   c,
		Refresh: a.tokens.signRefresh(refreshClaims{Player: r.ID, Gen: r.Gen, Family: rot.Family,
			Counter: rot.Counter, Expires: rexp.UnixMilli()}),
		RefreshExpires: rexp,
		Rotation:       rot,
	}, nil
}

// Verify checks a session token's signature and expiry and returns its
// claims. It does no I/O: the caller compares Claims.Gen with the
// account's generation it holds (state keeps it with the online player)
// and Claims.Session with the live session.
func (a *Accounts) Verify(token string) (Claims, error) {
	c, err := a.tokens.verifySession(token, a.cfg.Now())
	if err != nil {
		return Claims{}, ErrUnauthorized
	}
	return c, nil
}

// DevSession mints a session token for the development door: generation 0,
// no refresh token. It refuses ids that could be an account's, so the door
// never reaches an account (API.md: separate id spaces).
func (a *Accounts) DevSession(playerID string) (Grant, error) {
	if playerID == "" || len(playerID) > 64 || !idChars(playerID) || ValidPlayerID(playerID) {
		return Grant{}, badRequest("player_id must be 1-64 characters of [A-Za-z0-9_-] and not an account's id")
	}
	sid, err := a.randomID("", 12)
	if err != nil {
		return Grant{}, err
	}
	c := Claims{Player: playerID, Session: sid, Expires: a.cfg.Now().Add(a.cfg.SessionTTL).UnixMilli()}
	return Grant{PlayerID: playerID, Session: a.tokens.signSession(c), Claims: c}, nil
}

// Refresh checks refresh token and the account it names (its ban and
// generation) and returns a new session and the family's next refresh
// token. Whether the token is the family's unspent one is state's check,
// against the player's family before it adopts the grant
// (Rotation.Refresh): the family lives with the player. A token of an
// older generation, or of a banned account, changes nothing.
func (a *Accounts) Refresh(ctx context.Context, token string) (Grant, error) {
	c, err := a.tokens.verifyRefresh(token, a.cfg.Now())
	if err != nil {
		return Grant{}, ErrUnauthorized
	}
	r, _, err := a.load(ctx, c.Player)
	switch {
	case errors.Is(err, ErrNotFound):
		return Grant{}, ErrUnauthorized
	case err != nil:
		return Grant{}, err
	case r.Ban.inForce(a.cfg.Now()):
		return Grant{}, banned(r.Ban.until())
	case c.Gen != r.Gen:
		return Grant{}, ErrUnauthorized
	}
	return a.grant(r, false, Rotation{Family: c.Family, Counter: c.Counter + 1, Refresh: true,
		Legacy: r.Family != "" && r.Family == c.Family && r.Counter == c.Counter})
}

// ForgetLegacy drops an earlier version's family from the account, once
// a refresh of it (Rotation.Legacy) has moved the family to the player:
// a player object rewritten without its family (by a server of the
// earlier version) then never brings it back. Not done in Refresh, so
// that a refresh refused after it (storage down, the player moving) can
// be tried again.
func (a *Accounts) ForgetLegacy(ctx context.Context, playerID, family string) error {
	_, err := a.update(ctx, playerID, func(r *record) (bool, error) {
		if r.Family == "" || r.Family != family {
			return false, nil
		}
		r.Family, r.Counter = "", 0
		return true, nil
	})
	return err
}

// Revoke ends every session and refresh token of the account, on every
// server and for good (logout): it bumps the generation and returns the
// new one, which state keeps with the online player.
func (a *Accounts) Revoke(ctx context.Context, playerID string) (uint64, error) {
	r, err := a.update(ctx, playerID, func(r *record) (bool, error) {
		r.Gen++
		r.Family, r.Counter = "", 0
		return true, nil
	})
	return r.Gen, err
}

// Ban bans the account until until (zero: for ever) and revokes its
// tokens, returning the new generation. Signing the player out of the
// server it is on is state's part.
func (a *Accounts) Ban(ctx context.Context, playerID string, until time.Time, reason string) (uint64, error) {
	var ms int64
	if !until.IsZero() {
		ms = until.UnixMilli()
	}
	r, err := a.update(ctx, playerID, func(r *record) (bool, error) {
		r.Ban = &Ban{Until: ms, Reason: reason, At: a.cfg.Now().UnixMilli()}
		r.Gen++
		r.Family, r.Counter = "", 0
		return true, nil
	})
	return r.Gen, err
}

// Unban lifts the account's ban. Tokens revoked by the ban stay revoked.
func (a *Accounts) Unban(ctx context.Context, playerID string) error {
	_, err := a.update(ctx, playerID, func(r *record) (bool, error) {
		if r.Ban == nil {
			return false, nil
		}
		r.Ban = nil
		return true, nil
	})
	return err
}

// Link adds credential c to account playerID. Linking a credential the
// account already has succeeds and changes nothing (a password given
// again replaces the hash). Errors: already_exists (another account has
// it, or the account has another email), not_found, bad_request,
// bad_credentials (bad ticket), ErrUnavailable.
//
// The credential object is made first and the account updated second; if
// the second write does not land, sign-in by that credential still finds
// the account (an email then has no password until linked again).
func (a *Accounts) Link(ctx context.Context, playerID string, c Credential) error {
	p, err := a.parse(c)
	if err != nil {
		return err
	}
	r, _, err := a.load(ctx, playerID)
	if err != nil {
		return err
	}
	if p.kind == KindEmail {
		for _, cr := range r.Creds {
			if cr.Kind == KindEmail && cr.Key != p.key {
				return &Error{Code: "already_exists", Message: "this account already has an email"}
			}
		}
	}
	var hash string
	if p.kind == KindEmail {
		if hash, err = a.hasher.hash(ctx, p.password); err != nil {
			return err
		}
	}
	owner, err := a.claim(ctx, p.key, playerID)
	if err != nil {
		return err
	}
	if owner != playerID {
		return ErrAlreadyExists
	}
	_, err = a.update(ctx, playerID, func(r *record) (bool, error) {
		if p.kind == KindEmail {
			r.Password = hash
		}
		if !slices.Contains(r.Creds, credRef{Kind: p.kind, Key: p.key}) {
			r.Creds = append(r.Creds, credRef{Kind: p.kind, Key: p.key})
		} else if p.kind != KindEmail {
			return false, nil
		}
		return true, nil
	})
	return err
}

// Account returns the account's public view, or ErrNotFound.
func (a *Accounts) Account(ctx context.Context, playerID string) (Info, error) {
	r, _, err := a.load(ctx, playerID)
	if err != nil {
		return Info{}, err
	}
	kinds := []string{}
	for _, c := range r.Creds {
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
	}
	slices.Sort(kinds)
	return Info{PlayerID: r.ID, Created: r.Created, Credentials: kinds, Ban: r.Ban, Gen: r.Gen}, nil
}

// update applies fn to the account and writes it back with If-Match,
// re-reading and re-applying on a lost race. fn reports whether it
// changed r, and the outcome to return once the change is durable (an
// outcome can be a refusal that must still be written: a counted failure).
func (a *Accounts) update(ctx context.Context, id string, fn func(r *record) (bool, error)) (record, error) {
	return a.updateFrom(ctx, id, nil, fn)
}

// snapshot is an account as read, with its ETag.
type snapshot struct {
	r    record
	etag string
}

// updateFrom is update starting from snap, when the caller has just read
// the account (nil: read it).
func (a *Accounts) updateFrom(ctx context.Context, id string, snap *snapshot, fn func(r *record) (bool, error)) (record, error) {
	for round := range maxCAS {
		if round > 0 {
			if err := sleep(ctx, rand.N(casBackoff*time.Duration(min(round, 8)))); err != nil {
				return record{}, err
			}
		}
		var r record
		var etag string
		var err error
		if snap != nil {
			r, etag, snap = snap.r, snap.etag, nil
		} else if r, etag, err = a.load(ctx, id); err != nil {
			return record{}, err
		}
		changed, outcome := fn(&r)
		if !changed {
			return r, outcome
		}
		data, err := a.encode(&r)
		if err != nil {
			return record{}, err
		}
		err = a.replace(ctx, accountKey(id), data, etag)
		if err == nil {
			return r, outcome
		}
		if !errors.Is(err, ErrPrecondition) {
			return record{}, unavailable("write account "+id, err)
		}
	}
	return record{}, unavailable("write account "+id, fmt.Errorf("lost %d conditional writes in a row", maxCAS))
}

func (a *Accounts) load(ctx context.Context, id string) (record, string, error) {
	if !ValidPlayerID(id) {
		return record{}, "", ErrNotFound
	}
	data, etag, err := a.get(ctx, "s3:account_get", accountKey(id))
	if errors.Is(err, ErrObjectNotFound) {
		return record{}, "", ErrNotFound
	}
	if err != nil {
		return record{}, "", unavailable("read account "+id, err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return record{}, "", fmt.Errorf("account %s is malformed: %w", id, err)
	}
	if r.V != schema || r.ID != id {
		return record{}, "", fmt.Errorf("account %s has schema %d and id %q: not ours", id, r.V, r.ID)
	}
	return r, etag, nil
}

// encode marshals r with a fresh write nonce, so that no two writes of an
// account are the same bytes and a 412 can tell our own landed write from
// another's (see replace).
func (a *Accounts) encode(r *record) ([]byte, error) {
	w, err := a.randomID("", 9)
	if err != nil {
		return nil, err
	}
	r.Write = w
	return json.Marshal(r)
}

func (a *Accounts) get(ctx context.Context, op, key string) ([]byte, string, error) {
	var data []byte
	var etag string
	err := a.s3.Do(ctx, op, func(ctx context.Context) error {
		var err error
		data, etag, err = a.blobs.Get(ctx, key)
		return err
	})
	return data, etag, err
}

// createObject and replace write through the bookkeeper. A try can land at
// S3 and still fail here (its reply lost); the retry then meets our own
// write and gets 412. So a 412 is checked: if the object holds exactly
// what we wrote, the write is ours.
func (a *Accounts) createObject(ctx context.Context, op, key string, data []byte) (string, error) {
	var etag string
	err := a.s3.Do(ctx, op, func(ctx context.Context) error {
		var err error
		etag, err = a.blobs.Create(ctx, key, data)
		return err
	})
	return a.confirm(ctx, key, data, etag, err)
}

func (a *Accounts) replace(ctx context.Context, key string, data []byte, etag string) error {
	var next string
	err := a.s3.Do(ctx, "s3:account_put", func(ctx context.Context) error {
		var err error
		next, err = a.blobs.Replace(ctx, key, data, etag)
		return err
	})
	_, err = a.confirm(ctx, key, data, next, err)
	return err
}

func (a *Accounts) confirm(ctx context.Context, key string, data []byte, etag string, err error) (string, error) {
	if !errors.Is(err, ErrPrecondition) {
		return etag, err
	}
	got, current, gerr := a.get(ctx, "s3:confirm_get", key)
	if gerr == nil && bytes.Equal(got, data) {
		return current, nil
	}
	return "", err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// randomID returns prefix and n random bytes in base64url.
func (a *Accounts) randomID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(a.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
