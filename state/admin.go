package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"rampart/journal"
)

// Record emits e to analytics (admin calls; the api's own events).
func (s *Store) Record(e Event) { s.emit(e) }

// PlayerInfo is a player as an operator sees it: the document and where
// it is live.
type PlayerInfo struct {
	// Player is the player's public view; nil when it was never saved.
	Player json.RawMessage `json:"player"`
	// Online says this server holds it; Owner and LeaseUntil (Unix ms)
	// are the lease of whoever does.
	Online     bool   `json:"online"`
	Owner      string `json:"owner,omitempty"`
	LeaseUntil int64  `json:"lease_until,omitempty"`
}

// Inspect returns id's player as it is in memory here, or as saved in S3.
// It never loads the player or takes its lease.
func (s *Store) Inspect(ctx context.Context, id string) (PlayerInfo, error) {
	if !ValidID(id) {
		return PlayerInfo{}, ErrBadPlayerID
	}
	if o, ok := s.players.load(id); ok {
		o.mu.Lock()
		if !o.gone {
			view, err := publicPlayer(&o.p)
			o.mu.Unlock()
			return PlayerInfo{Player: view, Online: true, Owner: s.cfg.ServerID, LeaseUntil: o.p.Lease.Until}, err
		}
		o.mu.Unlock()
	}
	data, _, found, err := s.getObject(ctx, id)
	if err != nil || !found {
		return PlayerInfo{}, err
	}
	p, err := decodePlayer(data)
	if err != nil {
		return PlayerInfo{}, fmt.Errorf("inspect player %s: %w", id, err)
	}
	view, err := publicPlayer(&p)
	info := PlayerInfo{Player: view}
	if p.Lease.Owner != "" && p.Lease.Until > s.cfg.Now().UnixMilli() {
		info.Owner, info.LeaseUntil = p.Lease.Owner, p.Lease.Until
	}
	return info, err
}

// ErrBadGrant means a grant names an unknown resource or a non-positive
// or absurd amount.
var ErrBadGrant = errors.New("bad grant")

// maxGrant bounds one resource of one grant: a typo of an operator must
// not overflow a player's counters.
const maxGrant = 1 << 40

// Grant adds res to player id, once per grantID: a grant id already
// applied answers duplicate and changes nothing (kept in the player's
// Applied list, beside delivered mail). The player is loaded (and its
// lease taken) if it is not online; the grant is saved before Grant
// returns.
func (s *Store) Grant(ctx context.Context, id, grantID string, res map[string]int64) (duplicate bool, err error) {
	if !ValidID(id) {
		return false, ErrBadPlayerID
	}
	if grantID == "" || len(grantID) > 64 || !ValidID(grantID) {
		return false, fmt.Errorf("grant id must be 1-64 characters of [A-Za-z0-9_-]: %w", ErrBadGrant)
	}
	if len(res) == 0 {
		return false, fmt.Errorf("grant of nothing: %w", ErrBadGrant)
	}
	gd := s.gd.Current()
	for k, v := range res {
		if gd.ResourceIndex(k) < 0 {
			return false, fmt.Errorf("unknown resource %q: %w", k, ErrBadGrant)
		}
		if v <= 0 || v > maxGrant {
			return false, fmt.Errorf("resource %q: amount must be 1-%d: %w", k, int64(maxGrant), ErrBadGrant)
		}
	}
	args, err := json.Marshal(grantRecord{ID: grantID, Resources: res})
	if err != nil {
		return false, fmt.Errorf("grant %s: %w", id, err)
	}
	for {
		o, _, err := s.load(ctx, id, nil)
		if err != nil {
			return false, err
		}
		o.mu.Lock()
		if o.gone {
			o.mu.Unlock()
			continue
		}
		if o.poisoned {
			o.mu.Unlock()
			return false, fmt.Errorf("grant %s: %w", id, ErrJournal)
		}
		var t journal.Ticket
		var jerr error
		duplicate = !applyGrant(&o.p, grantID, res)
		if !duplicate {
			o.changes++
			// Journaled like an action, so replay (a checkpoint plus the
			// journal) reaches the same state, hash for hash.
			t, jerr = s.journaled(o, journal.KindGrant, "grant", 0, s.cfg.Now(), args)
		}
		o.mu.Unlock()
		if duplicate {
			return true, nil
		}
		if err := s.durable(ctx, o, t, jerr); err != nil {
			return false, err
		}
		if s.jrnl == nil {
			// No journal (an A/B switch): the checkpoint is the record.
			return false, s.save(ctx, o, saveRenew)
		}
		return false, nil
	}
}

// grantRecord is a grant's journal record (Args).
type grantRecord struct {
	ID        string           `json:"id"`
	Resources map[string]int64 `json:"resources"`
}

// applyGrant adds res to p once per grant id (kept in p.Applied beside
// delivered mail) and reports whether it did: the live path and replay
// share it.
func applyGrant(p *Player, grantID string, res map[string]int64) bool {
	key := "grant:" + grantID
	if p.applied(key) {
		return false
	}
	if p.Base.Res == nil {
		p.Base.Res = make(map[string]int64, len(res))
	}
	for k, v := range res {
		p.Base.Res[k] += v
	}
	pushCapped(&p.Applied, key, maxApplied)
	return true
}
