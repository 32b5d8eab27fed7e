package push

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"rampart/actions"
)

// conn records what a Slot does to it.
type conn struct {
	pushed []string // event kinds
	closed []string // reasons
}

func (c *conn) Push(ev json.RawMessage) {
	var m struct{ Kind string }
	json.Unmarshal(ev, &m)
	c.pushed = append(c.pushed, m.Kind)
}
func (c *conn) Close(reason string) { c.closed = append(c.closed, reason) }

func TestSlotConnections(t *testing.T) {
	tests := []struct {
		name                   string
		run                    func(s *Slot, a, b *conn)
		wantA, wantB           conn
		wantConnected, wantIsB bool
	}{
		{"attach", func(s *Slot, a, b *conn) { s.Replace(a) }, conn{}, conn{}, true, false},
		{"a second connection replaces the first", func(s *Slot, a, b *conn) { s.Replace(a); s.Replace(b) },
			conn{pushed: []string{Replaced}, closed: []string{Replaced}}, conn{}, true, true},
		{"the same connection again is no replacement", func(s *Slot, a, b *conn) { s.Replace(a); s.Replace(a) }, conn{}, conn{}, true, false},
		{"push reaches the attached one only", func(s *Slot, a, b *conn) {
			s.Push(Event(Gamedata, nil))
			s.Replace(a)
			s.Push(Event(Gamedata, nil))
		}, conn{pushed: []string{Gamedata}}, conn{}, true, false},
		{"close says logged out", func(s *Slot, a, b *conn) { s.Replace(a); s.Close() }, conn{closed: []string{"logged out"}}, conn{}, false, false},
		{"signed in elsewhere: replaced by none", func(s *Slot, a, b *conn) { s.Replace(a); s.Replace(nil) },
			conn{pushed: []string{Replaced}, closed: []string{Replaced}}, conn{}, false, false},
		{"detach says nothing", func(s *Slot, a, b *conn) { s.Replace(a); s.Detach() }, conn{}, conn{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Slot
			a, b := &conn{}, &conn{}
			tt.run(&s, a, b)
			if !reflect.DeepEqual(*a, tt.wantA) || !reflect.DeepEqual(*b, tt.wantB) {
				t.Errorf("a %+v, b %+v; want %+v, %+v", *a, *b, tt.wantA, tt.wantB)
			}
			if s.Connected() != tt.wantConnected || s.Is(b) != tt.wantIsB {
				t.Errorf("Connected %v, Is(b) %v; want %v, %v", s.Connected(), s.Is(b), tt.wantConnected, tt.wantIsB)
			}
		})
	}
}

// TestSlotTimer: Arm sets one timer per moment, a new moment replaces it,
// Disarm and Close stop it.
func TestSlotTimer(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	var armed []time.Duration
	stopped := 0
	after := func(d time.Duration, f func()) func() bool {
		armed = append(armed, d)
		return func() bool { stopped++; return true }
	}
	var s Slot
	s.Replace(&conn{})
	s.Arm(now.Add(time.Second), now, after, nil)
	s.Arm(now.Add(time.Second), now, after, nil) // the same moment: kept
	s.Arm(now.Add(2*time.Second), now, after, nil)
	if want := []time.Duration{time.Second, 2 * time.Second}; !reflect.DeepEqual(armed, want) || stopped != 1 {
		t.Fatalf("armed %v, stopped %d; want %v and 1", armed, stopped, want)
	}
	s.Fired() // the timer ran: nothing to stop, and the same moment arms again
	s.Arm(now.Add(2*time.Second), now, after, nil)
	s.Close()
	s.Disarm()
	if len(armed) != 3 || stopped != 2 {
		t.Errorf("after Fired, Arm, Close, Disarm: armed %d, stopped %d; want 3 and 2", len(armed), stopped)
	}
}

func TestFinished(t *testing.T) {
	before := &actions.Base{Buildings: []actions.Building{{ID: "b1", Type: "farm", Level: 1}, {ID: "b2", Type: "barracks", Level: 2}},
		Army: map[string]int{"archer": 3}}
	tests := []struct {
		name  string
		after actions.Base
		want  []string
	}{
		{"nothing changed", *before, nil},
		{"an upgrade finished and units trained",
			actions.Base{Buildings: []actions.Building{{ID: "b1", Type: "farm", Level: 2}, {ID: "b2", Type: "barracks", Level: 2}},
				Army: map[string]int{"archer": 5, "knight": 1}},
			[]string{`{"building_id":"b1","kind":"upgrade_done","level":2,"type":"farm"}`, `{"kind":"training_done","units":{"archer":2,"knight":1}}`}},
		{"a new building is no upgrade", actions.Base{Buildings: append(before.Buildings, actions.Building{ID: "b3", Type: "farm", Level: 1}),
			Army: before.Army}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, ev := range Snapshot(before).Finished(&tt.after) {
				got = append(got, string(ev))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
