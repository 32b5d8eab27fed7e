package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"rampart/actions"
	"rampart/gamedata"
	"rampart/journal"
)

// Durability (DESIGN.md principle 6). Every change to a player's state is
// a journal record, appended under the player's lock in the order it was
// applied; a reply goes out only once its batch is synced (group commit).
// The saved S3 object is a checkpoint: it holds Rev, the revision of the
// last record it includes. Replaying the records above Rev through the same
// pure functions gives the same state, and each record carries a hash of
// the state it led to, so a divergence is found, not silently saved.
//
// What a record means, by kind and name:
//
//	action <name>        a client action (seq, args); async ones replay only their pure Begin step
//	async <name>         an asynchronous action's outcome; args: asyncOutcome
//	mail raid_attack     a raid's result applied to its attacker; args: the result
//	mail defend          a raid settled on this (online) defender; args: the raid request
//	mail mailbox_read    the mailbox was read after a load: raids_out back to 0
//
// The time a record ran at (At) is the clock its pure function was given.

// Record names of the mail kind besides the mail kinds.
const (
	recDefend      = "defend"
	recMailboxRead = "mailbox_read"
)

// asyncOutcome is the args of an async record.
type asyncOutcome struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *actions.Error  `json:"error,omitempty"`
	// Army is what a failed attack gives back.
	Army map[string]int `json:"army,omitempty"`
}

// ErrJournal means a change could not be journaled: it is not
// acknowledged (503), and the player is reloaded before it plays again.
var ErrJournal = errors.New("journal unavailable")

// journaled appends a record of the change just made to o (o.mu held) and
// returns its ticket. A failure poisons o: its memory holds a change the
// journal lacks, so it must leave memory unsaved and load again.
func (s *Store) journaled(o *Online, kind journal.Kind, name string, seq int64, at time.Time, args []byte) (journal.Ticket, error) {
	if s.jrnl == nil {
		return journal.Ticket{}, nil
	}
	gd := s.gd.Current()
	settle(&o.p, gd, at)
	o.p.Rev++
	if o.floor == 0 {
		o.floor = s.jrnl.SyncedLSN() + 1 // the record lands above what is synced now
	}
	t, err := s.jrnl.Append(journal.Record{Player: o.id, Rev: o.p.Rev, Seq: seq, Kind: kind, Name: name,
		At: at.UnixMilli(), Version: gd.Version, Args: args, Hash: stateHash(&o.p)})
	if err != nil {
		o.poisoned = true
		s.counts.JournalErrors.Add(1)
		return t, fmt.Errorf("journal %s for %s: %w: %w", name, o.id, ErrJournal, err)
	}
	o.lastTicket = t
	return t, nil
}

// settle brings p's base up to at (CatchUp) after a change, before its
// record's hash is taken — live and in replay alike. Between records the
// live base may be caught up further than the last record's moment (a GET
// /player, a push timer, a sign-in look at it, unjournaled), which replay
// never sees; a change that does not catch the base up itself (an unknown
// action, an async outcome, a grant) would then hash differently in replay
// (found at 20,000 players: 30 players diverged on restart). CatchUp is
// path-independent, so settling both sides to the record's moment makes
// those looks invisible.
func settle(p *Player, gd *gamedata.Bundle, at time.Time) {
	actions.CatchUp(&p.Base, gd, at)
}

// durable waits for t's batch. On failure o is poisoned and dropped.
func (s *Store) durable(ctx context.Context, o *Online, t journal.Ticket, appendErr error) error {
	if s.jrnl == nil {
		return nil
	}
	err := appendErr
	if err == nil && t != (journal.Ticket{}) {
		if _, err = t.Wait(ctx); err != nil {
			s.counts.JournalErrors.Add(1)
			err = fmt.Errorf("journal for %s: %w: %w", o.id, ErrJournal, err)
		}
	}
	if err != nil {
		s.dropPoisoned(o)
	}
	return err
}

// dropPoisoned takes o out of memory unsaved after a journal failure;
// its next load replays the journal on top of its checkpoint. A save on
// the wire lands (or fails) first: the next load must find what it wrote,
// since a refresh-token family is in no journal record, and the login
// that wrote it may have answered.
func (s *Store) dropPoisoned(o *Online) {
	o.mu.Lock()
	o.poisoned = true // no save starts from here on
	o.mu.Unlock()
	o.saveMu.Lock()
	defer o.saveMu.Unlock()
	o.mu.Lock()
	floor := o.floor
	if o.savingFloor != 0 && (floor == 0 || o.savingFloor < floor) {
		floor = o.savingFloor
	}
	s.leaveMemory(o)
	o.mu.Unlock()
	s.tailMu.Lock()
	if floor == 0 {
		floor = 1
	}
	if old, ok := s.tails[o.id]; !ok || floor < old {
		s.tails[o.id] = floor
	}
	s.tailMu.Unlock()
	s.log.Error("journal failed: player left memory unsaved; its next load replays the journal", "player", o.id)
}

// stateHash digests what the game state is, not how it is stored: the
// player's seqs and revision, resources, buildings, army, trophies. It
// leaves out what a catch-up may represent differently (harvester
// accrual, training queue progress), which shows in resources and army.
func stateHash(p *Player) uint64 {
	// FNV-1a, 64 bits, written out so that hashing allocates nothing (it
	// runs for every record); TestStateHashDigestsAreStable holds it to
	// the digests of the first implementation, on hash/fnv.
	h := fnvOffset64
	num := func(v int64) {
		for i := range 8 {
			h = (h ^ uint64(byte(v>>(8*i)))) * fnvPrime64
		}
	}
	str := func(s string) {
		for i := range len(s) {
			h = (h ^ uint64(s[i])) * fnvPrime64
		}
		h *= fnvPrime64 // the 0 that ends a string
	}
	num(p.LastSeq)
	num(int64(p.Rev))
	num(int64(p.RaidsOut))
	b := &p.Base
	var keys [32]string // resources and units: a few dozen at most
	for _, k := range sortedKeys(keys[:0], b.Res) {
		str(k)
		num(b.Res[k])
	}
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		str(bl.ID)
		str(bl.Type)
		num(int64(bl.Level))
		num(int64(bl.X)<<32 | int64(bl.Y))
		num(bl.Done)
	}
	for _, k := range sortedKeys(keys[:0], b.Army) {
		str(k)
		num(int64(b.Army[k]))
	}
	num(int64(b.Trophies))
	num(b.ShieldUntil)
	num(int64(b.NextID))
	if p.Found != nil {
		str(p.Found.ID)
		num(p.Found.Until)
	}
	return h
}

const (
	fnvOffset64 uint64 = 14695981039346656037
	fnvPrime64  uint64 = 1099511628211
)

// sortedKeys appends m's keys to dst and sorts them.
func sortedKeys[V any](dst []string, m map[string]V) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// ErrDiverged means replaying a record did not reach the state it
// recorded.
var ErrDiverged = errors.New("replay diverged")

// Replayer applies journal records to a player document, as the live
// paths did. Bundles maps game data versions to bundles; a record whose
// version is missing cannot be replayed.
type Replayer struct {
	Bundles func(version string) *gamedata.Bundle
}

// Apply applies r to p (whose Rev must be r.Rev-1) and checks the hash.
func (rp Replayer) Apply(p *Player, r *journal.Record) error {
	if r.Rev != p.Rev+1 {
		return fmt.Errorf("player %s: record rev %d after rev %d: a gap in the journal", p.ID, r.Rev, p.Rev)
	}
	gd := rp.Bundles(r.Version)
	if gd == nil {
		return fmt.Errorf("player %s rev %d: game data %s is not loaded", p.ID, r.Rev, r.Version)
	}
	at := time.UnixMilli(r.At)
	switch r.Kind {
	case journal.KindAction:
		a := Action{Seq: r.Seq, Name: r.Name, Args: json.RawMessage(r.Args)}
		var rep Reply
		if name, ok := strings.CutPrefix(r.Name, refusedPrefix); ok {
			a.Name = name
			rep = refusedNoMongo(&a)
		} else {
			rep = applyRules(p, gd, at, &a).reply
		}
		p.LastSeq = a.Seq
		p.remember(rep)
	case journal.KindAsync:
		var out asyncOutcome
		if err := json.Unmarshal(r.Args, &out); err != nil {
			return fmt.Errorf("player %s rev %d: async outcome: %w", p.ID, r.Rev, err)
		}
		applyOutcome(p, r.Name, r.Seq, &out, at)
	case journal.KindMail:
		switch r.Name {
		case MailRaidAttack:
			var res actions.RaidResult
			if err := json.Unmarshal(r.Args, &res); err != nil {
				return fmt.Errorf("player %s rev %d: raid result: %w", p.ID, r.Rev, err)
			}
			applyRaidResult(p, gd, &res, r.Args, at)
			pushCapped(&p.Applied, res.RaidID+":attack", maxApplied)
		case recDefend:
			var req actions.RaidRequest
			if err := json.Unmarshal(r.Args, &req); err != nil {
				return fmt.Errorf("player %s rev %d: raid request: %w", p.ID, r.Rev, err)
			}
			_, line := actions.Defend(&p.Base, &req, gd, at)
			pushCapped(&p.Raids, line, maxRaids)
		case recMailboxRead:
			p.RaidsOut = 0
		default:
			return fmt.Errorf("player %s rev %d: unknown mail record %q", p.ID, r.Rev, r.Name)
		}
	case journal.KindGrant:
		var g grantRecord
		if err := json.Unmarshal(r.Args, &g); err != nil {
			return fmt.Errorf("player %s rev %d: grant: %w", p.ID, r.Rev, err)
		}
		applyGrant(p, g.ID, g.Resources)
	default:
		return fmt.Errorf("player %s rev %d: unknown record kind %d", p.ID, r.Rev, r.Kind)
	}
	settle(p, gd, at)
	p.Rev = r.Rev
	if got := stateHash(p); got != r.Hash {
		return fmt.Errorf("player %s rev %d (%s %s at %d): state hash %016x, journal says %016x: %w",
			p.ID, r.Rev, r.Kind, r.Name, r.At, got, r.Hash, ErrDiverged)
	}
	return nil
}

// applied is what applyRules did: the reply, and for an asynchronous
// action the request its job needs.
type applied struct {
	reply Reply
	req   any // actions.LeaderboardRequest, OpponentRequest or RaidRequest
}

// applyRules is an action's pure part, shared by the live path and
// replay: the rules, or an asynchronous action's Begin step.
func applyRules(p *Player, gd *gamedata.Bundle, now time.Time, a *Action) applied {
	r := Reply{Seq: a.Seq}
	res, req, err := actions.Dispatch(&p.Base, &p.Found, p.ID, a.Seq, gd, now, a.Name, a.Args)
	if err != nil {
		r.Error = asActionError(err)
		return applied{reply: r}
	}
	if req == nil {
		r.OK = true
		if r.Result, err = json.Marshal(res); err != nil {
			r.Result = json.RawMessage("{}")
		}
		return applied{reply: r}
	}
	if _, ok := req.(actions.RaidRequest); ok {
		p.RaidsOut++ // its result comes back as mail
	}
	r.OK, r.Pending = true, true
	return applied{reply: r, req: req}
}

// applyOutcome is an asynchronous action's outcome (shared by complete and
// replay).
func applyOutcome(p *Player, name string, seq int64, out *asyncOutcome, now time.Time) {
	r := AsyncResult{Seq: seq, Name: name, OK: out.OK, Result: out.Result, Error: out.Error, At: now.UnixMilli()}
	switch {
	case !out.OK && name == actions.Attack:
		actions.RefundAttack(&p.Base, out.Army)
		p.RaidsOut = max(0, p.RaidsOut-1)
	case out.OK && name == actions.FindOpponent:
		var res actions.OpponentResult
		if json.Unmarshal(out.Result, &res) == nil {
			p.Found = &Found{ID: res.Opponent.ID, Until: now.Add(actions.OpponentOffer).UnixMilli()}
		}
	}
	settleResult(p, r)
}

// applyRaidResult applies a raid's result to its attacker (shared by
// applyMail and replay).
func applyRaidResult(p *Player, gd *gamedata.Bundle, res *actions.RaidResult, body json.RawMessage, now time.Time) {
	pushCapped(&p.Raids, actions.ApplyRaidAttack(&p.Base, gd, res, now), maxRaids)
	if seq, ok := attackSeq(p.ID, res.RaidID); ok {
		settleResult(p, AsyncResult{Seq: seq, Name: actions.Attack, OK: true, Result: body, At: now.UnixMilli()})
	}
	p.RaidsOut = max(0, p.RaidsOut-1)
}

// settleResult records r as the answer to its seq, once: it replaces the
// pending reply and joins the async list. It reports whether r was new.
func settleResult(p *Player, r AsyncResult) bool {
	for _, a := range p.Async {
		if a.Seq == r.Seq {
			return false
		}
	}
	for i := range p.Replies {
		if p.Replies[i].Seq == r.Seq {
			p.Replies[i] = Reply{Seq: r.Seq, OK: r.OK, Result: r.Result, Error: r.Error}
		}
	}
	pushCapped(&p.Async, r, maxAsync)
	return true
}

// RecoveryStats say what Recover did.
type RecoveryStats struct {
	Players  int   `json:"players"`  // players with records in the journal
	Replayed int   `json:"replayed"` // records applied on top of checkpoints
	Saved    int   `json:"saved"`    // players checkpointed after replay
	Diverged int   `json:"diverged"` // players whose replay stopped at a hash mismatch or gap
	Skipped  int   `json:"skipped"`  // players owned by another server now
	Corrupt  int   `json:"corrupt"`  // corrupt frames skipped
	Loaded   int   `json:"loaded"`   // players a sign-in loaded (and replayed) before recovery reached them
	Took     int64 `json:"took_ms"`
}

// Recover replays the journal in dir on top of the players' checkpoints
// and saves each player whose checkpoint was behind, releasing its lease,
// before the server takes requests. A corrupt frame is logged, counted and
// skipped; a player whose replay diverges is saved as of the last record
// that checked out, and logged.
func (s *Store) Recover(ctx context.Context, dir string) (RecoveryStats, error) {
	t0 := time.Now()
	recs, first, st, err := s.scanJournal(dir)
	if err != nil {
		return st, err
	}
	s.holdTails(recs, first)
	st, err = s.recoverAll(ctx, recs, st, recoverConcurrency)
	if err != nil {
		return st, err
	}
	// Everything recovered is checkpointed: shipping starts from here, and
	// what this server shipped before it died is not needed any more.
	s.shipMu.Lock()
	s.ship.next = s.jrnl.SyncedLSN()
	s.shipMu.Unlock()
	s.forgetShipped(ctx, s.cfg.ServerID)
	st.Took = time.Since(t0).Milliseconds()
	return st, nil
}

// RecoverInBackground is Recover without the wait: it reads the journal,
// makes every player in it replay its records from memory at its next load
// (a sign-in, a takeover: replayTail), and recovers the others in the
// background, recoverBackground at once. The server serves as soon as it
// returns: at 20,000 players, saving everyone first kept it from listening
// for 54 s after a kill -9 (BENCHMARKS.md). done gets the stats once every
// player is recovered or loaded; until then the journal keeps their
// segments and this server's shipped tail stays in S3.
func (s *Store) RecoverInBackground(ctx context.Context, dir string) (pending int, done <-chan RecoveryResult, err error) {
	t0 := time.Now()
	recs, first, st, err := s.scanJournal(dir)
	if err != nil {
		return 0, nil, err
	}
	s.holdTails(recs, first)
	// Shipping goes on from the end of what was read; what this server
	// shipped before it died stays until the journal releases it, that is
	// until every player in it is checkpointed (a takeover may need it).
	s.shipMu.Lock()
	s.ship.next = s.jrnl.SyncedLSN()
	s.shipMu.Unlock()
	ch := make(chan RecoveryResult, 1)
	go func() {
		s.adoptShipped(ctx)
		st, err := s.recoverAll(ctx, recs, st, recoverBackground)
		st.Took = time.Since(t0).Milliseconds()
		ch <- RecoveryResult{Stats: st, Err: err}
	}()
	return len(recs), ch, nil
}

// RecoveryResult is what a background recovery ends with.
type RecoveryResult struct {
	Stats RecoveryStats
	Err   error
}

// recoverBackground is how many players the background recovery saves at
// once: fewer than a blocking recovery, to leave S3 to the sign-ins.
const recoverBackground = 8

// scanJournal reads every record of dir, by player, skipping corrupt
// frames (logged and counted).
func (s *Store) scanJournal(dir string) (recs map[string][]journal.Record, first map[string]journal.LSN, st RecoveryStats, err error) {
	recs, first = map[string][]journal.Record{}, map[string]journal.LSN{}
	from := journal.LSN(0)
	for {
		_, err := journal.Replay(dir, from, func(lsn journal.LSN, r *journal.Record) error {
			c := *r
			c.Args = slices.Clone(r.Args)
			if _, ok := first[r.Player]; !ok {
				first[r.Player] = lsn
			}
			recs[r.Player] = append(recs[r.Player], c)
			return nil
		})
		var ce *journal.CorruptError
		if errors.As(err, &ce) {
			st.Corrupt++
			s.log.Error("journal: corrupt frame skipped at recovery", "file", ce.File, "offset", ce.Offset, "reason", ce.Reason)
			from = ce.Next
			continue
		}
		if err != nil {
			return nil, nil, st, fmt.Errorf("recover from journal %s: %w", dir, err)
		}
		break
	}
	st.Players = len(recs)
	return recs, first, st, nil
}

// holdTails makes each player of recs wait for its records: a load replays
// them from memory (replayTail), and the journal keeps their segments
// until the player is checkpointed (releaseJournal reads the tails).
func (s *Store) holdTails(recs map[string][]journal.Record, first map[string]journal.LSN) {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.pending == nil {
		s.pending = map[string][]journal.Record{}
	}
	for id, rs := range recs {
		s.pending[id] = rs
		if f, ok := s.tails[id]; !ok || first[id]+1 < f {
			s.tails[id] = first[id] + 1
		}
	}
}

// tailDone forgets id's waiting records once they are in a landed
// checkpoint (recovery's save, or the lease write of the load that replayed
// them), and lets the journal take its records again.
func (s *Store) tailDone(id string) {
	s.tailMu.Lock()
	delete(s.pending, id)
	delete(s.tails, id)
	s.tailMu.Unlock()
	if s.jrnl != nil {
		s.jrnl.Resume(id)
	}
}

// recoverAll recovers every player of recs still waiting (one a sign-in
// loaded meanwhile has replayed its records itself), many at once.
func (s *Store) recoverAll(ctx context.Context, recs map[string][]journal.Record, st RecoveryStats, limit int) (RecoveryStats, error) {
	// Players recover independently (their own S3 objects), many at once:
	// one at a time cost 2.7 ms each, 55 s for 20,000 before the server
	// could listen (BENCHMARKS.md, production topology).
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, id := range slices.Sorted(maps.Keys(recs)) {
		g.Go(func() error {
			release, cerr := s.claimTail(gctx, id, false)
			if cerr != nil || !s.stillPending(id) {
				if release != nil {
					release()
				}
				mu.Lock()
				st.Loaded++ // a load replays it, or has
				mu.Unlock()
				return nil
			}
			n, saved, err := s.recoverPlayer(gctx, id, recs[id])
			defer release()
			mu.Lock()
			defer mu.Unlock()
			st.Replayed += n
			switch {
			case errors.Is(err, ErrPrecondition):
				st.Loaded++ // a sign-in loaded it between our read and our write
				return nil
			case errors.Is(err, ErrPlayerBusy):
				st.Skipped++
				s.log.Warn("recovery: player owned by another server; its journal tail is not ours to apply", "player", id, "err", err)
			case errors.Is(err, ErrDiverged):
				st.Diverged++
				s.log.Error("recovery: replay diverged; saved as of the last record that checked out", "player", id, "err", err)
			case err != nil:
				return fmt.Errorf("recover player %s: %w", id, err)
			}
			if saved {
				st.Saved++
			}
			if err == nil || saved || errors.Is(err, ErrPlayerBusy) || errors.Is(err, ErrDiverged) {
				s.tailDone(id) // a record that does not check out is given up, as its successors
			}
			return nil
		})
	}
	err := g.Wait()
	return st, err
}

// stillPending reports whether id's journal records still wait for it.
func (s *Store) stillPending(id string) bool {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	_, ok := s.pending[id]
	return ok
}

// recoverConcurrency is how many players recovery saves at once (the s3
// bookkeeper runs 64 calls).
const recoverConcurrency = 32

// recoverPlayer applies recs (in journal order) above id's checkpoint and
// saves the result with the lease released.
func (s *Store) recoverPlayer(ctx context.Context, id string, recs []journal.Record) (replayed int, saved bool, err error) {
	var data []byte
	var etag string
	fresh := false
	err = s.s3.Do(ctx, "s3:get", func(ctx context.Context) error {
		var err error
		data, etag, err = s.blobs.Get(ctx, Key(id))
		if errors.Is(err, ErrNotFound) {
			fresh, err = true, nil
		}
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("load: %w: %w", ErrUnavailable, err)
	}
	var p Player
	if fresh {
		if len(recs) == 0 || recs[0].Rev != 1 {
			return 0, false, fmt.Errorf("no checkpoint and the journal does not start at rev 1: %w", ErrDiverged)
		}
		created := time.UnixMilli(recs[0].At)
		p = Player{Schema: Schema, ID: id, Base: actions.New(s.gd.Current(), created), Created: created.UnixMilli()}
	} else if p, err = decodePlayer(data); err != nil {
		return 0, false, err
	}
	now := s.cfg.Now()
	if p.Lease.Owner != "" && p.Lease.Owner != s.cfg.ServerID && p.Lease.Until > now.UnixMilli() {
		return 0, false, fmt.Errorf("owned by %s: %w", p.Lease.Owner, ErrPlayerBusy)
	}
	indexed := s.summary(&p, now) // what the index holds: the checkpoint's save published it
	replayed, replayErr := s.replayOnto(&p, recs)
	if replayed == 0 {
		return 0, false, replayErr
	}
	p.Lease, p.SavedAt, p.SavedBy = Lease{}, now.UnixMilli(), s.cfg.ServerID
	data, err = encodePlayer(&p)
	if err != nil {
		return replayed, false, err
	}
	if _, err := s.put(ctx, Key(id), data, Cond{IfMatch: etag, IfNoneMatch: fresh}); err != nil {
		return replayed, false, fmt.Errorf("checkpoint after replay: %w", err)
	}
	// As a live save does, write the index only when what its queries
	// select by moved (a raid): a restart of 20,000 players wrote 20,000
	// entries, the stores' core busy with them while everyone signed in.
	if fresh || !sameRanking(indexed, s.summary(&p, now)) {
		s.publish(&p, now)
	}
	return replayed, true, replayErr
}

// replayer replays with the game data the store holds (the current
// bundle; a record of another version cannot be replayed).
func (s *Store) replayer() Replayer {
	return Replayer{Bundles: func(v string) *gamedata.Bundle {
		if gd := s.gd.Current(); gd.Version == v {
			return gd
		}
		return nil
	}}
}

// replayTail replays what the journal holds of p above its checkpoint, at
// its load: after a restart (the records recovery read, from memory) or
// after a journal failure dropped it (read from the journal). The caller
// calls tailDone once the result is in a landed write.
func (s *Store) replayTail(p *Player) error {
	s.tailMu.Lock()
	recs, inMemory := s.pending[p.ID]
	from, ok := s.tails[p.ID]
	s.tailMu.Unlock()
	if inMemory {
		_, err := s.replayOnto(p, recs)
		if errors.Is(err, ErrDiverged) {
			// As recovery does: the player goes on as of the last record
			// that checked out.
			s.log.Error("replay at load diverged; the player goes on as of the last record that checked out", "player", p.ID, "err", err)
			return nil
		}
		return err
	}
	rp := s.replayer()
	if !ok || s.jrnlDir == "" {
		return nil
	}
	var applyErr error
	_, err := journal.Replay(s.jrnlDir, from-1, func(lsn journal.LSN, r *journal.Record) error {
		if r.Player != p.ID || r.Rev <= p.Rev {
			return nil
		}
		if err := rp.Apply(p, r); err != nil {
			applyErr = err
			return err
		}
		return nil
	})
	if applyErr != nil {
		return applyErr
	}
	if err != nil {
		return fmt.Errorf("replay journal tail of %s: %w", p.ID, err)
	}
	return nil
}

// replayOnto applies the records of recs above p's revision, in order,
// and returns how many it applied. A record that does not check out stops
// it with ErrDiverged, and p is then exactly as of the record before: it
// is rebuilt from p as it came, encoded before the first record was
// applied (a record's changes are made in place, so they cannot be taken
// back one by one), with the records that checked out.
func (s *Store) replayOnto(p *Player, recs []journal.Record) (int, error) {
	rp := s.replayer()
	var orig []byte
	n := 0
	for i := range recs {
		r := &recs[i]
		if r.Rev <= p.Rev {
			continue // in the checkpoint already
		}
		if orig == nil {
			var err error
			if orig, err = encodePlayer(p); err != nil {
				return n, err
			}
		}
		err := rp.Apply(p, r)
		if err == nil {
			n++
			continue
		}
		if !errors.Is(err, ErrDiverged) {
			return n, err // refused before changing p: a gap, a missing bundle, bad arguments
		}
		good, derr := decodePlayer(orig)
		if derr != nil {
			return n, errors.Join(err, derr)
		}
		for j := range recs[:i] {
			if recs[j].Rev > good.Rev {
				if aerr := rp.Apply(&good, &recs[j]); aerr != nil {
					return n, errors.Join(err, aerr)
				}
			}
		}
		*p = good
		return n, err
	}
	return n, nil
}

// claimTail makes the caller the one hand handling id's waiting journal
// records, if it has any, and returns the release. A load (wait) waits for
// the hand before it; the background recovery (!wait) gets ok false
// instead, and leaves the player to the load, which replays it.
func (s *Store) claimTail(ctx context.Context, id string, wait bool) (release func(), err error) {
	for {
		s.tailMu.Lock()
		if _, ok := s.tails[id]; !ok {
			s.tailMu.Unlock()
			return func() {}, nil
		}
		busy, ok := s.tailBusy[id]
		if !ok {
			if s.tailBusy == nil {
				s.tailBusy = map[string]chan struct{}{}
			}
			ch := make(chan struct{})
			s.tailBusy[id] = ch
			s.tailMu.Unlock()
			return func() {
				s.tailMu.Lock()
				delete(s.tailBusy, id)
				s.tailMu.Unlock()
				close(ch)
			}, nil
		}
		s.tailMu.Unlock()
		if !wait {
			return nil, errTailBusy
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// errTailBusy: a load is handling the player's waiting records.
var errTailBusy = errors.New("journal records being replayed by a load")

// hasTail reports whether id has journal records waiting for its load.
func (s *Store) hasTail(id string) bool {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	_, ok := s.tails[id]
	return ok
}

// ReleaseJournal deletes the journal segments every checkpoint covers
// (the store does it every releaseEvery; shutdown once more after the last
// saves).
func (s *Store) ReleaseJournal() { s.releaseJournal() }

// releaseJournal deletes the segments every player's checkpoint covers:
// all below the lowest record not yet in a landed save.
func (s *Store) releaseJournal() {
	if s.jrnl == nil {
		return
	}
	low := journal.LSN(math.MaxInt64)
	synced := s.jrnl.SyncedLSN() // read first: later records land above it
	s.players.each(func(o *Online) bool {
		o.mu.Lock()
		for _, f := range []journal.LSN{o.floor, o.savingFloor} {
			if f != 0 && f < low {
				low = f
			}
		}
		o.mu.Unlock()
		return true
	})
	s.tailMu.Lock()
	for _, f := range s.tails {
		low = min(low, f)
	}
	s.tailMu.Unlock()
	low = min(low, synced+1)
	if _, err := s.jrnl.ReleaseBefore(low - 1); err != nil {
		s.log.Warn("journal: release failed", "err", err)
	}
}
