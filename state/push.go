package state

import (
	"encoding/json"
	"time"

	"rampart/actions"
)

// Conn is a player's live connection (the WebSocket) that events are
// pushed to. Both methods are called with the player's lock held and must
// not block.
type Conn interface {
	// Push queues one event object for sending.
	Push(ev json.RawMessage)
	// Close ends the connection, saying why.
	Close(reason string)
}

// Event kinds pushed to players.
const (
	EventReplaced     = "replaced"
	EventUpgradeDone  = "upgrade_done"
	EventTrainingDone = "training_done"
	EventGamedata     = "gamedata"
)

// Attach makes c the connection sess's player's events go to. A previous
// connection gets a "replaced" event and is closed: one live connection
// per player.
func (s *Store) Attach(sess Session, c Conn) error {
	if err := s.lock(sess); err != nil {
		return err
	}
	defer sess.o.mu.Unlock()
	s.replaceConn(sess.o, c)
	s.schedule(sess.o)
	return nil
}

// Detach forgets c if it is still sess's player's connection. The player
// stays online: the session can be resumed until the idle timeout.
func (s *Store) Detach(sess Session, c Conn) {
	o := sess.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conn == c {
		o.conn = nil
		s.schedule(o)
	}
}

// replaceConn installs c (nil: none), telling the old connection why it
// goes. o.mu is held.
func (s *Store) replaceConn(o *Online, c Conn) {
	if o.conn != nil && o.conn != c {
		o.conn.Push(event(EventReplaced, map[string]any{"message": "this player logged in elsewhere"}))
		o.conn.Close(EventReplaced)
	}
	o.conn = c
}

// Broadcast pushes ev to every connected player.
func (s *Store) Broadcast(ev json.RawMessage) {
	s.players.Range(func(_, v any) bool {
		o := v.(*Online)
		o.mu.Lock()
		if o.conn != nil {
			o.conn.Push(ev)
		}
		o.mu.Unlock()
		return true
	})
}

// schedule arms o's timer for the next moment something in its base
// finishes, if a connection is there to tell. o.mu is held.
func (s *Store) schedule(o *Online) {
	var at time.Time
	ok := false
	if o.conn != nil && !o.gone {
		at, ok = actions.NextEvent(&o.p.Base, s.gd.Current())
	}
	if !ok {
		if o.stopTimer != nil {
			o.stopTimer()
			o.stopTimer, o.timerAt = nil, 0
		}
		return
	}
	if o.stopTimer != nil && o.timerAt == at.UnixMilli() {
		return
	}
	if o.stopTimer != nil {
		o.stopTimer()
	}
	o.timerAt = at.UnixMilli()
	o.stopTimer = s.cfg.AfterFunc(at.Sub(s.cfg.Now()), func() { s.fire(o) })
}

// fire runs when o's timer is due: it resolves the base and pushes what
// finished.
func (s *Store) fire(o *Online) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopTimer, o.timerAt = nil, 0
	if o.gone || o.conn == nil {
		return
	}
	before := snapshotProgress(&o.p.Base)
	actions.CatchUp(&o.p.Base, s.gd.Current(), s.cfg.Now())
	for _, ev := range finished(before, &o.p.Base) {
		o.conn.Push(ev)
	}
	o.changes++
	s.schedule(o)
}

// progress is what a timer can change: building levels and the army.
type progress struct {
	levels map[string]int
	army   map[string]int
}

func snapshotProgress(b *actions.Base) progress {
	p := progress{levels: make(map[string]int, len(b.Buildings)), army: make(map[string]int, len(b.Army))}
	for _, bl := range b.Buildings {
		p.levels[bl.ID] = bl.Level
	}
	for u, n := range b.Army {
		p.army[u] = n
	}
	return p
}

// finished lists the events between before and b: upgrades that completed
// and units that finished training.
func finished(before progress, b *actions.Base) []json.RawMessage {
	var evs []json.RawMessage
	for _, bl := range b.Buildings {
		if lv, ok := before.levels[bl.ID]; ok && bl.Level > lv {
			evs = append(evs, event(EventUpgradeDone, map[string]any{"building_id": bl.ID, "type": bl.Type, "level": bl.Level}))
		}
	}
	trained := map[string]int{}
	for u, n := range b.Army {
		if d := n - before.army[u]; d > 0 {
			trained[u] = d
		}
	}
	if len(trained) > 0 {
		evs = append(evs, event(EventTrainingDone, map[string]any{"units": trained}))
	}
	return evs
}

// event encodes {"kind": kind, ...fields}.
func event(kind string, fields map[string]any) json.RawMessage {
	m := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		m[k] = v
	}
	m["kind"] = kind
	data, _ := json.Marshal(m)
	return data
}

// NewEvent encodes a pushed event object for callers outside the package.
func NewEvent(kind string, fields map[string]any) json.RawMessage { return event(kind, fields) }

// replaceConnQuiet closes o's connection because the player left memory
// (logout, idle timeout, shutdown, lost ownership) and stops its timer.
// o.mu is held.
func (s *Store) replaceConnQuiet(o *Online) {
	if o.conn != nil {
		o.conn.Close("logged out")
		o.conn = nil
	}
	if o.stopTimer != nil {
		o.stopTimer()
		o.stopTimer, o.timerAt = nil, 0
	}
}
