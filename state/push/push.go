// Package push is how the store reaches a player's live connection: the
// Conn it is given (the WebSocket), the kinds and encoding of the events it
// pushes, and Slot — one player's connection together with the timer that
// tells it when something in its base finishes. It knows nothing of the
// store: every Slot method is called with the player's lock held.
package push

import (
	"encoding/json"
	"time"

	"rampart/actions"
)

// Conn is a player's live connection that events are pushed to. Both
// methods are called with the player's lock held and must not block.
type Conn interface {
	// Push queues one event object for sending.
	Push(ev json.RawMessage)
	// Close ends the connection, saying why.
	Close(reason string)
}

// Event kinds pushed to players.
const (
	Replaced     = "replaced"
	UpgradeDone  = "upgrade_done"
	TrainingDone = "training_done"
	Gamedata     = "gamedata"
	AsyncResult  = "async_result"
	Raided       = "raided"
)

// Event encodes {"kind": kind, ...fields}.
func Event(kind string, fields map[string]any) json.RawMessage {
	m := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		m[k] = v
	}
	m["kind"] = kind
	data, _ := json.Marshal(m)
	return data
}

// AfterFunc arms a timer (time.AfterFunc's shape, injectable in tests) and
// returns its stop function.
type AfterFunc func(d time.Duration, f func()) (stop func() bool)

// Slot is one player's connection (nil: none) and its event timer.
type Slot struct {
	conn Conn
	stop func() bool // cancels the timer due at at (Unix ms); nil when none is armed
	at   int64
}

// Connected reports whether a connection is attached.
func (s *Slot) Connected() bool { return s.conn != nil }

// Is reports whether c is the attached connection.
func (s *Slot) Is(c Conn) bool { return s.conn == c }

// Push sends ev to the connection, if there is one.
func (s *Slot) Push(ev json.RawMessage) {
	if s.conn != nil {
		s.conn.Push(ev)
	}
}

// Replace attaches c (nil: none). A previous connection is told it was
// replaced and closed: one live connection per player.
func (s *Slot) Replace(c Conn) {
	if s.conn != nil && s.conn != c {
		s.conn.Push(Event(Replaced, map[string]any{"message": "this player logged in elsewhere"}))
		s.conn.Close(Replaced)
	}
	s.conn = c
}

// Detach forgets the connection without a word to it: the socket went
// away by itself (or is handing the player over), the player stays.
func (s *Slot) Detach() { s.conn = nil }

// Close closes the connection because the player left memory (logout,
// idle timeout, shutdown, lost ownership), and disarms the timer.
func (s *Slot) Close() {
	if s.conn != nil {
		s.conn.Close("logged out")
		s.conn = nil
	}
	s.Disarm()
}

// Arm sets the timer to run fire at at, unless it is already set for that
// moment. after arms the timer; now is the clock's present.
func (s *Slot) Arm(at, now time.Time, after AfterFunc, fire func()) {
	if s.stop != nil && s.at == at.UnixMilli() {
		return
	}
	s.Disarm()
	s.at = at.UnixMilli()
	s.stop = after(at.Sub(now), fire)
}

// Disarm stops the timer, if one is armed.
func (s *Slot) Disarm() {
	if s.stop != nil {
		s.stop()
		s.stop, s.at = nil, 0
	}
}

// Fired forgets the timer that has just run.
func (s *Slot) Fired() { s.stop, s.at = nil, 0 }

// Progress is what a timer can change in a base: building levels and the
// army. Take it before catching the base up; Finished lists the events.
type Progress struct {
	levels map[string]int
	army   map[string]int
}

// Snapshot takes b's progress.
func Snapshot(b *actions.Base) Progress {
	p := Progress{levels: make(map[string]int, len(b.Buildings)), army: make(map[string]int, len(b.Army))}
	for _, bl := range b.Buildings {
		p.levels[bl.ID] = bl.Level
	}
	for u, n := range b.Army {
		p.army[u] = n
	}
	return p
}

// Finished lists the events between p and b: upgrades that completed and
// units that finished training.
func (p Progress) Finished(b *actions.Base) []json.RawMessage {
	var evs []json.RawMessage
	for _, bl := range b.Buildings {
		if lv, ok := p.levels[bl.ID]; ok && bl.Level > lv {
			evs = append(evs, Event(UpgradeDone, map[string]any{"building_id": bl.ID, "type": bl.Type, "level": bl.Level}))
		}
	}
	trained := map[string]int{}
	for u, n := range b.Army {
		if d := n - p.army[u]; d > 0 {
			trained[u] = d
		}
	}
	if len(trained) > 0 {
		evs = append(evs, Event(TrainingDone, map[string]any{"units": trained}))
	}
	return evs
}
