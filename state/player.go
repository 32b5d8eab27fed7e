package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"rampart/actions"
	"rampart/gamedata"
)

// Schema is the version of the saved player document this server writes.
const Schema = 1

// Replies is how many recent action replies a player keeps, so a resent
// seq gets its original answer.
const Replies = 64

// Player is the saved document, one S3 object per player.
type Player struct {
	Schema int    `json:"schema"`
	ID     string `json:"id"`
	// Lease says which server owns the player and until when (Unix ms).
	Lease Lease `json:"lease"`
	// LastSeq is the highest action seq applied.
	LastSeq int64 `json:"last_seq"`
	// Rev is the journal revision this document holds: every state change
	// is one journal record, and replay applies the records above Rev.
	Rev uint64 `json:"rev,omitempty"`
	// Replies holds the replies of the last Replies seqs, oldest first.
	Replies []Reply      `json:"replies,omitempty"`
	Base    actions.Base `json:"base"`
	Created int64        `json:"created"`
	SavedAt int64        `json:"saved_at"`
	// SavedBy is the server (ServerID, unique per process) that wrote this
	// version: a 412 against our own lost write is told from a takeover.
	SavedBy string `json:"saved_by,omitempty"`

	// Found is the opponent the last find_opponent offered; attack needs it.
	Found *Found `json:"found,omitempty"`
	// Async holds the last results of asynchronous actions, oldest first.
	Async []AsyncResult `json:"async,omitempty"`
	// Raids is the raid history, oldest first.
	Raids []actions.RaidLogEntry `json:"raids,omitempty"`
	// RaidsOut counts this player's attacks whose result has not reached
	// it yet. A load reads the mailbox only when it is above zero: the
	// result of a raid that finished while the player was offline waits
	// there.
	RaidsOut int `json:"raids_out,omitempty"`
	// Applied holds the ids of the last mail applied to this player: mail
	// delivered again (a crash between applying and deleting it) is
	// recognised and skipped.
	Applied []string `json:"applied,omitempty"`
	// Refresh is the player's refresh-token family: the only one whose
	// tokens refresh, at its unspent counter (accounts.Rotation). Every
	// sign-in writes a new one with the lease, before it answers.
	Refresh RefreshFamily `json:"refresh,omitzero"`
	// Revoked is the account's token generation as of the player's last
	// sign-out from a server (a logout, a ban or a refresh-token reuse
	// revokes; a handoff writes the session's own, revoking nothing): a
	// login with a token of an older generation is refused, also by a
	// server that loads the player afresh after a revocation with an
	// account generation it read before. Never above the account's:
	// tokens are signed at the account's.
	Revoked uint64 `json:"revoked,omitempty"`
}

// RefreshFamily is a refresh-token family and the counter of its one
// unspent token.
type RefreshFamily struct {
	ID      string `json:"id"`
	Counter uint64 `json:"counter"`
}

// Bounds of the player document's history lists.
const (
	maxAsync   = 16
	maxRaids   = 20
	maxApplied = 256
)

// Found is an offered opponent.
type Found = actions.Offer

// AsyncResult is the final answer to an asynchronous action.
type AsyncResult struct {
	Seq    int64           `json:"seq"`
	Name   string          `json:"name"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *actions.Error  `json:"error,omitempty"`
	At     int64           `json:"at"`
}

// pushCapped appends v to *list, dropping the oldest past limit.
func pushCapped[T any](list *[]T, v T, limit int) {
	if len(*list) >= limit {
		n := copy(*list, (*list)[len(*list)-limit+1:])
		*list = (*list)[:n]
	}
	*list = append(*list, v)
}

// applied reports whether mail id was already applied.
func (p *Player) applied(id string) bool {
	for _, a := range p.Applied {
		if a == id {
			return true
		}
	}
	return false
}

// Lease is ownership of a player by one server.
type Lease struct {
	Owner string `json:"owner,omitempty"`
	Until int64  `json:"until,omitempty"`
}

// Reply is the answer to one action, as sent to the client.
type Reply struct {
	Seq       int64           `json:"seq"`
	OK        bool            `json:"ok"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Pending   bool            `json:"pending,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *actions.Error  `json:"error,omitempty"`
}

// reply finds the stored reply for seq.
func (p *Player) reply(seq int64) (Reply, bool) {
	for i := len(p.Replies) - 1; i >= 0; i-- {
		if p.Replies[i].Seq == seq {
			return p.Replies[i], true
		}
	}
	return Reply{}, false
}

// remember stores r, evicting the oldest past Replies.
func (p *Player) remember(r Reply) {
	if len(p.Replies) == Replies {
		copy(p.Replies, p.Replies[1:])
		p.Replies[len(p.Replies)-1] = r
		return
	}
	p.Replies = append(p.Replies, r)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id is a valid player id (API.md).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ErrNewerSchema means the document was written by a newer server.
var ErrNewerSchema = errors.New("player document has a newer schema")

// migrations[n] upgrades a document of schema n to n+1, working on the
// generic JSON form so old field layouts need no Go types.
var migrations = map[int]func(doc map[string]any) error{
	// Schema 0: documents written before the schema field existed.
	0: func(doc map[string]any) error { return nil },
}

// decodePlayer parses a saved document, migrating older schemas.
func decodePlayer(data []byte) (Player, error) {
	var p Player
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return p, fmt.Errorf("decode player: %w", err)
	}
	schema := 0
	if head.Schema != nil {
		schema = *head.Schema
	}
	if schema > Schema {
		return p, fmt.Errorf("decode player: schema %d: %w", schema, ErrNewerSchema)
	}
	if schema < Schema {
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			return p, fmt.Errorf("decode player: %w", err)
		}
		for s := schema; s < Schema; s++ {
			m, ok := migrations[s]
			if !ok {
				return p, fmt.Errorf("decode player: no migration from schema %d", s)
			}
			if err := m(doc); err != nil {
				return p, fmt.Errorf("migrate player from schema %d: %w", s, err)
			}
			doc["schema"] = s + 1
		}
		var err error
		if data, err = json.Marshal(doc); err != nil {
			return p, fmt.Errorf("decode player: %w", err)
		}
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("decode player: %w", err)
	}
	return p, nil
}

// DecodePlayer parses a saved player document (an S3 object), migrating
// older schemas.
func DecodePlayer(data []byte) (Player, error) { return decodePlayer(data) }

// NewPlayer is a new player's document, created at created.
func NewPlayer(id string, gd *gamedata.Bundle, created time.Time) Player {
	return Player{Schema: Schema, ID: id, Base: actions.New(gd, created), Created: created.UnixMilli()}
}

// Hash is the state hash journal records carry (see stateHash).
func (p *Player) Hash() uint64 { return stateHash(p) }

func encodePlayer(p *Player) ([]byte, error) {
	p.Schema = Schema
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode player %s: %w", p.ID, err)
	}
	return data, nil
}
