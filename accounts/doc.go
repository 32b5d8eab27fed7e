// Package accounts owns the players' accounts: the credentials that reach
// a player (device ids, email and password, studio tickets), password
// hashes and the password lockout, bans, and the session and refresh
// tokens with their revocation, all kept in S3 beside the players so that
// every server and every restart sees the same accounts.
//
// It imports nothing of Rampart's but bookkeeper; state and api import it.
// Every S3 call goes through the *bookkeeper.Keeper given to New (the
// server's "s3" keeper), one op name per kind of call: s3:cred_get,
// s3:cred_create, s3:account_get, s3:account_create, s3:account_put and
// s3:confirm_get (the read after a 412, below). This package is the only
// layer that bookkeeps them. Blobs is the consumer-side interface; the
// server adapts state.Blobs to it (Create is Put with If-None-Match: *,
// Replace is Put with If-Match, and state's ErrNotFound and
// ErrPrecondition are wrapped as ErrObjectNotFound and ErrPrecondition).
//
// # S3 keys
//
//	cred/device/<hex sha256(device_id)>          → credential object
//	cred/email/<hex sha256(normalised email)>    → credential object
//	cred/ticket/<hex sha256(ticket sub)>         → credential object
//	accounts/<player_id>                         → account object
//
// A credential is named by a hash, so neither a device id (a secret) nor
// an email is ever stored or listed in clear. Player ids are "u" and 22
// characters of base64url (128 random bits): ValidPlayerID. Any other id
// is not an account's, which is how the development door keeps its own id
// space (DevSession refuses account-shaped ids).
//
// # Records
//
// Credential object, written once with If-None-Match: * and never
// changed:
//
//	{"v": 1, "player_id": "u…", "created": <Unix ms>}
//
// Account object, every change a read-modify-write with If-Match:
//
//	{
//	  "v":            1,
//	  "id":           "u…",                     the player id (must match the key)
//	  "created":      <Unix ms>,
//	  "creds":        [{"kind": "device"|"email"|"ticket", "key": "cred/…"}],
//	  "password":     "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", absent without an email
//	  "fails":        [<Unix ms>, …],           failed password sign-ins inside the window
//	  "locked_until": <Unix ms>,                password sign-in locked until then; absent when 0
//	  "gen":          <uint64>,                 token generation (revocation, below)
//	  "family":       "<random>",               an earlier version's refresh-token family (Rotation.Legacy); never written now, dropped by a revocation
//	  "counter":      <uint64>,                 that family's next unspent refresh counter
//	  "ban":          {"until": <Unix ms, 0 = for ever>, "reason": "…", "at": <Unix ms>}, absent when not banned
//	  "w":            "<random>"                write nonce, new on every write
//	}
//
// The write nonce makes every write's bytes unique. A write whose reply
// was lost lands anyway; the bookkeeper's retry then meets it and gets 412.
// Every 412 is checked by reading the object back: if it holds exactly our
// bytes, the write was ours (without this a link or a counted failure
// whose reply was lost would be tried again on a changed account; state's
// player writes do the same, so that a refresh whose reply was lost does
// not look like a reuse).
//
// # Creation, and orphans
//
// SignIn with create writes the account object under a fresh id first,
// then the credential object with If-None-Match: *. Of two servers
// creating one credential at once, one credential write wins; the loser
// signs in to the winner's account (an email loser must know the
// winner's password), and its own account object is left unreachable: no
// credential names it. Orphans cost a few hundred bytes per lost race or
// crash between the two writes and are harmless; a sweep may delete
// accounts/<id> objects no credential points at. A credential never
// points at a missing account.
//
// Link writes the credential object first (If-None-Match: *; a 412 whose
// owner is this account is success) and then adds it to the account. If
// the second write does not land, the credential still reaches the
// account; an email then has no password (sign-in answers
// bad_credentials) until it is linked again, which repairs it. An account
// has at most one email; linking the one it has again replaces its
// password hash.
//
// # Email addresses
//
// NormalizeEmail: net/mail.ParseAddress must accept the input as one bare
// address (no display name, brackets or comments); ASCII only (every byte
// 0x21–0x7e), so Unicode look-alikes ("аlice" with a Cyrillic а, fullwidth
// letters) are refused rather than normalised, and internationalised
// domains come in their xn-- form; a dot-atom local part of at most 64
// bytes (no quoted strings); at least two domain labels of [a-z0-9-]; at
// most 254 bytes. The whole address is lower-cased before hashing (the
// local part too: no provider in use distinguishes case, and two accounts
// differing only by case invite impersonation).
//
// # Passwords
//
// 8–128 Unicode code points of valid UTF-8, used as given (no
// normalisation). Hashed with argon2id (golang.org/x/crypto/argon2),
// m = 19456 KiB, t = 2, p = 1, 16-byte random salt, 32-byte key: OWASP's
// first profile. One lane, because hashes are already bounded to about one
// per core (Config.HashConcurrency, default GOMAXPROCS), so one sign-in
// never takes more than one core from the game; a storm waits in a queue
// of Config.HashQueue (default 64) and past it answers rate_limited
// (Retry-After 1 s). The parameters are stored in each hash, so raising
// them later leaves old hashes valid. Measured on this AMD EPYC (2 cores
// shared with other jobs):
//
//	go test -run='^$' -bench=PasswordCheck -benchtime=3s ./accounts/
//	BenchmarkPasswordCheck-2  ~28-34 ms/op wall, 26-28 cpu-ms/op, 19.9 MB/op
//
// so a 2-core server checks about 70 passwords a second at most, with
// 2 × 19 MiB of hash memory at peak.
//
// # Lockout
//
// A wrong password appends now to the account's fails (dropping entries
// older than FailWindow, 15 min); the MaxFailures-th (5th) inside the
// window sets locked_until = now + LockFor (15 min) and clears fails.
// While locked, email sign-in answers rate_limited with RetryAfter =
// locked_until − now, before any hashing, whatever the password; device
// and ticket sign-ins are not affected. A successful password sign-in
// clears fails. All of it lives in the account object, so every server
// and restart sees it.
//
// # Tokens
//
// Session and refresh tokens are HMAC-SHA256 signed, with a key derived
// from Config.TokenKey (HMAC(TokenKey, "rampart/accounts/token/v1")):
//
//	session: s1.<player_id>.<gen>.<session_id>.<expires Unix ms>.<mac>
//	refresh: r1.<player_id>.<gen>.<family>.<counter>.<expires Unix ms>.<mac>
//
// mac is the unpadded base64url HMAC of everything before the last dot;
// the kind prefix keeps the two from standing in for each other. Session
// ids and families are 96 random bits. Sessions live Config.SessionTTL
// (1 h), refresh tokens Config.RefreshTTL (30 days). Verify checks a
// session's MAC (constant time) and expiry, does no I/O and allocates
// nothing (~0.5 µs: BenchmarkVerify); the caller compares the claims'
// generation and session id with what it holds.
//
// # Revocation
//
// A token is good only while its gen equals the account's gen. Revoke
// (logout), Ban and a refresh-token reuse add one to gen, durably in the
// account, so the tokens stay dead on every server and after restarts.
// Unban lifts the ban and leaves the revoked tokens revoked. Dev sessions
// have gen 0 and no account. The server that signs the player out for a
// revocation writes the new gen into the player's object too (state's
// Player.Revoked), so that a refresh or resume checked against the
// account just before the revocation, and loading the player just after
// it, is refused all the same.
//
// Refresh-token families live with the player, not in the account: state
// writes the player's object at every sign-in anyway (the lease), so
// holding the family there spares a sign-in an account write (a returning
// device sign-in is 4 S3 calls, one of them a write, where it was 5 with
// two). A grant says what it does to the family (Rotation), and state
// writes that before it answers. Each sign-in starts a new family
// (counter 0): the previous family's refresh tokens stop working without
// revoking anything. Refresh checks the token and the account's ban and
// gen, and leaves to state (under the player's lock, or in the load that
// reads the player's object) whether the token is its family's unspent
// one: then the counter advances; a token of the family whose counter is
// behind (spent: it was copied, or a client replayed it) makes the api
// revoke the account (gen+1) and answer unauthorized; any other token (a
// superseded family) is unauthorized and changes nothing. The logins
// that check or change one player's family run one at a time, each until
// its write has landed or been undone: a write that fails leaves the
// family as it was (or, a lease write that may have landed unanswered,
// lets the same token through once more on that server), so a refresh
// whose answer never came can be tried again, and a second refresh with
// the same token waits for the first's write. A refresh of a player not
// in memory is checked against the object its load reads, before the
// load takes the player over, so a superseded token never ends the live
// session on another server; where no server holds the player, the
// family's next counter rides on the lease write, so such a refresh is
// 3 S3 calls (account, player, lease) with one write.
// Tokens minted by an earlier version, whose family the account object
// holds, refresh once while the player's object holds no family
// (Rotation.Legacy); after that refresh (ForgetLegacy), a sign-in or a
// revocation the account forgets the family, so it never comes back.
//
// # Tickets
//
// A studio's compact JWS (RFC 7515), checked by TicketVerifier with the
// one configured key: HS256 with a secret of at least 32 bytes, or EdDSA
// with an Ed25519 public key. The header's alg must be the one for that
// key (no "none", no swapping), unknown crit parameters are refused,
// base64url must be unpadded and canonical, the signature is checked
// (constant time) before the claims are parsed; sub (1–255 bytes) and a
// numeric exp are required; exp in the past, nbf or iat in the future,
// each beyond TicketLeeway (30 s), are refused. Tickets are at most 8 KiB.
//
// # Errors
//
// Refusals are *Error with API.md's codes (compare with errors.Is against
// ErrBadRequest, ErrBadCredentials, ErrUnauthorized, ErrNotFound,
// ErrAlreadyExists, ErrBanned (Until), ErrRateLimited (RetryAfter)); S3
// failures wrap ErrUnavailable.
//
// # Per-address limits
//
// KeyedLimiter is a token bucket per key in bounded memory (at most
// maxKeys buckets over 16 shards; when full, the idlest of 5 sampled
// buckets is evicted), for the api's per-address limits on the sign-in
// routes. 1M keys cost about 70 MB of map and buckets (measured), plus
// the key strings themselves.
package accounts
