package state

import (
	"encoding/json"

	"rampart/actions"
	"rampart/state/push"
)

// Attach makes c the connection sess's player's events go to. A previous
// connection gets a "replaced" event and is closed: one live connection
// per player.
func (s *Store) Attach(sess Session, c push.Conn) error {
	if err := s.lock(sess); err != nil {
		return err
	}
	defer sess.o.mu.Unlock()
	sess.o.push.Replace(c)
	s.schedule(sess.o)
	return nil
}

// Detach forgets c if it is still sess's player's connection. The player
// stays online: the session can be resumed until the idle timeout.
func (s *Store) Detach(sess Session, c push.Conn) {
	o := sess.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.push.Is(c) {
		o.push.Detach()
		s.schedule(o)
	}
}

// Broadcast pushes ev to every connected player.
func (s *Store) Broadcast(ev json.RawMessage) {
	s.players.each(func(o *Online) bool {
		o.mu.Lock()
		o.push.Push(ev)
		o.mu.Unlock()
		return true
	})
}

// schedule arms o's timer for the next moment something in its base
// finishes, if a connection is there to tell. o.mu is held.
func (s *Store) schedule(o *Online) {
	if !o.push.Connected() || o.gone {
		o.push.Disarm()
		return
	}
	at, ok := actions.NextEvent(&o.p.Base, s.gd.Current())
	if !ok {
		o.push.Disarm()
		return
	}
	o.push.Arm(at, s.cfg.Now(), s.cfg.AfterFunc, func() { s.fire(o) })
}

// fire runs when o's timer is due: it resolves the base and pushes what
// finished.
func (s *Store) fire(o *Online) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.push.Fired()
	if o.gone || !o.push.Connected() {
		return
	}
	before := push.Snapshot(&o.p.Base)
	actions.CatchUp(&o.p.Base, s.gd.Current(), s.cfg.Now())
	for _, ev := range before.Finished(&o.p.Base) {
		o.push.Push(ev)
	}
	o.changes++
	s.schedule(o)
}
