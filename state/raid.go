package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"rampart/actions"
	"rampart/journal"
	"rampart/state/push"
)

// MailRaidAttack carries a raid's result to its attacker.
const MailRaidAttack = "raid_attack"

// defendTries bounds how often a raid re-reads an offline defender whose
// object changed under it.
const defendTries = 4

// raid runs an attack's slow step. Resources are conserved: the defender's
// side is settled by whoever holds the defender's authoritative copy, in
// one step, and the attacker receives exactly what the defender lost.
//
//  1. Take the raid lock on the defender (no two raids on one base; it
//     expires on its own if this server dies).
//  2. Settle the defense (defend): online here, under the defender's lock
//     on its live base; offline, on its S3 object, written back with
//     If-Match on the ETag read, so that a login (or anyone) writing
//     meanwhile makes the write fail and the raid looks again; live on
//     another server that is alive, by that server (Cluster.Defend); on
//     a dead one, or alone without a cluster, the raid does not happen
//     (under_attack).
//  3. Deliver the result to the attacker as mail (deliver): applied at
//     once if the attacker is online here, else sent to its mailbox and
//     applied at its next load; its applied list makes a second delivery
//     a no-op.
//
// A failure before step 2 lands applies nothing: the units come home.
func (s *Store) raid(ctx context.Context, req *actions.RaidRequest) (any, error) {
	now := s.cfg.Now()
	locked, err := s.mongo.Index.LockRaid(ctx, req.Defender, req.RaidID, now.Add(raidLock).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("raid %s: %w", req.RaidID, err)
	}
	if !locked {
		return nil, &actions.Error{Code: actions.CodeUnderAttack, Message: req.Defender + " is being raided by someone else; find another opponent"}
	}
	defer func() {
		if err := s.mongo.Index.UnlockRaid(context.WithoutCancel(ctx), req.Defender, req.RaidID); err != nil {
			s.log.Warn("raid: unlock failed; the lock expires on its own", "raid", req.RaidID, "err", err)
		}
	}()

	res, err := s.settle(ctx, req, true)
	if err != nil {
		return nil, err
	}
	// From here the raid has happened: the defender's loss is applied.
	body, err := json.Marshal(&res)
	if err != nil {
		return nil, err
	}
	s.deliver(ctx, Mail{ID: req.RaidID + ":attack", To: req.Attacker, Kind: MailRaidAttack, Created: now.UnixMilli(), Body: body})
	s.emit(Event{Time: now, Player: req.Attacker, Kind: "raid", Name: req.Defender, OK: true,
		Deltas: res.Loot, Extra: map[string]any{"raid_id": req.RaidID, "stars": res.Stars, "destruction": res.Destruction}})
	return res, nil
}

// settle settles the defender's side of req and returns the result; a
// defender live on another server is settled there when forward is set
// (not on a request that came from another server: one hop only).
func (s *Store) settle(ctx context.Context, req *actions.RaidRequest, forward bool) (actions.RaidResult, error) {
	for try := 0; try < defendTries; try++ {
		var res actions.RaidResult
		var jerr, refused error
		var t journal.Ticket
		var def *Online
		if s.withOnline(req.Defender, func(o *Online) {
			var line actions.RaidLogEntry
			now := s.cfg.Now()
			if refused = shielded(req.Defender, &o.p.Base, now); refused != nil {
				return
			}
			res, line = actions.Defend(&o.p.Base, req, s.gd.Current(), now)
			pushCapped(&o.p.Raids, line, maxRaids)
			o.changes++
			s.prioritise(o, now, true)
			reqJSON, _ := json.Marshal(req)
			def = o
			if t, jerr = s.journaled(o, journal.KindMail, recDefend, 0, now, reqJSON); jerr != nil {
				return
			}
			if o.push.Connected() {
				body, _ := json.Marshal(&res)
				o.push.Push(push.Event(push.Raided, map[string]any{"raid": json.RawMessage(body)}))
			}
		}) {
			if refused != nil {
				return actions.RaidResult{}, refused
			}
			// The defender's loss is durable before the attacker gains.
			if err := s.durable(ctx, def, t, jerr); err != nil {
				return actions.RaidResult{}, fmt.Errorf("raid %s: %w", req.RaidID, err)
			}
			return res, nil
		}
		res, err := s.defendOffline(ctx, req)
		var owned *ownedError
		if errors.As(err, &owned) {
			if !forward || s.ownerState(ctx, owned.owner) != Alive {
				return actions.RaidResult{}, &actions.Error{Code: actions.CodeUnderAttack, Message: req.Defender + " is online elsewhere; find another opponent"}
			}
			res, err := s.cl.c.Defend(ctx, owned.owner, req)
			if err == nil {
				s.cl.count(func(c *ClusterCounts) { c.DefendsRemote++ })
			}
			return res, err
		}
		if !errors.Is(err, ErrPrecondition) {
			return res, err
		}
	}
	return actions.RaidResult{}, &actions.Error{Code: actions.CodeUnderAttack, Message: req.Defender + " is busy; find another opponent"}
}

// shielded refuses a raid on a defender whose base holds a shield at now:
// the base is the authority (the index that offered it may be behind).
func shielded(defender string, b *actions.Base, now time.Time) error {
	if b.ShieldUntil < now.UnixMilli() {
		return nil
	}
	return &actions.Error{Code: actions.CodeNoOpponent, Message: defender + " is shielded; find another opponent"}
}

// defendOffline settles the defense on the defender's saved object. It
// returns ErrPrecondition when the object changed between read and write.
func (s *Store) defendOffline(ctx context.Context, req *actions.RaidRequest) (actions.RaidResult, error) {
	key, now := Key(req.Defender), s.cfg.Now()
	data, etag, found, err := s.getObject(ctx, req.Defender)
	if err != nil {
		return actions.RaidResult{}, fmt.Errorf("load defender: %w", err)
	}
	if !found {
		return actions.RaidResult{}, &actions.Error{Code: actions.CodeNoOpponent, Message: req.Defender + " has no base"}
	}
	p, err := decodePlayer(data)
	if err != nil {
		return actions.RaidResult{}, err
	}
	if p.Lease.Owner != "" && p.Lease.Owner != s.cfg.ServerID && p.Lease.Until > now.UnixMilli() {
		return actions.RaidResult{}, &ownedError{player: req.Defender, owner: p.Lease.Owner, until: p.Lease.Until}
	}
	if err := shielded(req.Defender, &p.Base, now); err != nil {
		return actions.RaidResult{}, err
	}
	res, line := actions.Defend(&p.Base, req, s.gd.Current(), now)
	pushCapped(&p.Raids, line, maxRaids)
	if data, err = encodePlayer(&p); err != nil {
		return actions.RaidResult{}, err
	}
	if _, err := s.putExact(ctx, key, data, etag); err != nil {
		if errors.Is(err, ErrPrecondition) {
			return actions.RaidResult{}, err
		}
		return actions.RaidResult{}, fmt.Errorf("save defender %s: %w: %w", req.Defender, ErrUnavailable, err)
	}
	s.publish(&p, now)
	return res, nil
}

// putExact replaces the object at key if it is still the version etag. A
// 412 on a retry whose first try landed is recognised by the bytes.
func (s *Store) putExact(ctx context.Context, key string, data []byte, etag string) (string, error) {
	var out string
	err := s.s3.Do(ctx, "s3:put", func(ctx context.Context) error {
		var err error
		out, err = s.blobs.Put(ctx, key, data, Cond{IfMatch: etag})
		return err
	})
	if !errors.Is(err, ErrPrecondition) {
		return out, err
	}
	var got []byte
	if gerr := s.s3.Do(ctx, "s3:get", func(ctx context.Context) error {
		var err error
		got, out, err = s.blobs.Get(ctx, key)
		return err
	}); gerr == nil && bytes.Equal(got, data) {
		s.counts.WriteConfirmed.Add(1)
		return out, nil
	}
	return "", err
}

// deliver applies m at once if its player is online here; otherwise it
// goes to the mailbox for the next load. A player whose load raced the
// send (its mailbox read before the mail landed) gets it applied here.
// Undeliverable mail is logged and counted: the attacker loses its gains.
func (s *Store) deliver(ctx context.Context, m Mail) {
	apply := func(o *Online) { s.applyMail(o, m) }
	if s.withOnline(m.To, apply) {
		return
	}
	if err := s.mongo.Mail.Send(ctx, m); err != nil {
		s.counts.MailLost.Add(1)
		s.log.Error("raid: attacker offline and its mail not sent; its gains are lost", "mail", m.ID, "to", m.To, "err", err)
		return
	}
	if s.withOnline(m.To, func(o *Online) {
		s.applyMail(o, m)
		o.mailDone = append(o.mailDone, m.ID)
	}) {
		return
	}
	// Live on another server: tell it, rather than have it poll.
	s.poke(ctx, m.To)
}

// applyMail applies m to o once (o.mu held); mail that came from the
// mailbox is deleted after the next save. It reports whether m was new.
func (s *Store) applyMail(o *Online, m Mail) bool {
	p := &o.p
	if p.applied(m.ID) {
		return false
	}
	var res actions.RaidResult
	if err := json.Unmarshal(m.Body, &res); err != nil {
		s.log.Error("mail: undecodable body; dropped", "player", o.id, "mail", m.ID, "err", err)
		return false
	}
	gd, now := s.gd.Current(), s.cfg.Now()
	if m.Kind != MailRaidAttack {
		s.log.Error("mail: unknown kind; dropped", "player", o.id, "mail", m.ID, "kind", m.Kind)
		return false
	}
	seq, isAttack := attackSeq(o.id, res.RaidID)
	fresh := isAttack && !answered(p, seq)
	applyRaidResult(p, gd, &res, m.Body, now)
	pushCapped(&p.Applied, m.ID, maxApplied)
	o.changes++
	s.prioritise(o, now, true)
	if _, err := s.journaled(o, journal.KindMail, MailRaidAttack, 0, now, m.Body); err != nil {
		go s.dropPoisoned(o)
		return true
	}
	if fresh {
		s.pushResult(o, AsyncResult{Seq: seq, Name: actions.Attack, OK: true, Result: m.Body, At: now.UnixMilli()})
	}
	return true
}

// attackSeq is the seq of self's attack that raid id raidID answers.
func attackSeq(self, raidID string) (int64, bool) {
	rest, ok := strings.CutPrefix(raidID, self+"-")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	return seq, err == nil
}

// readMail fetches id's mailbox after a load, without holding the sign-in
// up: mail that arrives is applied through the player's lock. MongoDB
// being down leaves the mail for the next load.
func (s *Store) readMail(id string, raidsOut int) {
	if s.mongo.Mail == nil || raidsOut == 0 {
		return
	}
	s.readMailNow(id)
}

// readMailNow fetches id's mailbox and applies what it holds, in the
// background.
func (s *Store) readMailNow(id string) {
	s.async.wg.Add(1)
	go func() {
		defer s.async.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), mailBudget)
		defer cancel()
		mail, err := s.mongo.Mail.Pending(ctx, id)
		if err != nil {
			s.log.Warn("mailbox unreadable after load; mail waits for the next load", "player", id, "err", err)
			return
		}
		s.withOnline(id, func(o *Online) {
			for _, m := range mail {
				s.applyMail(o, m)
				o.mailDone = append(o.mailDone, m.ID)
			}
			// What is not here now never comes: a raid that failed while
			// the player was away sends nothing, and one still running
			// finds the player online (deliver).
			o.p.RaidsOut = 0
			if _, err := s.journaled(o, journal.KindMail, recMailboxRead, 0, s.cfg.Now(), nil); err != nil {
				go s.dropPoisoned(o)
			}
		})
	}()
}

// afterSave runs once a save has landed: mail whose effects it holds is
// forgotten, and the player index gets sum (unless it is zero). Neither
// waits.
func (s *Store) afterSave(mailDone []string, sum Summary) {
	u := s.mongo.Updates
	if u == nil {
		return
	}
	if len(mailDone) > 0 {
		u.Forget(mailDone)
	}
	if sum.ID != "" {
		u.Publish(sum)
	}
}

// sameRanking reports whether a and b agree on what the index's queries
// select by: trophies (leaderboard, rank, opponent band) and the shield
// (opponent search). Town hall level and base value are shown, not
// selected by: they ride along with the next such write.
func sameRanking(a, b Summary) bool {
	return a.Trophies == b.Trophies && a.ShieldUntil == b.ShieldUntil
}

// publish sends p's summary to the index (after a save that is not o's,
// such as an offline defender's).
func (s *Store) publish(p *Player, now time.Time) {
	if s.mongo.Updates != nil {
		s.mongo.Updates.Publish(s.summary(p, now))
	}
}

// summary is p's index entry.
func (s *Store) summary(p *Player, now time.Time) Summary {
	bs := actions.Summary(&p.Base, s.gd.Current())
	return Summary{ID: p.ID, TownHall: bs.TownHall, Trophies: bs.Trophies, BaseValue: bs.Value,
		ShieldUntil: bs.ShieldUntil, LastSeen: now.UnixMilli()}
}

// emit records an analytics event, if analytics are configured.
func (s *Store) emit(e Event) {
	if s.mongo.Analytics != nil {
		s.mongo.Analytics.Emit(e)
	}
}
