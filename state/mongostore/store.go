package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/bookkeeper"
	"rampart/state"
)

// Collection names.
const (
	PlayersCollection = "players"
	EventsCollection  = "events"
	MailCollection    = "mail"
	// EventsSuffix names the database of the events collection: <db>_events.
	// Analytics get a database of their own because FerretDB on SQLite
	// keeps a file per database and writes one transaction at a time per
	// file: in the game's database, every insertMany of 500 events held up
	// the index upserts and raid locks behind it.
	EventsSuffix = "_events"
)

// Field names of a players document.
const (
	fTownHall      = "town_hall"
	fTrophies      = "trophies"
	fBaseValue     = "base_value"
	fShieldUntil   = "shield_until"
	fLastSeen      = "last_seen"
	fRaidLockID    = "raid_lock_id"
	fRaidLockUntil = "raid_lock_until"
)

var (
	_ state.Index   = (*Store)(nil)
	_ state.Mailbox = (*Store)(nil)
)

// Store is the player index and the mailbox on one MongoDB database. It is
// safe for concurrent use.
type Store struct {
	db      *mongo.Database
	players *mongo.Collection
	events  *mongo.Collection
	mail    *mongo.Collection
	keeper  *bookkeeper.Keeper
	log     *slog.Logger
	now     func() time.Time

	// rows serialises this process's writes to one players document.
	// MongoDB makes each update atomic on its own; FerretDB reads, modifies
	// and writes back the whole document, so without this a concurrent
	// Upsert could write an old raid lock back, and two LockRaid calls
	// could both win. It does nothing across processes, where MongoDB's
	// atomicity is what counts.
	rows keyLocks
}

// Option configures Open.
type Option func(*Store)

// WithNow sets the clock LockRaid compares lock expiry with (default
// time.Now).
func WithNow(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// indexSpec is one index Open makes sure of.
type indexSpec struct {
	coll string
	keys bson.D
}

// indexes are what the queries below need on a real MongoDB: Top and Rank
// walk {trophies:-1,_id:1}; Opponents takes a trophies range of it and
// filters the rest; Pending walks {to,created}; analysts select events by
// time, by player and time, and by kind and name.
var indexes = []indexSpec{
	{PlayersCollection, bson.D{{Key: fTrophies, Value: -1}, {Key: "_id", Value: 1}}},
	{PlayersCollection, bson.D{{Key: fShieldUntil, Value: 1}}},
	{EventsCollection, bson.D{{Key: "t", Value: 1}}},
	{EventsCollection, bson.D{{Key: "player", Value: 1}, {Key: "t", Value: 1}}},
	{EventsCollection, bson.D{{Key: "kind", Value: 1}, {Key: "name", Value: 1}}},
	{MailCollection, bson.D{{Key: "to", Value: 1}, {Key: "created", Value: 1}}},
}

// Open returns a Store on client's database dbName, creating the indexes
// it needs (creating an existing index is a no-op). Every MongoDB call goes
// through keeper. An index the server refuses (an index kind FerretDB
// lacks) is logged and skipped: queries still work, slower. An index that
// does not finish within its calls' timeouts (a large collection) is built
// on in the background. MongoDB that does not answer (down, or busy — a
// FerretDB still working through a killed server's backlog took more than
// the ping's three tries after a kill -9 with 20,000 players) does not stop
// the start either: the game's source of truth is S3, every MongoDB path
// already copes with an outage, and /readyz reports it; the indexes are
// built once it answers. Open fails only on an error MongoDB will not get
// over (a refused login, a bad database name).
func Open(ctx context.Context, client *mongo.Client, dbName string, keeper *bookkeeper.Keeper, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := client.Database(dbName)
	s := &Store{
		db:      db,
		players: db.Collection(PlayersCollection),
		events:  client.Database(dbName + EventsSuffix).Collection(EventsCollection),
		mail:    db.Collection(MailCollection),
		keeper:  keeper,
		log:     log,
		now:     time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	// One try, briefly: a MongoDB that does not answer is no reason to
	// hold the start (see above).
	pctx, cancel := context.WithTimeout(ctx, startPing)
	err := keeper.Do(pctx, "mongo:ping", func(ctx context.Context) error { return client.Ping(ctx, nil) })
	cancel()
	if err != nil {
		if !Retryable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("reach mongodb: %w", err)
		}
		log.Warn("mongodb does not answer; starting without it, indexes built once it does", "err", err)
		go s.ensureIndexesLater(indexes)
		return s, nil
	}
	for i, ix := range indexes {
		err := s.ensureIndex(ctx, ix)
		if err == nil {
			continue
		}
		if !Retryable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("create index on %s %v: %w", ix.coll, ix.keys, err)
		}
		// Building an index on a large collection can outlast a call's
		// timeout (FerretDB on PostgreSQL with 20,000 players took more
		// than 5 s, and the server used to exit): the rest are built in
		// the background while the game serves; queries scan meanwhile.
		log.Warn("mongo index still building; the rest continue in the background", "collection", ix.coll, "keys", fmt.Sprint(ix.keys), "err", err)
		go s.ensureIndexesLater(indexes[i:])
		break
	}
	return s, nil
}

// startPing bounds Open's ping of MongoDB.
const startPing = 2 * time.Second

// ensureIndex creates ix (an existing index is a no-op). An index the
// server refuses (a kind FerretDB lacks) is logged and skipped: queries
// still work, slower.
func (s *Store) ensureIndex(ctx context.Context, ix indexSpec) error {
	var name string
	err := s.keeper.Do(ctx, "mongo:create_index", func(ctx context.Context) error {
		var err error
		coll := s.db.Collection(ix.coll)
		if ix.coll == EventsCollection {
			coll = s.events
		}
		name, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys})
		return err
	})
	var se mongo.ServerError
	switch {
	case err == nil:
		s.log.Debug("mongo index ready", "collection", ix.coll, "index", name)
	case errors.As(err, &se) && !Retryable(err):
		s.log.Warn("mongo index refused, queries will scan", "collection", ix.coll, "keys", fmt.Sprint(ix.keys), "err", err)
		return nil
	}
	return err
}

// ensureIndexesLater builds ixs one by one, trying each again every
// indexRetry until it is there (or refused).
func (s *Store) ensureIndexesLater(ixs []indexSpec) {
	for _, ix := range ixs {
		for {
			err := s.ensureIndex(context.Background(), ix)
			if err == nil {
				break
			}
			s.log.Warn("mongo index not built yet; trying again", "collection", ix.coll, "keys", fmt.Sprint(ix.keys), "in", indexRetry.String(), "err", err)
			time.Sleep(indexRetry) // a background retry's pace, not a synchronisation
		}
	}
	s.log.Info("mongo indexes ready")
}

// indexRetry paces the background index builds.
const indexRetry = 30 * time.Second

// playerDoc is a players document as read back; the lock fields are never
// returned to callers.
type playerDoc struct {
	ID          string `bson:"_id"`
	TownHall    int    `bson:"town_hall"`
	Trophies    int    `bson:"trophies"`
	BaseValue   int64  `bson:"base_value"`
	ShieldUntil int64  `bson:"shield_until"`
	LastSeen    int64  `bson:"last_seen"`
}

func (d playerDoc) summary() state.Summary {
	return state.Summary{ID: d.ID, TownHall: d.TownHall, Trophies: d.Trophies, BaseValue: d.BaseValue,
		ShieldUntil: d.ShieldUntil, LastSeen: d.LastSeen}
}

// summaryProjection leaves the raid lock out of what Top and Opponents read.
var summaryProjection = bson.D{
	{Key: fTownHall, Value: 1}, {Key: fTrophies, Value: 1}, {Key: fBaseValue, Value: 1},
	{Key: fShieldUntil, Value: 1}, {Key: fLastSeen, Value: 1},
}

// Upsert sets s's summary fields with $set, so a raid lock on the player
// survives. It is idempotent, so safe to retry.
func (s *Store) Upsert(ctx context.Context, sum state.Summary) error {
	if sum.ID == "" {
		return errors.New("upsert summary: empty player id")
	}
	unlock := s.rows.lock(sum.ID)
	defer unlock()
	err := s.keeper.Do(ctx, "mongo:upsert", func(ctx context.Context) error {
		_, err := s.players.UpdateOne(ctx, bson.D{{Key: "_id", Value: sum.ID}}, summaryUpdate(sum), options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("upsert summary %s: %w", sum.ID, err)
	}
	return nil
}

// summaryDoc is sum as a new players document.
func summaryDoc(sum state.Summary) bson.D {
	return bson.D{{Key: "_id", Value: sum.ID},
		{Key: fTownHall, Value: sum.TownHall},
		{Key: fTrophies, Value: sum.Trophies},
		{Key: fBaseValue, Value: sum.BaseValue},
		{Key: fShieldUntil, Value: sum.ShieldUntil},
		{Key: fLastSeen, Value: sum.LastSeen},
	}
}

// summaryUpdate sets sum's fields with $set, leaving a raid lock alone.
func summaryUpdate(sum state.Summary) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{
		{Key: fTownHall, Value: sum.TownHall},
		{Key: fTrophies, Value: sum.Trophies},
		{Key: fBaseValue, Value: sum.BaseValue},
		{Key: fShieldUntil, Value: sum.ShieldUntil},
		{Key: fLastSeen, Value: sum.LastSeen},
	}}}
}

// Top returns the n players with the most trophies, ties by id.
func (s *Store) Top(ctx context.Context, n int) ([]state.Summary, error) {
	if n <= 0 {
		return nil, nil
	}
	opts := options.Find().
		SetSort(bson.D{{Key: fTrophies, Value: -1}, {Key: "_id", Value: 1}}).
		SetLimit(int64(n)).
		SetProjection(summaryProjection)
	out, err := s.findSummaries(ctx, "mongo:top", bson.D{}, opts, n)
	if err != nil {
		return nil, fmt.Errorf("top %d: %w", n, err)
	}
	return out, nil
}

// Summaries returns every player's summary, in no order: what an
// IndexSnapshot serves the index's reads from. One read of the whole
// collection.
func (s *Store) Summaries(ctx context.Context) ([]state.Summary, error) {
	out, err := s.findSummaries(ctx, "mongo:summaries", bson.D{}, options.Find().SetProjection(summaryProjection), 1024)
	if err != nil {
		return nil, fmt.Errorf("read the index: %w", err)
	}
	return out, nil
}

// Rank is 1 + the number of players ahead of (trophies, id) in Top's order.
// On MongoDB the count walks the {trophies:-1,_id:1} index up to the
// player, so it costs O(rank).
func (s *Store) Rank(ctx context.Context, trophies int, id string) (int, error) {
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: fTrophies, Value: bson.D{{Key: "$gt", Value: trophies}}}},
		bson.D{{Key: fTrophies, Value: trophies}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: id}}}},
	}}}
	var n int64
	err := s.keeper.Do(ctx, "mongo:rank", func(ctx context.Context) error {
		var err error
		n, err = s.players.CountDocuments(ctx, filter)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rank %s at %d trophies: %w", id, trophies, err)
	}
	return int(n) + 1, nil
}

// notActive matches a Unix-ms deadline field that is missing or before now.
// {$not: {$gte: now}} is the index-friendly spelling of "$lt now or
// missing" (MongoDB turns it into index bounds).
func notActive(now int64) bson.D {
	return bson.D{{Key: "$not", Value: bson.D{{Key: "$gte", Value: now}}}}
}

// Opponents returns up to q.Limit players in the trophy band who are not
// q.Exclude, not shielded and not raid-locked at q.Now. The order is the
// index's (most trophies first); callers pick among them.
func (s *Store) Opponents(ctx context.Context, q state.OpponentQuery) ([]state.Summary, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	tol := max(q.Tolerance, 0)
	filter := bson.D{
		{Key: fTrophies, Value: bson.D{{Key: "$gte", Value: q.Trophies - tol}, {Key: "$lte", Value: q.Trophies + tol}}},
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: q.Exclude}}},
		{Key: fShieldUntil, Value: notActive(q.Now)},
		{Key: fRaidLockUntil, Value: notActive(q.Now)},
	}
	opts := options.Find().
		SetSort(bson.D{{Key: fTrophies, Value: -1}, {Key: "_id", Value: 1}}).
		SetLimit(int64(q.Limit)).
		SetProjection(summaryProjection)
	out, err := s.findSummaries(ctx, "mongo:opponents", filter, opts, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("opponents for %s at %d±%d: %w", q.Exclude, q.Trophies, tol, err)
	}
	return out, nil
}

func (s *Store) findSummaries(ctx context.Context, op string, filter bson.D, opts *options.FindOptionsBuilder, capHint int) ([]state.Summary, error) {
	var out []state.Summary
	err := s.keeper.Do(ctx, op, func(ctx context.Context) error {
		cur, err := s.players.Find(ctx, filter, opts)
		if err != nil {
			return err
		}
		out, err = decodeSummaries(ctx, cur, make([]state.Summary, 0, capHint))
		return err
	})
	return out, err
}

// decodeSummaries appends to out each players document cur yields, by
// hand where summaryFromRaw can, else with the driver, and closes cur.
func decodeSummaries(ctx context.Context, cur *mongo.Cursor, out []state.Summary) ([]state.Summary, error) {
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if sum, ok := summaryFromRaw(cur.Current); ok {
			out = append(out, sum)
			continue
		}
		var d playerDoc
		if err := cur.Decode(&d); err != nil {
			return out, fmt.Errorf("decode player: %w", err)
		}
		out = append(out, d.summary())
	}
	return out, cur.Err()
}

// decodeAll appends to out each document cur yields, decoded as a D (what
// names it in errors) and converted by conv, and closes cur.
func decodeAll[D, T any](ctx context.Context, cur *mongo.Cursor, what string, out []T, conv func(*D) T) ([]T, error) {
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d D
		if err := cur.Decode(&d); err != nil {
			return out, fmt.Errorf("decode %s: %w", what, err)
		}
		out = append(out, conv(&d))
	}
	return out, cur.Err()
}

// LockRaid takes defender's raid lock for raidID until the given Unix ms.
// One updateOne does it, its filter requiring that the lock be free (never
// taken, released, or until before now) or already raidID's; on MongoDB
// that makes it atomic across servers. Taking raidID's own lock again
// succeeds, which also makes a retry after a lost reply safe.
//
// A defender with no players document is not created: ok is false. Such a
// player has never been saved, so matchmaking never offered him, and a
// lock-only document would show up as a ghost in Top.
func (s *Store) LockRaid(ctx context.Context, defender, raidID string, until int64) (bool, error) {
	if defender == "" || raidID == "" {
		return false, errors.New("lock raid: empty defender or raid id")
	}
	unlock := s.rows.lock(defender)
	defer unlock()
	now := s.now().UnixMilli()
	filter := bson.D{
		{Key: "_id", Value: defender},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: fRaidLockID, Value: raidID}},
			bson.D{{Key: fRaidLockUntil, Value: notActive(now)}},
		}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: fRaidLockID, Value: raidID}, {Key: fRaidLockUntil, Value: until}}}}
	var matched int64
	err := s.keeper.Do(ctx, "mongo:lock", func(ctx context.Context) error {
		res, err := s.players.UpdateOne(ctx, filter, update)
		if err != nil {
			return err
		}
		matched = res.MatchedCount
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("lock %s for raid %s: %w", defender, raidID, err)
	}
	return matched == 1, nil
}

// UnlockRaid releases defender's lock if raidID holds it; otherwise it does
// nothing. It is idempotent.
func (s *Store) UnlockRaid(ctx context.Context, defender, raidID string) error {
	unlock := s.rows.lock(defender)
	defer unlock()
	filter := bson.D{{Key: "_id", Value: defender}, {Key: fRaidLockID, Value: raidID}}
	update := bson.D{{Key: "$unset", Value: bson.D{{Key: fRaidLockID, Value: ""}, {Key: fRaidLockUntil, Value: ""}}}}
	err := s.keeper.Do(ctx, "mongo:unlock", func(ctx context.Context) error {
		_, err := s.players.UpdateOne(ctx, filter, update)
		return err
	})
	if err != nil {
		return fmt.Errorf("unlock %s for raid %s: %w", defender, raidID, err)
	}
	return nil
}

// keyLocks is a mutex per key, created on demand and freed when unused.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock // guarded by mu
}

type keyLock struct {
	mu   sync.Mutex
	refs int // guarded by keyLocks.mu
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
