package state

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// IndexSnapshot serves the player index's reads (Top, Rank, Opponents)
// from a copy of every player's summary held in memory, read again from
// the index at most every Every by whichever read finds it older. The
// writes go to the index as before: raid locks straight through (Index),
// summaries through the write-behind (Updates).
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
// Summary per player (~100 bytes: 2 MB at 20,000 players).
type IndexSnapshot struct {
	Index
	updates Updates
	list    func(ctx context.Context) ([]Summary, error)
	every   time.Duration
	now     func() time.Time

	mu      sync.Mutex
	sorted  []Summary        // every player at the last read, in Top's order; never modified once set
	readAt  time.Time        // when sorted was read; zero: never
	retryAt time.Time        // after a failed read, when the next may be tried
	reading chan struct{}    // closed when the read in flight ends; nil: none
	shields map[string]int64 // ShieldUntil this server published since the read
	locks   map[string]int64 // raid locks this server took since the read, until
}

var (
	_ Index   = (*IndexSnapshot)(nil)
	_ Updates = (*IndexSnapshot)(nil)
)

// NewIndexSnapshot serves index's reads from the summaries list returns
// (every player in the index), read again at most every every. updates
// is the write-behind the snapshot passes summaries on to.
func NewIndexSnapshot(index Index, updates Updates, list func(ctx context.Context) ([]Summary, error), every time.Duration, now func() time.Time) *IndexSnapshot {
	if now == nil {
		now = time.Now
	}
	return &IndexSnapshot{Index: index, updates: updates, list: list, every: every, now: now,
		shields: map[string]int64{}, locks: map[string]int64{}}
}

// ahead reports whether a comes before b in Top's order: more trophies,
// then the smaller id.
func ahead(a, b *Summary) bool {
	return a.Trophies > b.Trophies || a.Trophies == b.Trophies && a.ID < b.ID
}

// current returns the copy, reading it again if it is older than every.
// Only one read is in flight: meanwhile the others answer from the older
// copy, or wait for the read if there is none yet.
func (x *IndexSnapshot) current(ctx context.Context) ([]Summary, error) {
	for {
		x.mu.Lock()
		now := x.now()
		fresh := !x.readAt.IsZero() && now.Sub(x.readAt) < x.every
		if fresh || x.reading != nil && x.sorted != nil || now.Before(x.retryAt) && x.sorted != nil {
			sorted := x.sorted
			x.mu.Unlock()
			return sorted, nil
		}
		if x.reading != nil {
			reading := x.reading
			x.mu.Unlock()
			select {
			case <-reading:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		reading := make(chan struct{})
		x.reading = reading
		x.mu.Unlock()

		all, err := x.list(ctx)
		if err == nil {
			slices.SortFunc(all, func(a, b Summary) int {
				return cmp.Or(cmp.Compare(b.Trophies, a.Trophies), cmp.Compare(a.ID, b.ID))
			})
		}
		x.mu.Lock()
		x.reading = nil
		close(reading)
		if err != nil {
			x.retryAt = x.now().Add(x.every / 4)
			stale := x.sorted
			x.mu.Unlock()
			if stale != nil {
				return stale, nil
			}
			return nil, err
		}
		x.sorted, x.readAt = all, now
		// Expired shields and locks go; the others stay, as the read may
		// predate their write (the write-behind batches summaries).
		now = x.now()
		prune(x.shields, now.UnixMilli())
		prune(x.locks, now.UnixMilli())
		x.mu.Unlock()
		return all, nil
	}
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
	sorted, err := x.current(ctx)
	if err != nil || n <= 0 {
		return nil, err
	}
	return sorted[:min(n, len(sorted)):min(n, len(sorted))], nil
}

// Rank implements Index from the copy.
func (x *IndexSnapshot) Rank(ctx context.Context, trophies int, id string) (int, error) {
	sorted, err := x.current(ctx)
	if err != nil {
		return 0, err
	}
	me := Summary{ID: id, Trophies: trophies}
	return 1 + sort.Search(len(sorted), func(i int) bool { return !ahead(&sorted[i], &me) }), nil
}

// Opponents implements Index from the copy: the band, most trophies first,
// without q.Exclude and those shielded or locked at q.Now, as the copy and
// this server's own shields and locks since it tell.
func (x *IndexSnapshot) Opponents(ctx context.Context, q OpponentQuery) ([]Summary, error) {
	sorted, err := x.current(ctx)
	if err != nil || q.Limit <= 0 {
		return nil, err
	}
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
