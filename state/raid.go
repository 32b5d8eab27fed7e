package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"rampart/actions"
)

// Mail kinds.
const (
	MailRaidDefense = "raid_defense"
	MailRaidAttack  = "raid_attack"
)

// raid runs an attack's slow step:
//
//  1. take the raid lock on the defender (no two raids on one base; it
//     expires on its own if this server dies);
//  2. read the defender's base: the live copy if the defender is online
//     here, else read-only from S3;
//  3. resolve the battle, seeded by the raid id;
//  4. send both sides' effects as durable mail (defender first), so each is
//     applied exactly once: now, if that player is online here, or by its
//     owner when it next loads the player; the ids recorded in the saved
//     player make a second delivery a no-op.
//
// A failure before step 4 applies nothing and the attacker's units come
// home (completeAsync refunds them).
func (s *Store) raid(ctx context.Context, l *launch) (any, error) {
	now := s.cfg.Now()
	gd := s.gd.Current()
	var locked bool
	err := s.mongoDo(ctx, "mongo:lock", func(ctx context.Context) error {
		var err error
		locked, err = s.mongo.Index.LockRaid(ctx, l.target, l.raidID, now.Add(raidLock).UnixMilli())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("raid %s: lock %s: %w", l.raidID, l.target, err)
	}
	if !locked {
		return nil, &actions.Error{Code: CodeUnderAttack, Message: l.target + " is being raided by someone else; find another opponent"}
	}
	defer s.mongo.Keeper.Go(context.WithoutCancel(ctx), "mongo:unlock", func(ctx context.Context) error {
		return s.mongo.Index.UnlockRaid(ctx, l.target, l.raidID)
	}, nil)

	def, err := s.defenderBase(ctx, l.target, now)
	if err != nil {
		return nil, err
	}
	res := actions.ResolveRaid(l.raidID, l.player, l.target, l.army, l.trophies, &def, gd, now)
	body, err := json.Marshal(&res)
	if err != nil {
		return nil, err
	}
	defense := Mail{ID: l.raidID + ":defense", To: l.target, Kind: MailRaidDefense, Created: now.UnixMilli(), Body: body}
	attack := Mail{ID: l.raidID + ":attack", To: l.player, Kind: MailRaidAttack, Created: now.UnixMilli(), Body: body}
	if err := s.sendMail(ctx, defense); err != nil {
		return nil, fmt.Errorf("raid %s: %w", l.raidID, err)
	}
	// The defender's loss is durable: from here the raid has happened.
	if err := s.sendMail(ctx, attack); err != nil {
		// Rare: MongoDB failed between the two writes. The attacker's
		// gains are still applied if it is online here; otherwise lost.
		s.log.Error("raid: attacker's mail not sent", "raid", l.raidID, "err", err)
	}
	s.deliver(defense)
	s.deliver(attack)
	s.emit(Event{Time: now, Player: l.player, Kind: "raid", Name: l.target, OK: true,
		Deltas: res.Loot, Extra: map[string]any{"raid_id": l.raidID, "stars": res.Stars, "destruction": res.Destruction}})
	return res, nil
}

func (s *Store) sendMail(ctx context.Context, m Mail) error {
	return s.mongoDo(ctx, "mongo:mail_send", func(ctx context.Context) error { return s.mongo.Mail.Send(ctx, m) })
}

// defenderBase is a read-only copy of id's base, caught up to now.
func (s *Store) defenderBase(ctx context.Context, id string, now time.Time) (actions.Base, error) {
	var live *actions.Base
	s.withOnline(id, func(o *Online) {
		actions.CatchUp(&o.p.Base, s.gd.Current(), now)
		b := o.p.Base.Clone()
		live = &b
	})
	if live != nil {
		return *live, nil
	}
	var data []byte
	missing := false
	err := s.s3.Do(ctx, "s3:get", func(ctx context.Context) error {
		var err error
		data, _, err = s.blobs.Get(ctx, Key(id))
		if errors.Is(err, ErrNotFound) {
			missing, err = true, nil
		}
		return err
	})
	if missing {
		return actions.Base{}, &actions.Error{Code: CodeNoOpponent, Message: id + " has no base"}
	}
	if err != nil {
		return actions.Base{}, fmt.Errorf("load defender %s: %w: %w", id, ErrUnavailable, err)
	}
	p, err := decodePlayer(data)
	if err != nil {
		return actions.Base{}, err
	}
	actions.CatchUp(&p.Base, s.gd.Current(), now)
	return p.Base, nil
}

// deliver applies m at once if its player is online here. The mail stays
// in MongoDB until the save that holds its effect has landed.
func (s *Store) deliver(m Mail) {
	s.withOnline(m.To, func(o *Online) {
		if s.applyMail(o, m) && o.conn != nil && m.Kind == MailRaidDefense {
			o.conn.Push(event(EventRaided, map[string]any{"raid": json.RawMessage(m.Body)}))
		}
	})
}

// applyMail applies m to o once (o.mu held) and queues its deletion for
// after the next save. It reports whether m was new.
func (s *Store) applyMail(o *Online, m Mail) bool {
	p := &o.p
	o.mailDone = append(o.mailDone, m.ID)
	if p.applied(m.ID) {
		return false
	}
	var res actions.RaidResult
	if err := json.Unmarshal(m.Body, &res); err != nil {
		s.log.Error("mail: undecodable body; dropped", "player", o.id, "mail", m.ID, "err", err)
		return false
	}
	gd, now := s.gd.Current(), s.cfg.Now()
	switch m.Kind {
	case MailRaidDefense:
		pushCapped(&p.Raids, actions.ApplyRaidDefense(&p.Base, gd, &res, now), maxRaids)
	case MailRaidAttack:
		pushCapped(&p.Raids, actions.ApplyRaidAttack(&p.Base, gd, &res, now), maxRaids)
		s.settleAttack(o, m, &res, now)
	default:
		s.log.Error("mail: unknown kind; dropped", "player", o.id, "mail", m.ID, "kind", m.Kind)
	}
	pushCapped(&p.Applied, m.ID, maxApplied)
	o.changes++
	return true
}

// pendingMail reads id's mailbox at load. MongoDB being down does not stop
// a login: the mail waits for the next load.
func (s *Store) pendingMail(ctx context.Context, id string) []Mail {
	if s.mongo == nil || s.mongo.Mail == nil {
		return nil
	}
	var mail []Mail
	err := s.mongoDo(ctx, "mongo:mail_pending", func(ctx context.Context) error {
		var err error
		mail, err = s.mongo.Mail.Pending(ctx, id)
		return err
	})
	if err != nil {
		s.log.Warn("mailbox unreadable at load; mail waits for the next load", "player", id, "err", err)
		return nil
	}
	return mail
}

// afterSave runs once a save of o has landed: mail whose effects it holds
// is deleted, and the player index gets the new summary. Both go through
// the mongo bookkeeper without holding anyone up.
func (s *Store) afterSave(o *Online, mailDone []string, sum Summary) {
	if s.mongo == nil {
		return
	}
	ctx := context.Background()
	if len(mailDone) > 0 && s.mongo.Mail != nil {
		s.mongo.Keeper.Go(ctx, "mongo:mail_delete", func(ctx context.Context) error {
			return s.mongo.Mail.Delete(ctx, mailDone)
		}, nil)
	}
	if s.mongo.Index != nil {
		s.mongo.Keeper.Go(ctx, "mongo:upsert", func(ctx context.Context) error {
			return s.mongo.Index.Upsert(ctx, sum)
		}, nil)
	}
}

// summary is o's index entry (o.mu held).
func (s *Store) summary(p *Player, now time.Time) Summary {
	bs := actions.Summary(&p.Base, s.gd.Current())
	return Summary{ID: p.ID, TownHall: bs.TownHall, Trophies: bs.Trophies, BaseValue: bs.Value,
		ShieldUntil: bs.ShieldUntil, LastSeen: now.UnixMilli()}
}

// emit records an analytics event, if analytics are configured.
func (s *Store) emit(e Event) {
	if s.mongo != nil && s.mongo.Analytics != nil {
		s.mongo.Analytics.Emit(e)
	}
}

// settleAttack makes the attack's own seq answer with the raid when the
// result arrives by mail: the attacker logged out while its raid was in
// flight, and this is its next load. (Online, completeAsync does it.)
func (s *Store) settleAttack(o *Online, m Mail, res *actions.RaidResult, now time.Time) {
	prefix := o.id + "-"
	if len(res.RaidID) <= len(prefix) || res.RaidID[:len(prefix)] != prefix {
		return
	}
	seq, err := strconv.ParseInt(res.RaidID[len(prefix):], 10, 64)
	if err != nil {
		return
	}
	for _, a := range o.p.Async {
		if a.Seq == seq {
			return // already answered
		}
	}
	r := AsyncResult{Seq: seq, Name: ActionAttack, OK: true, Result: m.Body, At: now.UnixMilli()}
	for i := range o.p.Replies {
		if o.p.Replies[i].Seq == seq {
			o.p.Replies[i] = Reply{Seq: seq, OK: true, Result: m.Body}
		}
	}
	pushCapped(&o.p.Async, r, maxAsync)
}
