package mongostore

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/state"
)

var _ state.Updates = (*Updates)(nil)

// Defaults applied by NewUpdates to zero UpdatesConfig fields.
//
// DefaultUpdatesBatch is small because of FerretDB v1.24, the embedded
// MongoDB: an update command keeps each matched document's query open
// until the command ends, one pooled backend connection each, so a bulk
// write updating 100 known players on SQLite (its pool size), and fewer on
// PostgreSQL (41-50 here), waits for a connection for ever and wedges
// every later write (TestUpdatesFlushesManyKnownPlayers).
const (
	DefaultUpdatesEvery   = time.Second
	DefaultUpdatesBatch   = 25
	DefaultUpdatesPending = 100_000
)

// (The 200-upsert batches this replaced wedged the embedded MongoDB that
// way under 300 players logging out; each upsert also scans the whole
// collection there, so a short batch keeps one try well inside the
// bookkeeper's timeout.) MaxUpdatesBatch caps a configured batch below the
// wedge.
const MaxUpdatesBatch = 32

// UpdatesConfig bounds the write-behind of index entries and mail
// deletions. Zero fields take the defaults above.
type UpdatesConfig struct {
	FlushEvery time.Duration // a partial batch waits at most this long
	MaxBatch   int           // summaries (or mail ids) per bulk write
	MaxPending int           // summaries (and mail ids) waiting; past it Publish and Forget drop
}

// UpdatesStats are the write-behind's counters since NewUpdates.
type UpdatesStats struct {
	Published   int64 `json:"published"`    // Publish calls
	Coalesced   int64 `json:"coalesced"`    // replaced a summary still waiting for the same player
	Written     int64 `json:"written"`      // summaries MongoDB acknowledged
	Forgotten   int64 `json:"forgotten"`    // mail ids deleted
	Dropped     int64 `json:"dropped"`      // over MaxPending, or their bulk write failed after the bookkeeper's tries
	Batches     int64 `json:"batches"`      // bulk writes sent
	Pending     int64 `json:"pending"`      // summaries waiting
	PendingMail int64 `json:"pending_mail"` // mail ids waiting
}

// Updates writes the player index and deletes applied mail behind the
// game's back: Publish and Forget never block. Summaries wait in a map
// (the newest per player wins, so a player saved twice in a second costs
// one write) and go out as one unordered bulk upsert per MaxBatch every
// FlushEvery, through the store's bookkeeper (ops "mongo:upsert_batch"
// and "mongo:mail_delete"), one bulk write at a time. What does not fit
// in MaxPending, or fails after the bookkeeper's tries, is dropped and
// counted: a summary is written again at the player's next save, and
// undeleted mail is a no-op when delivered again.
type Updates struct {
	store *Store
	cfg   UpdatesConfig

	mu   sync.Mutex
	sums map[string]state.Summary // guarded by mu
	news []state.Summary          // guarded by mu; inserts
	mail []string                 // guarded by mu

	kick    chan struct{} // a full batch is waiting
	flushMu sync.Mutex    // one flush at a time (Run's and Close's)

	published, coalesced, written, forgotten, dropped, batches atomic.Int64

	onDrop func(ids []string) // set before Run (SetOnDrop)
}

// SetOnDrop makes f hear the players whose summaries were dropped (the
// store then writes them again at their next save). Call before Run.
func (u *Updates) SetOnDrop(f func(ids []string)) { u.onDrop = f }

// drop counts sums as dropped and tells onDrop.
func (u *Updates) drop(sums ...state.Summary) {
	u.dropped.Add(int64(len(sums)))
	if u.onDrop == nil {
		return
	}
	ids := make([]string, len(sums))
	for i, sum := range sums {
		ids[i] = sum.ID
	}
	u.onDrop(ids)
}

// NewUpdates returns the write-behind for store. Start Run; Close at
// shutdown, after the last save.
func NewUpdates(store *Store, cfg UpdatesConfig) *Updates {
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultUpdatesEvery
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultUpdatesBatch
	}
	cfg.MaxBatch = min(cfg.MaxBatch, MaxUpdatesBatch)
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultUpdatesPending
	}
	return &Updates{store: store, cfg: cfg, sums: make(map[string]state.Summary), kick: make(chan struct{}, 1)}
}

// Publish queues sum, replacing a summary of the same player still
// waiting.
func (u *Updates) Publish(sum state.Summary) {
	u.published.Add(1)
	u.mu.Lock()
	_, had := u.sums[sum.ID]
	switch {
	case had:
		u.coalesced.Add(1)
	case len(u.sums) >= u.cfg.MaxPending:
		u.mu.Unlock()
		u.drop(sum)
		return
	}
	u.sums[sum.ID] = sum
	full := len(u.sums) >= u.cfg.MaxBatch
	u.mu.Unlock()
	if full {
		u.signal()
	}
}

// Create queues a new player's first entry, written with an insert (an
// entry that exists already is upserted instead).
func (u *Updates) Create(sum state.Summary) {
	u.published.Add(1)
	u.mu.Lock()
	if len(u.news)+len(u.sums) >= u.cfg.MaxPending {
		u.mu.Unlock()
		u.drop(sum)
		return
	}
	u.news = append(u.news, sum)
	full := len(u.news) >= u.cfg.MaxBatch*8
	u.mu.Unlock()
	if full {
		u.signal()
	}
}

// Forget queues the deletion of applied mail.
func (u *Updates) Forget(ids []string) {
	u.mu.Lock()
	if len(u.mail)+len(ids) > u.cfg.MaxPending {
		u.mu.Unlock()
		u.dropped.Add(int64(len(ids)))
		return
	}
	u.mail = append(u.mail, ids...)
	full := len(u.mail) >= u.cfg.MaxBatch
	u.mu.Unlock()
	if full {
		u.signal()
	}
}

func (u *Updates) signal() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (u *Updates) Stats() UpdatesStats {
	u.mu.Lock()
	pending, pendingMail := len(u.sums), len(u.mail)
	u.mu.Unlock()
	return UpdatesStats{Published: u.published.Load(), Coalesced: u.coalesced.Load(), Written: u.written.Load(),
		Forgotten: u.forgotten.Load(), Dropped: u.dropped.Load(), Batches: u.batches.Load(),
		Pending: int64(pending), PendingMail: int64(pendingMail)}
}

// Run flushes every FlushEvery, or sooner when a batch fills, until ctx
// ends. Call it once.
func (u *Updates) Run(ctx context.Context) error {
	t := time.NewTicker(u.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-u.kick:
		}
		u.Flush(ctx)
	}
}

// Flush writes what is waiting now, in batches, and returns the first
// error (what failed is dropped and counted).
func (u *Updates) Flush(ctx context.Context) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	u.mu.Lock()
	sums, news, mail := u.sums, u.news, u.mail
	u.sums, u.news, u.mail = make(map[string]state.Summary, len(sums)), nil, nil
	u.mu.Unlock()

	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for len(news) > 0 { // an insert holds no query open: larger batches are fine
		n := min(len(news), u.cfg.MaxBatch*8)
		keep(u.insert(ctx, news[:n], sums))
		news = news[n:]
	}
	batch := make([]state.Summary, 0, min(len(sums), u.cfg.MaxBatch))
	for _, id := range slices.Sorted(maps.Keys(sums)) {
		batch = append(batch, sums[id])
		if len(batch) == u.cfg.MaxBatch {
			keep(u.upsert(ctx, batch))
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		keep(u.upsert(ctx, batch))
	}
	for len(mail) > 0 {
		n := min(len(mail), u.cfg.MaxBatch)
		if err := u.store.Delete(ctx, mail[:n]); err != nil {
			u.dropped.Add(int64(n))
			keep(err)
		} else {
			u.forgotten.Add(int64(n))
		}
		mail = mail[n:]
	}
	return first
}

// Close flushes what is waiting, within ctx.
func (u *Updates) Close(ctx context.Context) error { return u.Flush(ctx) }

// insert writes new players' entries with one unordered insertMany (no
// scan on FerretDB); entries whose player is there already, or has a newer
// summary waiting in later, are left to the upserts.
func (u *Updates) insert(ctx context.Context, batch []state.Summary, later map[string]state.Summary) error {
	docs := make([]any, 0, len(batch))
	sent := make([]state.Summary, 0, len(batch))
	for _, sum := range batch {
		if _, newer := later[sum.ID]; newer {
			continue
		}
		docs = append(docs, summaryDoc(sum))
		sent = append(sent, sum)
	}
	if len(docs) == 0 {
		return nil
	}
	u.batches.Add(1)
	var dup []state.Summary
	err := u.store.keeper.Do(ctx, "mongo:insert_players", func(ctx context.Context) error {
		dup = dup[:0]
		_, err := u.store.players.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
			for _, we := range bwe.WriteErrors {
				if we.Code != 11000 {
					return err
				}
				dup = append(dup, sent[we.Index]) // we.Index counts the docs sent
			}
			return nil
		}
		return err
	})
	if err != nil {
		u.drop(sent...)
		return errors.Join(errors.New("insert summaries"), err)
	}
	u.written.Add(int64(len(docs) - len(dup)))
	var err2 error
	for len(dup) > 0 { // there already (a retried try, or an old id): replace
		n := min(len(dup), u.cfg.MaxBatch)
		err2 = errors.Join(err2, u.upsert(ctx, dup[:n]))
		dup = dup[n:]
	}
	return err2
}

// upsert writes batch as one unordered bulk write of $set upserts (so a
// raid lock on a player survives). The rows are locked for its length,
// as Store.Upsert does, for FerretDB's sake.
func (u *Updates) upsert(ctx context.Context, batch []state.Summary) error {
	models := make([]mongo.WriteModel, len(batch))
	for i, sum := range batch {
		unlock := u.store.rows.lock(sum.ID)
		defer unlock()
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: sum.ID}}).
			SetUpdate(summaryUpdate(sum)).SetUpsert(true)
	}
	u.batches.Add(1)
	err := u.store.keeper.Do(ctx, "mongo:upsert_batch", func(ctx context.Context) error {
		_, err := u.store.players.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		return err
	})
	if err != nil {
		u.drop(batch...)
		return errors.Join(errors.New("upsert summaries"), err)
	}
	u.written.Add(int64(len(batch)))
	return nil
}
