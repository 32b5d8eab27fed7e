package state

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"rampart/actions"
)

// The interfaces below are the MongoDB side of the game: the player index
// behind leaderboards and opponent search, the raid locks, the durable
// mailbox that carries a raid's result to its attacker, and the analytics
// stream. state/mongostore implements them on mongo-driver, and is the one
// layer that bookkeeps those calls: state calls them directly.

// ErrNoIndex means the operation needs MongoDB and none is configured.
var ErrNoIndex = errors.New("no player index configured")

// Summary is the small per-player document the index keeps, published
// after every save.
type Summary = actions.Rival

// OpponentQuery asks for raid targets.
type OpponentQuery struct {
	Trophies  int    // the attacker's
	Tolerance int    // candidates within Trophies ± Tolerance
	Exclude   string // the attacker
	Now       int64  // Unix ms: shields and raid locks before it have ended
	Limit     int
}

// Index is the player index.
type Index interface {
	// Top returns the n players with the most trophies, most first (ties
	// by id).
	Top(ctx context.Context, n int) ([]Summary, error)
	// Rank is 1 + the number of players ahead of (trophies, id) in Top's
	// order.
	Rank(ctx context.Context, trophies int, id string) (int, error)
	// Opponents returns up to q.Limit players within the trophy band who
	// are not q.Exclude, not shielded and not locked for a raid at q.Now.
	Opponents(ctx context.Context, q OpponentQuery) ([]Summary, error)
	// LockRaid takes the raid lock on defender for raidID until the given
	// Unix ms, if no other unexpired lock holds it; ok reports whether it
	// did. Taking a lock the same raidID already holds succeeds.
	LockRaid(ctx context.Context, defender, raidID string, until int64) (ok bool, err error)
	// UnlockRaid releases defender's lock if raidID holds it.
	UnlockRaid(ctx context.Context, defender, raidID string) error
}

// Mail is a durable message to a player, applied exactly once by the
// server that owns the player when it next loads it (or at once if it is
// online there).
type Mail struct {
	ID      string          `json:"id"` // unique; the raid id for raids
	To      string          `json:"to"`
	Kind    string          `json:"kind"`
	Created int64           `json:"created"` // Unix ms
	Body    json.RawMessage `json:"body"`
}

// Mailbox holds mail until it has been applied.
type Mailbox interface {
	// Send stores m; sending the same ID again is not an error and does
	// not duplicate it.
	Send(ctx context.Context, m Mail) error
	// Pending returns to's mail, oldest first.
	Pending(ctx context.Context, to string) ([]Mail, error)
}

// Updates takes the writes that follow a save. Neither call blocks: the
// implementation batches them, and drops (and counts) what it cannot
// send. A dropped summary is written again at the next save; mail whose
// deletion was dropped is delivered again at a later load, where the
// player's applied list makes it a no-op.
type Updates interface {
	// Publish replaces the player's index entry; the newest per player wins.
	Publish(s Summary)
	// Create writes a new player's first entry (an insert: on the
	// embedded FerretDB an upsert scans the collection, an insert does
	// not).
	Create(s Summary)
	// Forget deletes mail whose effects a landed save holds.
	Forget(mailIDs []string)
}

// Unindexed hears from the index's write-behind that the entries of ids
// were dropped (MongoDB was down past its retries, or its queue full):
// each of them online here is written to the index again at its next
// save. (A player who left memory meanwhile is written at the save after
// its next sign-in changes its ranking.)
func (s *Store) Unindexed(ids []string) {
	for _, id := range ids {
		s.withOnline(id, func(o *Online) { o.published = Summary{} })
	}
}

// Event is one analytics record.
type Event struct {
	Time     time.Time        `json:"t"`
	Player   string           `json:"player"`
	Kind     string           `json:"kind"` // login, logout, action, purchase, raid
	Name     string           `json:"name,omitempty"`
	OK       bool             `json:"ok"`
	Code     string           `json:"code,omitempty"`
	Duration time.Duration    `json:"dur_us,omitempty"`
	Deltas   map[string]int64 `json:"deltas,omitempty"`
	Extra    map[string]any   `json:"extra,omitempty"`
}

// Analytics receives events. Emit never blocks and never fails the game:
// an implementation batches, and drops (and counts) what it cannot send.
type Analytics interface {
	Emit(e Event)
}
