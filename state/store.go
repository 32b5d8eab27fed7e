package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"rampart/accounts"
	"rampart/actions"
	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/journal"
	"rampart/profiler"
	"rampart/state/push"
)

// Errors the api maps onto statuses (API.md).
var (
	ErrBadPlayerID = errors.New("player_id must be 1-64 characters of [A-Za-z0-9_-]")
	ErrPlayerBusy  = errors.New("player is live on another server")
	ErrUnavailable = errors.New("storage unavailable")
	// ErrLostOwnership means a save found the object changed under us:
	// another server owns the player now.
	ErrLostOwnership = errors.New("lost ownership of player")
)

// Config tunes a Store. Zero fields take the defaults in NewStore.
type Config struct {
	// ServerID names this process in leases; unique per process start.
	ServerID string
	// Autosave is how often changed players are saved.
	Autosave time.Duration
	// IdleTimeout logs out a player with no requests for this long.
	IdleTimeout time.Duration
	// LeaseTTL is how long ownership lasts without renewal; saves renew it.
	LeaseTTL time.Duration
	// RateLimit and RateBurst are each player's request budget, HTTP
	// requests and WebSocket messages together (API.md: default 20/s,
	// bursts of 40).
	RateLimit float64
	RateBurst int
	// SaveConcurrency bounds the saves one sweep runs at once (shutdown
	// runs at least 64).
	SaveConcurrency int
	// MaxPlayers bounds the players online here (0: no bound): past it a
	// sign-in answers 503 and readiness says full, so the balancer sends
	// newcomers to another server.
	MaxPlayers int
	// Now is the game clock (injected in tests).
	Now func() time.Time
	// AfterFunc runs f after d on the game clock and returns a stop
	// function (injected in tests; default time.AfterFunc).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Store owns the online players: it logs them in from S3, serializes
// everything done to each, saves them back and logs them out.
type Store struct {
	cfg   Config
	blobs Blobs
	s3    *bookkeeper.Keeper
	gd    *gamedata.Holder
	accts *accounts.Accounts
	log   *slog.Logger

	players registry // player id -> *Online
	online  atomic.Int64
	loading atomic.Int64 // loads from S3 in flight
	loads   singleflight.Group
	unsure  unsureLeases // refreshes whose lease write may have landed unanswered

	// Profiler rows, resolved once.
	rows       map[string]*profiler.Row // "action:<name>"
	unknownRow *profiler.Row
	phase      struct{ load, decode, lease, encode, save, sweep *profiler.Row }

	counts Counts

	mongo Mongo // its nil parts are switched off
	async asyncState

	jrnl    *journal.Journal // nil: no journal (an A/B switch only)
	jrnlDir string
	// tails are players dropped after a journal failure, by the floor
	// (LSN+1) their next load replays the journal from.
	tailMu sync.Mutex
	tails  map[string]journal.LSN
	// pending are the records recovery read for players not recovered
	// yet, replayed from memory at their load (guarded by tailMu).
	pending map[string][]journal.Record
	// tailBusy holds the players whose waiting records a load or the
	// background recovery is handling now (guarded by tailMu).
	tailBusy map[string]chan struct{}

	chunks Chunks // nil: the journal is not shipped
	// prioritised: purchases bring the checkpoint forward
	// (valuableWithin), because no shipped journal holds them.
	prioritised  bool
	shipMu       sync.Mutex
	ship         shipper // guarded by shipMu
	tailsShipped shippedTails

	cl clusterState

	due dueQueue // the online players by dueAt: what the sweep looks at
}

// Counts are the store's lifetime counters.
type Counts struct {
	Logins        atomic.Int64 `json:"-"`
	Loads         atomic.Int64 `json:"-"`
	NewPlayers    atomic.Int64 `json:"-"`
	Saves         atomic.Int64 `json:"-"`
	SaveErrors    atomic.Int64 `json:"-"`
	LostOwnership atomic.Int64 `json:"-"`
	Busy          atomic.Int64 `json:"-"`
	// WriteConfirmed counts 412s that turned out to be our own earlier
	// try, landed after all.
	WriteConfirmed atomic.Int64 `json:"-"`
	// MailLost counts raid results for an offline attacker that could not
	// be sent to its mailbox.
	MailLost atomic.Int64 `json:"-"`
	// JournalErrors counts changes the journal could not take (503).
	JournalErrors atomic.Int64 `json:"-"`
	// TakenOver counts players loaded with a dead owner's shipped records.
	TakenOver atomic.Int64 `json:"-"`
}

// Deps are what a Store is built on.
type Deps struct {
	Blobs Blobs
	// S3 is the bookkeeper every Blobs call goes through.
	S3       *bookkeeper.Keeper
	GameData *gamedata.Holder
	// Accounts checks session tokens and holds the generation a token
	// must match (revocation).
	Accounts *accounts.Accounts
	Profiler *profiler.Profiler
	Log      *slog.Logger
	// Mongo is the MongoDB side; its adapters bookkeep their own calls.
	Mongo Mongo
	// Journal makes every change durable before its reply; nil runs
	// without (acknowledged then means in memory only). JournalDir is its
	// directory, read back after a journal failure.
	Journal    *journal.Journal
	JournalDir string
	// Chunks, if set, receives the shipped journal (S3): a server that
	// takes over a dead one's players replays what it shipped.
	Chunks Chunks
	// Cluster reaches the other servers (nil: one server alone).
	Cluster Cluster
}

// NewStore returns a store of players kept in d.Blobs, every S3 call going
// through d.S3 and timed in d.Profiler.
func NewStore(cfg Config, d Deps) *Store {
	prof, log := d.Profiler, d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Autosave <= 0 {
		cfg.Autosave = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = max(4*cfg.Autosave, 2*time.Minute)
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 20
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 40
	}
	if cfg.SaveConcurrency <= 0 {
		cfg.SaveConcurrency = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.ServerID == "" {
		cfg.ServerID = "rampart-" + NewSessionID()
	}
	s := &Store{cfg: cfg, blobs: d.Blobs, s3: d.S3, gd: d.GameData, accts: d.Accounts, log: log,
		mongo: d.Mongo, rows: make(map[string]*profiler.Row),
		jrnl: d.Journal, jrnlDir: d.JournalDir, tails: map[string]journal.LSN{}, chunks: d.Chunks,
		prioritised: d.Journal == nil || d.Chunks == nil}
	s.cl.c = d.Cluster
	for _, name := range actions.Names() {
		s.rows[name] = prof.Row("action:" + name)
	}
	s.async.rows = make(map[string]*profiler.Row)
	for _, name := range actions.AsyncNames() {
		s.rows[name] = prof.Row("action:" + name)
		s.async.rows[name] = prof.Row("async:" + name)
	}
	s.unknownRow = prof.Row("action:(unknown)")
	s.phase.load = prof.Row("login:load")
	s.phase.decode = prof.Row("login:decode")
	s.phase.lease = prof.Row("login:lease")
	s.phase.encode = prof.Row("save:encode")
	s.phase.save = prof.Row("save:put")
	s.phase.sweep = prof.Row("autosave")
	return s
}

// Loading is how many players are being loaded from S3 now.
func (s *Store) Loading() int64 { return s.loading.Load() }

// ServerID is the owner name this store writes into leases.
func (s *Store) ServerID() string { return s.cfg.ServerID }

// Online is one player in memory.
type Online struct {
	id string

	// mu is the player's single writer: every read or change of the fields
	// below it happens with mu held, in arrival order.
	mu      sync.Mutex
	p       Player
	session string // current session id; "" after logout
	gen     uint64 // the account's token generation the session must carry
	// limiter is the player's request budget (API.md rate limits); set
	// by the first login, it has its own lock.
	limiter *rate.Limiter
	changes uint64    // bumped by every change to p
	saved   uint64    // changes as of the last durable save
	gone    bool      // left memory; holders of this pointer must log in again
	leaving bool      // logout asked: leaves memory once a final save lands
	push    push.Slot // the live connection events are pushed to, and its timer
	// mailDone lists applied mail to delete from MongoDB once a save
	// holding its effect has landed.
	mailDone []string
	// jobs counts its asynchronous actions in flight; jobsIdle is closed
	// when it drops to 0 (nil while 0): a handoff waits a moment for them.
	jobs     int
	jobsIdle chan struct{}
	// ended is the session a shutdown's final save ended: its requests
	// answer 503 (retry: the player is moving), not 401.
	ended string
	// published is the index entry last sent for this player.
	published Summary
	// floor is 1 + an LSN at or below this player's first journal record
	// not in a landed save (0: none); savingFloor is the floor of the
	// save on the wire. The journal keeps every segment from the lowest.
	floor, savingFloor journal.LSN
	// lastTicket is the last record appended for this player.
	lastTicket journal.Ticket
	// poisoned: memory holds a change the journal could not take; the
	// player leaves memory unsaved.
	poisoned bool

	// refreshSeq counts the changes to the player's tokens (p.Refresh,
	// p.Revoked); refreshSaved is the count a landed write held. A login
	// that changed the family answers once refreshSaved reaches its change.
	// famMu orders the logins that check or change the family, each from
	// its check until its change has landed or been undone, so that each
	// checks a family S3 holds.
	refreshSeq, refreshSaved uint64
	famMu                    sync.Mutex

	// saveMu serializes saves and guards etag, the ETag of our last write.
	saveMu sync.Mutex
	etag   string

	lastActive atomic.Int64 // Unix ms of the last request

	// dueAt (Unix ms; written under mu, with Store.setDue once the player
	// is online) is when the sweep next looks at this player: its autosave
	// moment, spread over the interval per player so the saves do not all
	// come in one burst. The sweep finds the players due in Store.due.
	dueAt   atomic.Int64
	dueSlot int // its entry in Store.due, index+1 (0: none); guarded by due.mu
}

// unsaved reports whether o holds a change no landed write has (o.mu
// held): of its state, or of its refresh-token family (one undone after
// a failed write).
func (o *Online) unsaved() bool {
	return o.changes != o.saved || o.refreshSaved != o.refreshSeq
}

// Session is an authenticated request's handle on its player.
type Session struct {
	o   *Online
	id  string
	gen uint64
}

// PlayerID is the session's player.
func (s Session) PlayerID() string { return s.o.id }

// LoginResult is what a login answers.
type LoginResult struct {
	Session string
	Player  json.RawMessage
}

// Login loads id (once, however many log in at the same moment), takes its
// lease and adopts the session c that accounts just signed (its session
// id and generation), replacing any previous session. c.Player must be id.
// rot is the grant's refresh-token family (accounts.Rotation): a sign-in's
// new family, or a refresh's next counter, checked against the player's
// family first; Login answers only once the player's object holds it. A
// refresh whose token is not the family's unspent one is refused:
// ErrRefreshReused for a spent one (the caller revokes the account), else
// ErrUnauthorized. The zero rot (a resumed session) keeps the family.
func (s *Store) Login(ctx context.Context, id string, c accounts.Claims, rot accounts.Rotation) (LoginResult, error) {
	return s.login(ctx, id, c, rot, false)
}

// LoginCreated is Login for an account accounts has just created
// (Grant.Created): no player can exist under its fresh id, so the load
// skips reading it and writes the new player with If-None-Match, one S3
// call fewer per sign-up. Should the object exist after all, the write's
// 412 sends the load the usual way.
func (s *Store) LoginCreated(ctx context.Context, id string, c accounts.Claims, rot accounts.Rotation) (LoginResult, error) {
	return s.login(ctx, id, c, rot, true)
}

// ErrRefreshReused means a refresh presented a token its family had
// already spent: it was copied, or replayed.
var ErrRefreshReused = errors.New("refresh token reused")

func (s *Store) login(ctx context.Context, id string, c accounts.Claims, rot accounts.Rotation, created bool) (LoginResult, error) {
	if !ValidID(id) {
		return LoginResult{}, ErrBadPlayerID
	}
	if c.Player != id || c.Session == "" {
		return LoginResult{}, fmt.Errorf("login %s with claims of %q: %w", id, c.Player, ErrUnauthorized)
	}
	if err := s.fenced(); err != nil {
		return LoginResult{}, err
	}
	s.counts.Logins.Add(1)
	l := &loginLoad{created: created, gen: c.Gen, rot: rot}
	for {
		o, led, err := s.load(ctx, id, l)
		if err != nil {
			return LoginResult{}, err
		}
		// Once a load this login led has landed rot with the lease, a
		// family at rot is this login's own (Store.own).
		l.landed = l.landed || led
		res, again, err := s.adopt(ctx, o, c, l)
		if again { // saved and left between our lookup and the lock
			continue
		}
		return res, err
	}
}

// adopt makes c o's session and applies l's rotation to its family (a
// family already at it is the login's own if Store.own says so); again
// means o left memory before it could, and the login loads it afresh.
func (s *Store) adopt(ctx context.Context, o *Online, c accounts.Claims, l *loginLoad) (res LoginResult, again bool, err error) {
	rot := l.rot
	if rot.Family != "" {
		o.famMu.Lock()
		defer o.famMu.Unlock()
	}
	now := s.cfg.Now()
	o.mu.Lock()
	if o.gone { // loaded again, a family at rot is still this login's own (landed)
		o.mu.Unlock()
		return LoginResult{}, true, nil
	}
	if c.Gen < o.gen {
		// Signed before a revocation this server has seen.
		o.mu.Unlock()
		return LoginResult{}, false, fmt.Errorf("login %s: token generation %d revoked: %w", o.id, c.Gen, ErrUnauthorized)
	}
	prev := o.p.Refresh // in S3: famMu held, every change before ours landed or was undone
	own := s.own(l, o.id, &o.p)
	if err := rotate(prev, rot); err != nil && !own {
		o.mu.Unlock()
		return LoginResult{}, false, fmt.Errorf("login %s: %w", o.id, err)
	}
	// mine is the family change this login waits for (none if own: the
	// lease write has it).
	var mine uint64
	if rot.Family != "" && !own {
		fam := l.target()
		if o.p.Refresh != fam {
			o.p.Refresh = fam
			o.refreshSeq++
		}
		mine = o.refreshSeq
	}
	o.session, o.gen = c.Session, c.Gen
	o.leaving = false
	if o.limiter == nil {
		o.limiter = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.RateBurst)
	}
	o.push.Replace(nil)
	s.schedule(o)
	o.lastActive.Store(now.UnixMilli())
	actions.CatchUp(&o.p.Base, s.gd.Current(), now)
	view, err := publicPlayer(&o.p)
	unsaved := o.refreshSaved < mine
	o.mu.Unlock()
	if err != nil {
		return LoginResult{}, false, err
	}
	if unsaved {
		// In memory already (or a refresh): the family is written now,
		// or the tokens would not outlive a crash, nor supersede the
		// previous family for good.
		// The write outlives a caller that gives up: one that landed
		// while the login undid it would leave S3 ahead of memory.
		if err := s.saveRefresh(context.WithoutCancel(ctx), o, mine, prev); err != nil {
			return LoginResult{}, false, fmt.Errorf("login %s: write the refresh-token family: %w", o.id, err)
		}
	}
	s.emit(Event{Time: now, Player: o.id, Kind: "login", OK: true})
	return LoginResult{Player: view}, false, nil
}

// saveRefresh saves o (famMu held, so the family is still mine's) until
// a landed write holds its family change mine. If none does, the change
// is undone to prev, with saveMu still held so that no other save can
// land it afterwards: its tokens are never handed out, so the same
// refresh may be tried again. The undoing is a change too, written by the
// next save.
func (s *Store) saveRefresh(ctx context.Context, o *Online, mine uint64, prev RefreshFamily) error {
	o.saveMu.Lock()
	defer o.saveMu.Unlock()
	err := s.saveLocked(ctx, o, saveRenew)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refreshSaved >= mine {
		return nil
	}
	switch {
	case err == nil: // a shutdown's final save took o out of memory meanwhile
		err = fmt.Errorf("player left memory: %w", ErrMoving)
	case errors.Is(err, ErrLostOwnership): // the tokens are good: sign in where it went
		err = fmt.Errorf("%w: %v", ErrMoving, err)
	}
	o.p.Refresh = prev
	o.refreshSeq++
	return err
}

// check is rotate of the leading login l's refresh against p's family
// (l nil: no login, nothing to check).
func (s *Store) check(l *loginLoad, id string, p *Player) error {
	if l == nil || s.own(l, id, p) {
		return nil
	}
	return rotate(p.Refresh, l.rot)
}

// rotate checks rot against the player's family cur: a sign-in (or the
// zero rot) always goes; a refresh only with cur's unspent token, or a
// legacy account family's while the player holds none.
func rotate(cur RefreshFamily, rot accounts.Rotation) error {
	if !rot.Refresh {
		return nil
	}
	spent := rot.Counter - 1
	switch {
	case cur.ID == "" && rot.Legacy:
		return nil
	case cur.ID != rot.Family:
		return fmt.Errorf("refresh token of a superseded family: %w", ErrUnauthorized)
	case spent == cur.Counter:
		return nil
	case spent < cur.Counter:
		return fmt.Errorf("refresh token %d of %d spent: %w", spent, cur.Counter, ErrRefreshReused)
	}
	return fmt.Errorf("refresh token %d ahead of its family's %d: %w", spent, cur.Counter, ErrUnauthorized)
}

// loginLoad is what a login asks of the load it leads. The load checks
// the token against the object it reads, before it writes the lease (and
// before it asks a server the player is live on to hand it over: a
// refused token must not end the session there): gen against the
// generation the player was revoked below, and a refresh against its
// family. The grant's family (rot) rides on the lease write.
type loginLoad struct {
	created bool   // accounts has just made the player's account (LoginCreated)
	gen     uint64 // the token's generation
	rot     accounts.Rotation
	landed  bool // a load this login led wrote rot with the lease
}

// target is the family l's rotation leaves (zero: none).
func (l *loginLoad) target() RefreshFamily {
	return RefreshFamily{ID: l.rot.Family, Counter: l.rot.Counter}
}

// own reports whether p's family is at the rotation of login l because l
// (or a try of the same token whose answer was a failure) put it there,
// so that its token is not spent but this login's.
func (s *Store) own(l *loginLoad, id string, p *Player) bool {
	if l == nil || l.rot.Family == "" || p.Refresh != l.target() {
		return false
	}
	return l.landed || l.rot.Refresh && s.unsure.is(id, unsureLease{fam: l.target(), lease: p.Lease})
}

// unsureLeases remembers, per player, the lease write of a refresh that
// failed but may have landed (its reply lost, the retries failed too):
// the client was answered a failure and tries the same token again, on
// this server (the lease routes it here), which must not then count as
// spent. An entry matches only an object that is still that very write
// (our lease, its expiry, the family), lasts until that lease would
// expire, and a successful lease write of the player forgets it. It
// holds a bounded number, making room by dropping the expired, then any.
type unsureLeases struct {
	mu sync.Mutex
	m  map[string]unsureLease
}

type unsureLease struct {
	fam   RefreshFamily
	lease Lease
}

const maxUnsure = 4096

func (u *unsureLeases) note(id string, w unsureLease, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[string]unsureLease)
	}
	if len(u.m) >= maxUnsure {
		for k, e := range u.m {
			if e.lease.Until <= now.UnixMilli() {
				delete(u.m, k)
			}
		}
	}
	for k := range u.m {
		if len(u.m) < maxUnsure {
			break
		}
		delete(u.m, k)
	}
	u.m[id] = w
}

func (u *unsureLeases) is(id string, w unsureLease) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	got, ok := u.m[id]
	return ok && got == w
}

func (u *unsureLeases) forget(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, id)
}

// refusedError is a load refused for its leader's token before it wrote
// anything: the logins that shared it load again, with their own.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// load returns the online player id, loading it from S3 if it is not in
// memory. Concurrent loads of one player share one S3 round trip; led
// says this call's l led one, and the object held what it checks. l is
// nil for a load that is no login (an administrator's grant).
func (s *Store) load(ctx context.Context, id string, l *loginLoad) (o *Online, led bool, err error) {
	for tries := 0; ; {
		if o, ok := s.players.load(id); ok {
			return o, false, nil
		}
		if s.isDraining() {
			return nil, false, fmt.Errorf("load player %s: server shutting down: %w", id, ErrMoving)
		}
		if s.Full() {
			return nil, false, fmt.Errorf("load player %s: %d players online: %w", id, s.OnlineCount(), ErrFull)
		}
		// The load outlives a caller that gives up: the others share it.
		led = false
		v, err, _ := s.loads.Do(id, func() (any, error) {
			if o, ok := s.players.load(id); ok {
				return o, nil
			}
			led = true // only the leader runs this
			o, err := s.fetch(context.WithoutCancel(ctx), id, l)
			if err != nil {
				return nil, err
			}
			s.players.store(id, o)
			s.due.set(o, o.dueAt.Load())
			s.online.Add(1)
			s.readMail(id, o.p.RaidsOut)
			return o, nil
		})
		var refused *refusedError
		if errors.As(err, &refused) && !led {
			// Another login's token: ours is not judged yet.
			if tries++; tries == leaseTries || ctx.Err() != nil {
				return nil, false, fmt.Errorf("load player %s: %d loads refused for other logins' tokens: %w", id, tries, ErrPlayerBusy)
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return v.(*Online), led, nil
	}
}

// leaseTries bounds how often a load starts over when the object changed
// between its read and its lease write (a raid settling on the offline
// player, or a racing server).
const leaseTries = 3

// fetch reads the player's object, checks and takes the lease. Its mail
// is read afterwards (readMail), so a slow MongoDB never holds a sign-in.
// With created its first try assumes there is no object to read.
func (s *Store) fetch(ctx context.Context, id string, l *loginLoad) (*Online, error) {
	s.loading.Add(1)
	defer s.loading.Add(-1)
	stale := "" // an owner that said it does not hold the player
	for try := 1; ; try++ {
		o, err := s.fetchOnce(ctx, id, stale, l != nil && l.created && try == 1, l)
		var owned *ownedError
		if errors.As(err, &owned) && try < leaseTries {
			// Live on another server that is alive: it hands the player
			// over (saved, lease released) and the load starts over.
			wasStale, herr := s.handOver(ctx, owned)
			if herr != nil {
				return nil, herr
			}
			if wasStale {
				stale = owned.owner
			}
			continue
		}
		if errors.Is(err, ErrPrecondition) && try < leaseTries {
			continue
		}
		if errors.Is(err, ErrPrecondition) {
			s.counts.Busy.Add(1)
			return nil, fmt.Errorf("lease player %s: written meanwhile: %w", id, ErrPlayerBusy)
		}
		return o, err
	}
}

func (s *Store) fetchOnce(ctx context.Context, id, stale string, assumeNew bool, l *loginLoad) (*Online, error) {
	// A player with journal records waiting is loaded by one hand at a
	// time: a background recovery writing it between our read and our
	// lease write would otherwise be overwritten (put adopts a version this
	// process wrote).
	release, err := s.claimTail(ctx, id, true)
	if err != nil {
		return nil, err
	}
	defer release()
	key := Key(id)
	now := s.cfg.Now()
	s.counts.Loads.Add(1)

	var data []byte
	var etag string
	t0 := time.Now()
	fresh := assumeNew
	if !assumeNew {
		err = s.s3.Do(ctx, "s3:get", func(ctx context.Context) error {
			var err error
			data, etag, err = s.blobs.Get(ctx, key)
			if errors.Is(err, ErrNotFound) { // a new player: an answer, not a failure
				fresh, err = true, nil
			}
			return err
		})
		s.phase.load.Record(time.Since(t0))
		if err != nil {
			return nil, fmt.Errorf("load player %s: %w: %w", id, ErrUnavailable, err)
		}
	}

	var p Player
	if fresh {
		p = Player{Schema: Schema, ID: id, Base: actions.New(s.gd.Current(), now), Created: now.UnixMilli()}
	} else {
		t0 = time.Now()
		p, err = decodePlayer(data)
		s.phase.decode.Record(time.Since(t0))
		if err != nil {
			return nil, fmt.Errorf("load player %s: %w", id, err)
		}
	}
	if l != nil && l.gen < p.Revoked {
		return nil, &refusedError{fmt.Errorf("login %s: token generation %d revoked (player at %d): %w", id, l.gen, p.Revoked, ErrUnauthorized)}
	}
	// A spent token is judged once no server holds the player live: S3 may
	// hold a family change its owner undid (a write that landed though
	// every reply was lost), and the owner hands over the family it holds.
	if err := s.check(l, id, &p); err != nil && !errors.Is(err, ErrRefreshReused) {
		return nil, &refusedError{fmt.Errorf("login %s: %w", id, err)}
	}
	takeover := false // of a live lease whose server is dead
	if owner := p.Lease.Owner; owner != "" && owner != s.cfg.ServerID && owner != stale && p.Lease.Until > now.UnixMilli() {
		switch s.ownerState(ctx, owner) {
		case Alive:
			return nil, &ownedError{player: id, owner: owner, until: p.Lease.Until}
		case Dead:
			takeover = true
		default:
			s.counts.Busy.Add(1)
			return nil, fmt.Errorf("load player %s: owned by %s until %d: %w", id, p.Lease.Owner, p.Lease.Until, ErrPlayerBusy)
		}
	}
	if err := s.check(l, id, &p); err != nil { // no server holds it live: a spent token too
		return nil, &refusedError{fmt.Errorf("login %s: %w", id, err)}
	}
	tail := s.hasTail(id) // after a restart, or after a journal failure dropped it
	var indexed Summary   // with a tail: the index's entry, the checkpoint's
	if tail {
		indexed = s.summary(&p, now)
		if err := s.replayTail(&p); err != nil {
			return nil, fmt.Errorf("load player %s: %w: %w", id, ErrUnavailable, err)
		}
	}
	if owner := p.Lease.Owner; owner != "" && owner != s.cfg.ServerID {
		// Its owner's lease ran out without a final save: the owner died.
		// Replay what it shipped above the checkpoint.
		n, err := s.replayShipped(ctx, owner, &p)
		if err != nil {
			return nil, fmt.Errorf("take over player %s from %s: %w", id, owner, err)
		}
		if takeover {
			s.cl.count(func(c *ClusterCounts) { c.TakeoversDead++ })
		}
		if n > 0 {
			s.counts.TakenOver.Add(1)
			s.log.Info("took over a player from a dead server, replaying its shipped journal", "player", id, "owner", owner, "records", n)
		}
	}
	o := &Online{id: id, p: p, gen: p.Revoked}
	o.p.Lease = Lease{Owner: s.cfg.ServerID, Until: now.Add(s.cfg.LeaseTTL).UnixMilli()}
	o.p.SavedBy = s.cfg.ServerID
	if l != nil && l.rot.Family != "" {
		// A sign-in's new family supersedes the old one, a refresh's next
		// counter spends its token: the lease write holds it.
		o.p.Refresh = l.target()
	}
	if data, err = encodePlayer(&o.p); err != nil {
		return nil, err
	}
	t0 = time.Now()
	etag, err = s.put(ctx, key, data, Cond{IfMatch: etag, IfNoneMatch: fresh})
	s.phase.lease.Record(time.Since(t0))
	switch {
	case errors.Is(err, ErrPrecondition):
		return nil, err
	case err != nil:
		if l != nil && l.rot.Refresh {
			s.unsure.note(id, unsureLease{fam: l.target(), lease: o.p.Lease}, now)
		}
		return nil, fmt.Errorf("lease player %s: %w: %w", id, ErrUnavailable, err)
	}
	s.unsure.forget(id)
	if tail {
		s.tailDone(id) // the lease write holds the replayed records
	}
	if fresh {
		s.counts.NewPlayers.Add(1)
	}
	o.etag = etag
	o.refreshSeq, o.refreshSaved = 1, 1
	o.changes, o.saved = 1, 1
	o.dueAt.Store(min(s.nextDue(id, now), o.p.Lease.Until-s.cfg.LeaseTTL.Milliseconds()/2+1))
	// A new player needs an entry to be found by opponents; an existing
	// one has it from the save that changed its ranking last, which for
	// replayed records is the checkpoint's: the next save writes what they
	// moved.
	o.published = s.summary(&o.p, now)
	if tail {
		o.published = indexed
	}
	if fresh && s.mongo.Updates != nil {
		s.mongo.Updates.Create(o.published)
	}
	return o, nil
}

// put writes data conditionally through the s3 bookkeeper. A try can
// succeed at S3 and still fail here (its reply timed out or the connection
// broke); the retry then meets our own write and gets 412. So a 412 is
// checked: if the object holds exactly what we wrote, the write landed and
// its ETag is ours.
func (s *Store) put(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	var etag string
	err := s.s3.Do(ctx, "s3:put", func(ctx context.Context) error {
		var err error
		etag, err = s.blobs.Put(ctx, key, data, cond)
		return err
	})
	if !errors.Is(err, ErrPrecondition) {
		return etag, err
	}
	var got []byte
	var current string
	if gerr := s.s3.Do(ctx, "s3:get", func(ctx context.Context) error {
		var err error
		got, current, err = s.blobs.Get(ctx, key)
		return err
	}); gerr != nil {
		return "", err
	}
	if bytes.Equal(got, data) {
		s.counts.WriteConfirmed.Add(1)
		return current, nil
	}
	// The object moved on from the ETag we knew, but if this process wrote
	// it (an earlier save whose reply was lost and whose retries failed),
	// nobody else owns the player: adopt the ETag and write again. A
	// create (If-None-Match) knew no version: whatever is there now is not
	// one of its own lost writes, and is never overwritten.
	var head struct {
		SavedBy string `json:"saved_by"`
	}
	if cond.IfMatch == "" || json.Unmarshal(got, &head) != nil || head.SavedBy != s.cfg.ServerID {
		return "", err
	}
	s.counts.WriteConfirmed.Add(1)
	err = s.s3.Do(ctx, "s3:put", func(ctx context.Context) error {
		var err error
		etag, err = s.blobs.Put(ctx, key, data, Cond{IfMatch: current})
		return err
	})
	return etag, err
}

// getObject reads player id's S3 object through the s3 bookkeeper;
// found is false when there is none (an answer, not a failure).
func (s *Store) getObject(ctx context.Context, id string) (data []byte, etag string, found bool, err error) {
	err = s.s3.Do(ctx, "s3:get", func(ctx context.Context) error {
		var err error
		data, etag, err = s.blobs.Get(ctx, Key(id))
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, "", false, nil
	case err != nil:
		return nil, "", false, fmt.Errorf("read player %s: %w: %w", id, ErrUnavailable, err)
	}
	return data, etag, true, nil
}

// Key is the S3 key of a player's object.
func Key(id string) string { return "players/" + id }

// Authenticate checks a bearer token and finds its player in memory.
// The session id and generation are compared under the player's lock
// by every use of the session (lock), so a logout, a ban or a newer
// sign-in ends it at once.
func (s *Store) Authenticate(token string) (Session, error) {
	c, err := s.accts.Verify(token)
	if err != nil {
		return Session{}, fmt.Errorf("authenticate: %w: %w", ErrUnauthorized, err)
	}
	o, ok := s.players.load(c.Player)
	if !ok {
		return Session{}, fmt.Errorf("player %s is not online: %w", c.Player, ErrUnauthorized)
	}
	sess := Session{o: o, id: c.Session, gen: c.Gen}
	if err := s.lock(sess); err != nil {
		return Session{}, err
	}
	sess.o.mu.Unlock()
	return sess, nil
}

// lock takes the player's writer lock for sess, failing if the session was
// replaced, revoked or ended.
func (s *Store) lock(sess Session) error {
	sess.o.mu.Lock()
	if sess.o.gone || sess.o.session != sess.id || sess.o.gen != sess.gen {
		ended := sess.o.ended == sess.id && sess.o.gen == sess.gen
		sess.o.mu.Unlock()
		if ended { // its server is shutting down: retry, elsewhere
			return ErrMoving
		}
		return ErrUnauthorized
	}
	sess.o.lastActive.Store(s.cfg.Now().UnixMilli())
	return nil
}

// Allow spends one request of sess's player's budget (API.md rate
// limits). When the budget is spent it answers false and how long until
// one request is allowed again; nothing is spent then.
func (s *Store) Allow(sess Session) (bool, time.Duration) {
	lim := sess.o.limiter
	if lim == nil {
		return true, 0
	}
	now := time.Now()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	deficit := 1 - lim.TokensAt(now)
	return false, time.Duration(deficit / float64(lim.Limit()) * float64(time.Second))
}

// Action is one action request.
type Action struct {
	Seq  int64           `json:"seq"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// Seq bounds (API.md): no client can push a player's seq out of reach.
const (
	MaxSeq     = 1<<53 - 1 // the largest seq a JSON number carries exactly
	MaxSeqJump = 1 << 32   // how far above the last applied seq a seq may be
)

// ErrBadSeq means a seq in the batch is out of the bounds above; nothing
// in the batch was applied.
var ErrBadSeq = errors.New("seq out of bounds")

// Applied is what ApplyBatch answers.
type Applied struct {
	Replies []Reply   // one per action, in order
	Version string    // the game data version the batch ran on
	At      time.Time // the server's moment the whole batch was applied at
}

// ApplyBatch runs a batch of actions in order for sess's player. At is the
// replies' server_time, so that a client can redo the rules (a timer's
// end, a collect's amount) at the very millisecond the server did.
func (s *Store) ApplyBatch(sess Session, batch []Action) (Applied, error) {
	gd := s.gd.Current()
	if err := s.fenced(); err != nil {
		return Applied{}, err
	}
	if err := s.lock(sess); err != nil {
		return Applied{}, err
	}
	o := sess.o
	for i := range batch {
		if seq := batch[i].Seq; seq > MaxSeq || seq > o.p.LastSeq+MaxSeqJump {
			o.mu.Unlock()
			return Applied{}, fmt.Errorf("seq %d: at most %d and at most %d above the last applied %d: %w",
				seq, int64(MaxSeq), int64(MaxSeqJump), o.p.LastSeq, ErrBadSeq)
		}
	}
	now := s.cfg.Now()
	replies := make([]Reply, len(batch))
	var jobs []*job
	var jerr error
	for i := range batch {
		var j *job
		replies[i], j, jerr = s.applyOne(o, gd, now, &batch[i])
		if jerr != nil {
			break
		}
		if replies[i].OK && !replies[i].Duplicate && spendsPremium(batch[i].Name) {
			s.prioritise(o, now, false)
		}
		if j != nil {
			jobs = append(jobs, j)
		}
	}
	s.schedule(o)
	t := o.lastTicket
	o.mu.Unlock()
	// 200 means durable: the reply waits for the batch's group commit.
	if err := s.durable(context.Background(), o, t, jerr); err != nil {
		return Applied{}, err
	}
	s.start(o, jobs)
	return Applied{Replies: replies, Version: gd.Version, At: now}, nil
}

// applyOne runs one action with o.mu held and journals it. An
// asynchronous action also returns its job, to start once the lock is
// released.
func (s *Store) applyOne(o *Online, gd *gamedata.Bundle, now time.Time, a *Action) (Reply, *job, error) {
	p := &o.p
	if a.Seq <= p.LastSeq {
		if r, ok := p.reply(a.Seq); ok {
			r.Duplicate = true
			return r, nil, nil
		}
		if len(p.Replies) > 0 && a.Seq > p.Replies[0].Seq {
			return Reply{Seq: a.Seq, Error: &actions.Error{Code: actions.CodeOutOfOrder,
				Message: fmt.Sprintf("seq %d was never applied: it arrived after %d; send it with a seq above %d", a.Seq, p.LastSeq, p.LastSeq)}}, nil, nil
		}
		return Reply{Seq: a.Seq, Error: &actions.Error{Code: actions.CodeStaleSeq,
			Message: fmt.Sprintf("seq %d is older than the last %d remembered (last applied %d)", a.Seq, Replies, p.LastSeq)}}, nil, nil
	}
	row, ok := s.rows[a.Name]
	if !ok {
		row = s.unknownRow
	}
	var before [gamedata.MaxResources]int64
	track := s.mongo.Analytics != nil
	if track {
		for i, r := range gd.Resources {
			before[i] = p.Base.Res[r.ID]
		}
	}

	t0 := time.Now()
	var j *job
	if isAsync(a.Name) && s.mongo.Index == nil || a.Name == actions.Attack && s.mongo.Mail == nil {
		// Refused before the rules: nothing changes but the seq.
		r := refusedNoMongo(a)
		p.LastSeq = a.Seq
		p.remember(r)
		_, err := s.journaled(o, journal.KindAction, refusedPrefix+a.Name, a.Seq, now, nil)
		return r, nil, err
	}
	ap := applyRules(p, gd, now, a)
	r := ap.reply
	if ap.req != nil {
		j = s.newJob(o.id, a, ap.req)
	}
	if r.Error != nil && r.Error.Code == actions.CodeInternal {
		s.log.Error("action failed", "player", o.id, "action", a.Name)
	}
	took := time.Since(t0)
	row.Record(took)

	p.LastSeq = a.Seq
	p.remember(r)
	o.changes++
	if err := s.journalAction(o, now, a); err != nil {
		return r, nil, err
	}
	if track && (!r.OK || !readOnly(a.Name)) {
		s.emitAction(o, gd, now, a, &r, took, &before)
	}
	return r, j, nil
}

// journalAction appends a's record (o.mu held).
func (s *Store) journalAction(o *Online, now time.Time, a *Action) error {
	_, err := s.journaled(o, journal.KindAction, a.Name, a.Seq, now, a.Args)
	return err
}

// refusedPrefix marks the record of an action refused before its rules
// ran (MongoDB switched off): replay answers it the same way.
const refusedPrefix = "!"

func refusedNoMongo(a *Action) Reply {
	return Reply{Seq: a.Seq, Error: &actions.Error{Code: actions.CodeUnavailable, Message: a.Name + " needs MongoDB, which this server runs without"}}
}

func isAsync(name string) bool {
	return name == actions.Leaderboard || name == actions.FindOpponent || name == actions.Attack
}

// readOnly names the actions that change nothing an analyst counts: their
// successes are not recorded (their failures are).
func readOnly(name string) bool {
	switch name {
	case actions.Ping, actions.Leaderboard, actions.FindOpponent:
		return true
	}
	return false
}

// emitAction records an action (and a purchase) for analytics.
// o.mu is held.
func (s *Store) emitAction(o *Online, gd *gamedata.Bundle, now time.Time, a *Action, r *Reply, took time.Duration, before *[gamedata.MaxResources]int64) {
	e := Event{Time: now, Player: o.id, Kind: "action", Name: a.Name, OK: r.OK, Duration: took}
	if r.Error != nil {
		e.Code = r.Error.Code
	}
	if r.OK {
		for i, res := range gd.Resources {
			if d := o.p.Base.Res[res.ID] - before[i]; d != 0 {
				if e.Deltas == nil {
					e.Deltas = make(map[string]int64, 2)
				}
				e.Deltas[res.ID] = d
			}
		}
	}
	s.emit(e)
	if a.Name == actions.BuyItem && r.OK {
		var args struct {
			Item string `json:"item"`
		}
		json.Unmarshal(a.Args, &args)
		s.emit(Event{Time: now, Player: o.id, Kind: "purchase", Name: args.Item, OK: true, Deltas: e.Deltas})
	}
}

// View returns the player as clients see it.
func (s *Store) View(sess Session) (json.RawMessage, error) {
	if err := s.lock(sess); err != nil {
		return nil, err
	}
	defer sess.o.mu.Unlock()
	actions.CatchUp(&sess.o.p.Base, s.gd.Current(), s.cfg.Now())
	return publicPlayer(&sess.o.p)
}

// publicPlayer is the player JSON of API.md: the saved document without
// the lease and the reply window.
func publicPlayer(p *Player) (json.RawMessage, error) {
	v := struct {
		ID      string                 `json:"id"`
		LastSeq int64                  `json:"last_seq"`
		Created int64                  `json:"created"`
		Base    *actions.Base          `json:"base"`
		Found   *Found                 `json:"found,omitempty"`
		Async   []AsyncResult          `json:"async,omitempty"`
		Raids   []actions.RaidLogEntry `json:"raids,omitempty"`
	}{p.ID, p.LastSeq, p.Created, &p.Base, p.Found, p.Async, p.Raids}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode player %s: %w", p.ID, err)
	}
	return data, nil
}

// Logout saves the player durably, releases the lease and ends the
// session. gen is the account's generation after the caller revoked the
// session's tokens (accounts.Revoke; 0 for the development door): from
// now on only a token of gen or later reaches this player here, even if
// the save fails. If the save fails the player stays in memory (the sweep
// keeps retrying the final save).
func (s *Store) Logout(ctx context.Context, sess Session, gen uint64) error {
	if err := s.lock(sess); err != nil {
		return err
	}
	err := s.signOut(ctx, sess.o, gen, false)
	s.emit(Event{Time: s.cfg.Now(), Player: sess.o.id, Kind: "logout", OK: err == nil})
	return err
}

// Kick signs player id out of this server, saved, if it is online here
// under a generation older than gen (the account's, after a ban or a
// revocation): its session ends, tokens older than gen stop working
// here, and its socket gets a "replaced" event and is closed. A player
// not in memory, or already at gen, is nothing to do.
func (s *Store) Kick(ctx context.Context, id string, gen uint64) error {
	o, ok := s.players.load(id)
	if !ok {
		return nil
	}
	o.mu.Lock()
	if o.gone || o.gen >= gen {
		o.mu.Unlock()
		return nil
	}
	err := s.signOut(ctx, o, gen, true)
	s.emit(Event{Time: s.cfg.Now(), Player: id, Kind: "kick", OK: err == nil})
	return err
}

// signOut ends o's session and saves it for the last time. o.mu is held
// and released here.
func (s *Store) signOut(ctx context.Context, o *Online, gen uint64, tell bool) error {
	o.gen = max(o.gen, gen)
	if gen > o.p.Revoked { // the final save takes it to S3, for the next load anywhere
		o.p.Revoked = gen
		o.refreshSeq++
	}
	// The save ends the session (leaving makes it final) and, if it fails,
	// gives it back; the raised gen keeps the revoked tokens out anyway.
	o.leaving = true
	if tell {
		o.push.Replace(nil)
	}
	o.push.Close()
	o.mu.Unlock()
	return s.save(ctx, o, saveRenew)
}

// saveKind says whether a save is the player's last before leaving memory.
// Whether it is final is decided under the player's lock, at encode time:
// a login or a request that arrived since the caller looked wins.
type saveKind int

const (
	saveRenew    saveKind = iota // final only if a logout is pending
	saveIfIdle                   // final if still idle past the idle timeout
	saveShutdown                 // always final
)

// save writes o, renewing the lease, or releasing it when final. A final
// save that lands takes o out of memory.
func (s *Store) save(ctx context.Context, o *Online, kind saveKind) error {
	o.saveMu.Lock()
	defer o.saveMu.Unlock()
	return s.saveLocked(ctx, o, kind)
}

// saveLocked is save with o.saveMu held.
func (s *Store) saveLocked(ctx context.Context, o *Online, kind saveKind) error {
	now := s.cfg.Now()
	t0 := time.Now()
	o.mu.Lock()
	if o.gone {
		o.mu.Unlock()
		return nil
	}
	if o.poisoned { // holds a change the journal lacks: never saved
		o.mu.Unlock()
		return fmt.Errorf("save player %s: %w", o.id, ErrJournal)
	}
	idle := o.lastActive.Load() < now.Add(-s.cfg.IdleTimeout).UnixMilli()
	final := o.leaving || kind == saveShutdown || (kind == saveIfIdle && idle)
	ending := o.session
	if final {
		// The session ends now; a login during the save starts a new one
		// and keeps the player in memory.
		o.leaving, o.session = true, ""
		if kind == saveShutdown {
			o.ended = ending
		}
		o.p.Lease = Lease{}
	} else {
		o.p.Lease = Lease{Owner: s.cfg.ServerID, Until: now.Add(s.cfg.LeaseTTL).UnixMilli()}
	}
	o.p.SavedAt = now.UnixMilli()
	o.p.SavedBy = s.cfg.ServerID
	data, err := encodePlayer(&o.p)
	change, refreshSeq := o.changes, o.refreshSeq
	mailDone, sum := o.mailDone, s.summary(&o.p, now)
	o.mailDone = nil
	// The index is written only when what its queries select by changed:
	// a write costs a scan of the whole collection on the embedded
	// FerretDB (BenchmarkIndexWrites). base_value and last_seen ride along.
	// An entry whose write was dropped (Unindexed) is written again.
	publish := o.published.ID == "" || !sameRanking(sum, o.published)
	// The journal keeps this save's records until it lands.
	floor := o.floor
	o.floor, o.savingFloor = 0, floor
	o.mu.Unlock()
	s.phase.encode.Record(time.Since(t0))
	keepFloor := func() { // o.mu held: the save did not land
		if floor != 0 && (o.floor == 0 || floor < o.floor) {
			o.floor = floor
		}
		o.savingFloor = 0
	}
	if err != nil {
		o.mu.Lock()
		o.mailDone = append(mailDone, o.mailDone...)
		keepFloor()
		o.mu.Unlock()
		return err
	}

	t0 = time.Now()
	etag, err := s.put(ctx, Key(o.id), data, Cond{IfMatch: o.etag})
	s.phase.save.Record(time.Since(t0))
	if errors.Is(err, ErrPrecondition) {
		// Another server took the player over: what we hold is stale and
		// must not be written anywhere.
		s.counts.LostOwnership.Add(1)
		s.log.Error("lost ownership: another server saved this player; dropping our copy unsaved", "player", o.id)
		s.drop(o)
		return fmt.Errorf("save player %s: %w", o.id, ErrLostOwnership)
	}
	if err != nil {
		s.counts.SaveErrors.Add(1)
		o.mu.Lock()
		o.mailDone = append(mailDone, o.mailDone...) // not saved: keep the mail
		keepFloor()
		if final && o.session == "" && kind != saveShutdown {
			// Not saved, so not logged out: the session stays usable and a
			// retried logout can finish the job (the sweep retries too).
			o.session = ending
		}
		s.setDue(o, now.Add(min(saveRetry, s.cfg.Autosave)).UnixMilli())
		o.mu.Unlock()
		return fmt.Errorf("save player %s: %w: %w", o.id, ErrUnavailable, err)
	}
	s.counts.Saves.Add(1)
	o.mu.Lock()
	o.savingFloor = 0
	o.mu.Unlock()
	if publish {
		o.mu.Lock()
		o.published = sum
		o.mu.Unlock()
	} else {
		sum = Summary{}
	}
	s.afterSave(mailDone, sum)
	o.etag = etag
	o.mu.Lock()
	o.saved = change
	o.refreshSaved = max(o.refreshSaved, refreshSeq)
	s.setDue(o, s.nextLook(o, now))
	// Leave memory unless a new login arrived while the save was on the wire.
	leave := final && o.leaving && o.changes == change
	if leave {
		s.leaveMemory(o)
	}
	o.mu.Unlock()
	return nil
}

// drop takes o out of memory without saving.
func (s *Store) drop(o *Online) {
	o.mu.Lock()
	s.leaveMemory(o)
	o.mu.Unlock()
}

// leaveMemory marks o gone and takes it out of the registry in one step
// (o.mu held), so a login that finds it gone finds the registry clean.
func (s *Store) leaveMemory(o *Online) {
	o.gone = true
	s.due.remove(o)
	o.push.Close()
	if s.players.compareAndDelete(o.id, o) {
		s.online.Add(-1)
	}
}

// Run saves changed players every Autosave interval, renews leases, logs out
// idle players and retries unfinished logouts, until ctx ends.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(min(sweepEvery, s.cfg.Autosave))
	defer t.Stop()
	var released time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Sweep(ctx)
			if now.Sub(released) >= releaseEvery {
				s.releaseJournal()
				released = now
			}
		}
	}
}

// Autosave pacing.
const (
	sweepEvery = time.Second     // how often the sweep looks for players due
	saveRetry  = 5 * time.Second // a failed save is tried again after this
	// releaseEvery: how often the journal's covered segments are deleted.
	// Finding them reads every online player's floor under its lock (2.7%
	// of the core at 25,000 players when it ran every second); a segment
	// kept 10 s longer costs only its disk space.
	releaseEvery = 10 * time.Second
	// shutdownConcurrency: at shutdown everyone is saved at once.
	shutdownConcurrency = 64
)

// valuableWithin is how soon a player is checkpointed after a raid, and
// after a purchase when nothing else would keep it through the loss of
// the machine (prioritised persistence).
//
//   - A raid moves trophies and shields, and a checkpoint is what publishes
//     them to the player index, which every server matches opponents from:
//     left to the autosave, a raided defender's shield would reach the
//     other servers up to --autosave later.
//   - A purchase changes nothing the index holds. On a server whose journal
//     is shipped to S3 (every shipEvery) the journal already keeps it, so
//     there the checkpoint would be a second copy of the same change (216
//     a second at 20,000 players, ~11.5% of the core): only a server
//     without a journal, or whose journal is not shipped, brings it forward.
const valuableWithin = 30 * time.Second

// prioritise brings o's next checkpoint forward to valuableWithin from
// now (o.mu held), after a raid always and after a purchase if
// s.prioritised.
func (s *Store) prioritise(o *Online, now time.Time, raid bool) {
	if !raid && !s.prioritised {
		return
	}
	if due := now.Add(valuableWithin).UnixMilli(); o.dueAt.Load() > due {
		s.setDue(o, due)
	}
}

// spendsPremium reports whether action name spends premium currency.
func spendsPremium(name string) bool { return name == actions.BuyItem || name == actions.SpeedUp }

// nextDue is id's next autosave moment after a save at now: one interval
// later, less up to 10% by a hash of the id, so that players loaded
// together spread their saves and none waits longer than the interval.
func (s *Store) nextDue(id string, now time.Time) int64 {
	h := fnv.New32a()
	h.Write([]byte(id))
	spread := s.cfg.Autosave.Milliseconds() / 10
	jitter := int64(0)
	if spread > 0 {
		jitter = int64(h.Sum32()) % spread
	}
	return now.UnixMilli() + s.cfg.Autosave.Milliseconds() - jitter
}

// nextLook is when the sweep next looks at o after now (o.mu held): its
// next autosave moment, or the moment its lease needs renewing or its
// idle time ends if that comes first (a lease shorter than two autosave
// intervals, or one a final save released while a login kept the player,
// is renewed in time).
func (s *Store) nextLook(o *Online, now time.Time) int64 {
	idleAt, renewAt := s.idleAndRenewal(o)
	return max(now.UnixMilli()+1, min(s.nextDue(o.id, now), idleAt+1, renewAt+1))
}

// idleAndRenewal are the moments (Unix ms) o's idle time ends and its
// lease needs renewing (o.mu held).
func (s *Store) idleAndRenewal(o *Online) (idleAt, renewAt int64) {
	return o.lastActive.Load() + s.cfg.IdleTimeout.Milliseconds(), o.p.Lease.Until - s.cfg.LeaseTTL.Milliseconds()/2
}

// Sweep is one autosave pass over the players that are due: those changed
// since their last save, whose lease needs renewing, idle past the idle
// timeout (saved and unloaded) or leaving. A player due but with none of
// these is looked at again at the first moment one can hold: its next
// autosave moment (a change meanwhile is saved then), the end of its idle
// time, or its lease's renewal. It returns the number of saves that failed.
func (s *Store) Sweep(ctx context.Context) int {
	t0 := time.Now()
	defer func() { s.phase.sweep.Record(time.Since(t0)) }()
	now := s.cfg.Now()
	nowMs := now.UnixMilli()
	var failed atomic.Int64
	g := errgroup.Group{}
	g.SetLimit(s.cfg.SaveConcurrency)
	taken := s.due.take(nowMs)
	for i, e := range taken {
		if ctx.Err() != nil {
			for _, e := range taken[i:] { // for the next sweep
				e.o.mu.Lock()
				s.setDue(e.o, e.o.dueAt.Load())
				e.o.mu.Unlock()
			}
			break
		}
		o := e.o
		if v, ok := s.players.load(o.id); !ok || v != o {
			continue // left memory
		}
		o.mu.Lock()
		if o.dueAt.Load() != e.at { // moved since: its new entry stands
			o.mu.Unlock()
			continue
		}
		dirty := o.unsaved()
		idleAt, renewAt := s.idleAndRenewal(o)
		due := dirty || idleAt < nowMs || o.leaving || renewAt < nowMs
		if !due {
			s.setDue(o, s.nextLook(o, now))
		}
		o.mu.Unlock()
		if due {
			g.Go(func() error {
				if err := s.save(ctx, o, saveIfIdle); err != nil && !errors.Is(err, ErrLostOwnership) {
					failed.Add(1)
					s.log.Warn("autosave failed; will retry", "player", o.id, "err", err)
				}
				// A save that set no new moment (it failed before its
				// write) is tried again after saveRetry.
				o.mu.Lock()
				if !o.gone && o.dueAt.Load() <= nowMs {
					s.setDue(o, now.Add(min(saveRetry, s.cfg.Autosave)).UnixMilli())
				}
				o.mu.Unlock()
				return nil
			})
		}
	}
	g.Wait()
	return int(failed.Load())
}

// SaveAll saves every online player and releases their leases, for
// shutdown. While storage is unavailable it tries again, backing off,
// until ctx (the drain timeout) ends; players still unsaved then are
// reported.
func (s *Store) SaveAll(ctx context.Context) error {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		err := s.saveAllOnce(ctx)
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return err
		}
		s.log.Warn("shutdown saves failed; retrying until the drain timeout", "online", s.OnlineCount(), "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func (s *Store) saveAllOnce(ctx context.Context) error {
	var mu sync.Mutex
	var errs []error
	g := errgroup.Group{}
	g.SetLimit(max(s.cfg.SaveConcurrency, shutdownConcurrency))
	s.players.each(func(o *Online) bool {
		g.Go(func() error {
			if err := s.save(ctx, o, saveShutdown); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
		return true
	})
	g.Wait()
	return errors.Join(errs...)
}

// OnlineCount is the number of players in memory.
func (s *Store) OnlineCount() int { return int(s.online.Load()) }

// Stats is a snapshot of the store's counters.
type Stats struct {
	Online        int64 `json:"online"`
	Logins        int64 `json:"logins"`
	Loads         int64 `json:"loads"`
	NewPlayers    int64 `json:"new_players"`
	Saves         int64 `json:"saves"`
	SaveErrors    int64 `json:"save_errors"`
	LostOwnership int64 `json:"lost_ownership"`
	Busy          int64 `json:"busy"`
	// WriteConfirmed counts retried writes whose first try had landed.
	WriteConfirmed int64 `json:"write_confirmed"`
	// MailLost counts raid results an offline attacker never got.
	MailLost int64 `json:"mail_lost"`
	// JournalErrors counts changes the journal could not take (503).
	JournalErrors int64 `json:"journal_errors"`
	// TakenOver counts players loaded with a dead owner's shipped records.
	TakenOver int64 `json:"taken_over"`
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	c := &s.counts
	return Stats{s.online.Load(), c.Logins.Load(), c.Loads.Load(), c.NewPlayers.Load(),
		c.Saves.Load(), c.SaveErrors.Load(), c.LostOwnership.Load(), c.Busy.Load(), c.WriteConfirmed.Load(), c.MailLost.Load(), c.JournalErrors.Load(), c.TakenOver.Load()}
}

// Resume continues the session in token, for a client reconnecting. If
// the server logged the player out since (idle timeout, shutdown,
// restart), the player is loaded afresh from S3 under the same session,
// but only while the token's generation is still the account's: a logout,
// ban or refresh-token reuse revoked it for good. A development-door
// session (no account) is resumed only while its player is in memory. A
// session replaced by a newer login stays ended.
func (s *Store) Resume(ctx context.Context, token string) (LoginResult, error) {
	now := s.cfg.Now()
	c, err := s.accts.Verify(token)
	if err != nil {
		return LoginResult{}, fmt.Errorf("resume: %w: %w", ErrUnauthorized, err)
	}
	if o, ok := s.players.load(c.Player); ok {
		o.mu.Lock()
		if !o.gone && o.session == c.Session && o.gen == c.Gen {
			o.lastActive.Store(now.UnixMilli())
			actions.CatchUp(&o.p.Base, s.gd.Current(), now)
			view, err := publicPlayer(&o.p)
			o.mu.Unlock()
			return LoginResult{Session: token, Player: view}, err
		}
		live := !o.gone
		o.mu.Unlock()
		if live {
			return LoginResult{}, fmt.Errorf("resume %s: session replaced or revoked: %w", c.Player, ErrUnauthorized)
		}
	}
	if !accounts.ValidPlayerID(c.Player) {
		return LoginResult{}, fmt.Errorf("resume %s: development session ended: %w", c.Player, ErrUnauthorized)
	}
	info, err := s.accts.Account(ctx, c.Player)
	if err != nil {
		return LoginResult{}, fmt.Errorf("resume %s: %w", c.Player, err)
	}
	if info.Gen != c.Gen { // a ban bumps it too
		return LoginResult{}, fmt.Errorf("resume %s: token generation %d revoked (account at %d): %w", c.Player, c.Gen, info.Gen, ErrUnauthorized)
	}
	res, err := s.Login(ctx, c.Player, c, accounts.Rotation{}) // the family stays
	res.Session = token
	return res, err
}

// OnlineInfo describes one online player for the /debug/players page.
type OnlineInfo struct {
	ID           string `json:"id"`
	LastActiveMS int64  `json:"last_active_ms"` // Unix ms of the last request
	LastSeq      int64  `json:"last_seq"`
	Unsaved      bool   `json:"unsaved"`   // changed since the last durable save
	Connected    bool   `json:"connected"` // has a live WebSocket
	Leaving      bool   `json:"leaving"`   // logging out: waiting for its final save
	LeaseUntilMS int64  `json:"lease_until_ms"`
}

// Players lists the online players, at most limit (0: all), in no order.
// Each player's lock is held only to copy its line.
func (s *Store) Players(limit int) []OnlineInfo {
	out := make([]OnlineInfo, 0, min(max(limit, 0), 1024))
	s.players.each(func(o *Online) bool {
		o.mu.Lock()
		out = append(out, OnlineInfo{ID: o.id, LastActiveMS: o.lastActive.Load(), LastSeq: o.p.LastSeq,
			Unsaved: o.unsaved(), Connected: o.push.Connected(), Leaving: o.leaving, LeaseUntilMS: o.p.Lease.Until})
		o.mu.Unlock()
		return limit <= 0 || len(out) < limit
	})
	return out
}
