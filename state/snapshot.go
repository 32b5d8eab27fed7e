package state

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"
)

// IndexSnapshot serves the player index's reads (Top, Rank, Opponents)
// from a copy of every player's summary held in memory, read again from
// the index in the background when a read finds the copy older than
// Every. The writes go to the index as before: raid locks straight
// through (Index), summaries through the write-behind (Updates).
//
// A read costs a search of the copy instead of a query: a find_opponent
// or a leaderboard rank is a range scan or a count on the index, and the
// embedded MongoDB (FerretDB v1) pushes no range, sort or count down to
// its SQL backend, so each reads the whole collection (BenchmarkIndexQueries:
// 1.4 s at 20,000 players on PostgreSQL). On MongoDB proper it saves one
// indexed query per read.
//
// What the copy misses until the next read: another server's changes,
// and this server's trophies. What it does not miss: a shield or a raid
// lock this server set (a defender raided here is not offered again), and
// the index stays the authority for both (LockRaid refuses a locked
// defender; settling a raid refuses a shielded one). The copy holds a
// Summary and a map entry per player (136 bytes, BenchmarkIndexSnapshotMemory:
// 2.7 MB at 20,000 players).
type IndexSnapshot struct {
	Index
	updates Updates
	list    func(ctx context.Context) ([]Summary, error)
	cfg     SnapshotConfig

	mu      sync.Mutex
	copy    *indexCopy       // the last read; nil: none yet
	readAt  time.Time        // when the last read ended
	failed  error            // the last read's error, while there is no copy
	retryAt time.Time        // after a failed read, when the next may start
	reading chan struct{}    // closed when the read in flight ends; nil: none
	shields map[string]int64 // ShieldUntil this server published since the read
	locks   map[string]int64 // raid locks this server took since the read, until
}

// indexCopy is one read of the index, never modified once made.
type indexCopy struct {
	sorted []Summary      // every player, in Top's order
	pos    map[string]int // a player's place in sorted
}

// SnapshotConfig tunes an IndexSnapshot.
type SnapshotConfig struct {
	Every time.Duration    // read the index again at most this often
	Now   func() time.Time // nil: time.Now
	Log   *slog.Logger     // failed reads; nil: discarded
}

var (
	_ Index   = (*IndexSnapshot)(nil)
	_ Updates = (*IndexSnapshot)(nil)
)

// NewIndexSnapshot serves index's reads from the summaries list returns
// (every player in the index). updates is the write-behind the snapshot
// passes summaries on to.
func NewIndexSnapshot(index Index, updates Updates, list func(ctx context.Context) ([]Summary, error), cfg SnapshotConfig) *IndexSnapshot {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &IndexSnapshot{Index: index, updates: updates, list: list, cfg: cfg,
		shields: map[string]int64{}, locks: map[string]int64{}}
}

// ahead reports whether a comes before b in Top's order: more trophies,
// then the smaller id.
func ahead(a, b *Summary) bool {
	return a.Trophies > b.Trophies || a.Trophies == b.Trophies && a.ID < b.ID
}

// current returns the copy, and starts a read of the index when the copy
// is older than Every (or there is none) and no read runs. While a read
// runs the old copy answers; without one, callers wait for the read. A
// failed read keeps the old copy, or is every caller's error until the
// next read may start, a quarter of Every later.
func (x *IndexSnapshot) current(ctx context.Context) (*indexCopy, error) {
	x.mu.Lock()
	now := x.cfg.Now()
	if (x.copy == nil || now.Sub(x.readAt) >= x.cfg.Every) && x.reading == nil && !now.Before(x.retryAt) {
		x.reading = make(chan struct{})
		// The read is the snapshot's, not the caller's: it goes on if the
		// caller gives up. Its end is the mongo bookkeeper's tries.
		go x.read(context.WithoutCancel(ctx), x.reading)
	}
	c, reading, failed := x.copy, x.reading, x.failed
	x.mu.Unlock()
	switch {
	case c != nil:
		return c, nil
	case reading == nil:
		return nil, failed
	}
	select {
	case <-reading:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.copy != nil {
		return x.copy, nil
	}
	return nil, x.failed
}

// read reads the index into a new copy and closes done.
func (x *IndexSnapshot) read(ctx context.Context, done chan struct{}) {
	all, err := x.list(ctx)
	var c *indexCopy
	if err == nil {
		slices.SortFunc(all, func(a, b Summary) int {
			return cmp.Or(cmp.Compare(b.Trophies, a.Trophies), cmp.Compare(a.ID, b.ID))
		})
		c = &indexCopy{sorted: all, pos: make(map[string]int, len(all))}
		for i := range all {
			c.pos[all[i].ID] = i
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	defer close(done)
	x.reading = nil
	now := x.cfg.Now()
	if err != nil {
		x.retryAt = now.Add(x.cfg.Every / 4)
		if x.copy == nil {
			x.failed = err
			x.cfg.Log.Warn("player index: read failed; find_opponent and leaderboards fail until one lands", "err", err)
			return
		}
		x.cfg.Log.Warn("player index: read failed; serving an older copy", "age", now.Sub(x.readAt).Round(time.Second).String(), "err", err)
		return
	}
	// Paced from the read's end, so a read slower than Every does not
	// start the next at once.
	x.copy, x.readAt, x.failed = c, now, nil
	// Expired shields and locks go; the others stay, as the read may
	// predate their write (the write-behind batches summaries).
	prune(x.shields, now.UnixMilli())
	prune(x.locks, now.UnixMilli())
}

// prune drops the entries whose time has passed.
func prune(m map[string]int64, now int64) {
	for id, until := range m {
		if until < now {
			delete(m, id)
		}
	}
}

// Top implements Index from the copy.
func (x *IndexSnapshot) Top(ctx context.Context, n int) ([]Summary, error) {
	c, err := x.current(ctx)
	if err != nil || n <= 0 {
		return nil, err
	}
	k := min(n, len(c.sorted))
	return c.sorted[:k:k], nil
}

// Rank implements Index from the copy. The player's own entry, if the
// copy has it at other trophies, is not counted ahead of it.
func (x *IndexSnapshot) Rank(ctx context.Context, trophies int, id string) (int, error) {
	c, err := x.current(ctx)
	if err != nil {
		return 0, err
	}
	me := Summary{ID: id, Trophies: trophies}
	n := sort.Search(len(c.sorted), func(i int) bool { return !ahead(&c.sorted[i], &me) })
	if p, ok := c.pos[id]; ok && p < n {
		n--
	}
	return 1 + n, nil
}

// Opponents implements Index from the copy: the band, most trophies first,
// without q.Exclude and those shielded or locked at q.Now, as the copy and
// this server's own shields and locks since it tell.
func (x *IndexSnapshot) Opponents(ctx context.Context, q OpponentQuery) ([]Summary, error) {
	c, err := x.current(ctx)
	if err != nil || q.Limit <= 0 {
		return nil, err
	}
	sorted := c.sorted
	tol := max(q.Tolerance, 0)
	hi, lo := q.Trophies+tol, q.Trophies-tol
	out := make([]Summary, 0, min(q.Limit, 64))
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Trophies <= hi }); i < len(sorted) && sorted[i].Trophies >= lo; i++ {
		s := &sorted[i]
		if s.ID == q.Exclude || s.ShieldUntil >= q.Now || x.shields[s.ID] >= q.Now || x.locks[s.ID] >= q.Now {
			continue
		}
		if out = append(out, *s); len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// LockRaid implements Index: the index's lock, remembered here so that
// the defender is not offered while it holds.
func (x *IndexSnapshot) LockRaid(ctx context.Context, defender, raidID string, until int64) (bool, error) {
	ok, err := x.Index.LockRaid(ctx, defender, raidID, until)
	if ok {
		x.mu.Lock()
		x.locks[defender] = max(x.locks[defender], until)
		x.mu.Unlock()
	}
	return ok, err
}

// UnlockRaid implements Index.
func (x *IndexSnapshot) UnlockRaid(ctx context.Context, defender, raidID string) error {
	err := x.Index.UnlockRaid(ctx, defender, raidID)
	if err == nil {
		x.mu.Lock()
		delete(x.locks, defender)
		x.mu.Unlock()
	}
	return err
}

// Publish implements Updates: the write-behind's, with the shield kept
// here until the next read.
func (x *IndexSnapshot) Publish(s Summary) {
	if s.ShieldUntil > 0 {
		x.mu.Lock()
		x.shields[s.ID] = max(x.shields[s.ID], s.ShieldUntil)
		x.mu.Unlock()
	}
	if x.updates != nil {
		x.updates.Publish(s)
	}
}

// Create implements Updates.
func (x *IndexSnapshot) Create(s Summary) {
	if x.updates != nil {
		x.updates.Create(s)
	}
}

// Forget implements Updates.
func (x *IndexSnapshot) Forget(mailIDs []string) {
	if x.updates != nil {
		x.updates.Forget(mailIDs)
	}
}
