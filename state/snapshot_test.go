package state

import (
	"context"
	"errors"
	"fmt"
	"rampart/actions"
	"rampart/internal/testenv"
	"runtime"
	"testing"
	"time"
)

// lockIndex is an Index whose raid locks always succeed and whose reads
// must never be called: behind an IndexSnapshot every read is the copy's.
type lockIndex struct{ Index }

func (lockIndex) LockRaid(context.Context, string, string, int64) (bool, error) { return true, nil }
func (lockIndex) UnlockRaid(context.Context, string, string) error              { return nil }

// listing counts the snapshot's reads of the index and answers them with
// players, or with err.
type listing struct {
	players []Summary
	err     error
	reads   int
}

func (l *listing) list(context.Context) ([]Summary, error) {
	l.reads++
	if l.err != nil {
		return nil, l.err
	}
	return append([]Summary(nil), l.players...), nil
}

func ids(ss []Summary) string {
	out := ""
	for _, s := range ss {
		out += s.ID + " "
	}
	return out
}

// waitRead waits for the snapshot's read in flight, if any.
func waitRead(x *IndexSnapshot) {
	x.mu.Lock()
	r := x.reading
	x.mu.Unlock()
	if r != nil {
		<-r
	}
}

// TestIndexSnapshotReads: the copy answers in the index's orders, and is
// read again, in the background, only when older than every; the old copy
// answers meanwhile. A failed read keeps the old copy and is tried again
// after a quarter of every.
func TestIndexSnapshotReads(t *testing.T) {
	clk := newClock()
	l := &listing{players: []Summary{
		{ID: "c", Trophies: 300}, {ID: "a", Trophies: 500}, {ID: "b", Trophies: 300},
		{ID: "d", Trophies: 100}, {ID: "e", Trophies: 280, ShieldUntil: clk.Now().Add(time.Hour).UnixMilli()},
	}}
	x := NewIndexSnapshot(lockIndex{}, nil, l.list, SnapshotConfig{Every: 10 * time.Second, Now: clk.Now})
	ctx := context.Background()
	now := clk.Now().UnixMilli()
	top1 := func() (string, error) { top, err := x.Top(ctx, 1); return ids(top), err }

	steps := []struct {
		name      string
		advance   time.Duration
		listErr   error
		change    func() // to the index before the step
		query     func() (string, error)
		want      string
		wantReads int // after the step's read, if it started one, ended
	}{
		{"top: trophies, then id", 0, nil, nil, func() (string, error) { top, err := x.Top(ctx, 3); return ids(top), err }, "a b c ", 1},
		{"rank of a tie: after the smaller id", 0, nil, nil, func() (string, error) { r, err := x.Rank(ctx, 300, "c"); return fmt.Sprint(r), err }, "3", 1},
		{"rank of a player not in the copy", 0, nil, nil, func() (string, error) { r, err := x.Rank(ctx, 200, "zed"); return fmt.Sprint(r), err }, "5", 1},
		{"rank of a player the copy has at more trophies: not ahead of itself", 0, nil, nil, func() (string, error) { r, err := x.Rank(ctx, 100, "a"); return fmt.Sprint(r), err }, "4", 1},
		{"opponents: the band, not self, not shielded", 0, nil, nil, func() (string, error) {
			o, err := x.Opponents(ctx, OpponentQuery{Trophies: 300, Tolerance: 50, Exclude: "b", Now: now, Limit: 10})
			return ids(o), err
		}, "c ", 1},
		{"opponents: the limit, most trophies first", 0, nil, nil, func() (string, error) {
			o, err := x.Opponents(ctx, OpponentQuery{Trophies: 300, Tolerance: 500, Now: now, Limit: 2})
			return ids(o), err
		}, "a b ", 1},
		{"9 s later: the same copy", 9 * time.Second, nil, func() { l.players = append(l.players, Summary{ID: "z", Trophies: 900}) }, top1, "a ", 1},
		{"10 s later: the old copy while it is read again", time.Second, nil, nil, top1, "a ", 2},
		{"then the new copy", 0, nil, nil, top1, "z ", 2},
		{"a failed read: the copy", 10 * time.Second, errors.New("mongo down"), nil, top1, "z ", 3},
		{"not tried again within every/4", 2 * time.Second, errors.New("mongo down"), nil, top1, "z ", 3},
		{"tried again after every/4", time.Second, nil, nil, top1, "z ", 4},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		l.err = st.listErr
		if st.change != nil {
			st.change()
		}
		got, err := st.query()
		waitRead(x)
		if err != nil || got != st.want || l.reads != st.wantReads {
			t.Errorf("%s: got %q, %v after %d reads; want %q after %d", st.name, got, err, l.reads, st.want, st.wantReads)
		}
	}
}

// TestIndexSnapshotFirstReadFails: with no copy yet, a caller waits for
// the read, and a failed one is every caller's error until the next read
// may start, a quarter of every later.
func TestIndexSnapshotFirstReadFails(t *testing.T) {
	clk := newClock()
	l := &listing{err: errors.New("mongo down")}
	x := NewIndexSnapshot(lockIndex{}, nil, l.list, SnapshotConfig{Every: time.Minute, Now: clk.Now})
	for i, st := range []struct {
		advance   time.Duration
		wantReads int
	}{{0, 1}, {time.Second, 1}, {15 * time.Second, 2}} {
		clk.Advance(st.advance)
		_, err := x.Top(context.Background(), 5)
		waitRead(x)
		if !errors.Is(err, l.err) || l.reads != st.wantReads {
			t.Fatalf("call %d: %v after %d reads; want the listing's error after %d", i, err, l.reads, st.wantReads)
		}
	}
}

// recordedUpdates records what reaches the write-behind.
type recordedUpdates struct{ published, created []string }

func (r *recordedUpdates) Publish(s Summary) { r.published = append(r.published, s.ID) }
func (r *recordedUpdates) Create(s Summary)  { r.created = append(r.created, s.ID) }
func (r *recordedUpdates) Forget([]string)   {}

// TestIndexSnapshotKeepsThisServersShieldsAndLocks: a defender this server
// locked for a raid, or published with a shield, is not offered though the
// copy says it is free, until its time passes; summaries still reach the
// write-behind.
func TestIndexSnapshotKeepsThisServersShieldsAndLocks(t *testing.T) {
	clk := newClock()
	l := &listing{players: []Summary{{ID: "locked", Trophies: 100}, {ID: "shielded", Trophies: 100}, {ID: "free", Trophies: 100}}}
	up := &recordedUpdates{}
	x := NewIndexSnapshot(lockIndex{}, up, l.list, SnapshotConfig{Every: time.Hour, Now: clk.Now})
	ctx := context.Background()
	if ok, err := x.LockRaid(ctx, "locked", "r1", clk.Now().Add(2*time.Minute).UnixMilli()); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	x.Publish(Summary{ID: "shielded", Trophies: 100, ShieldUntil: clk.Now().Add(4 * time.Minute).UnixMilli()})
	x.Create(Summary{ID: "new"})
	if fmt.Sprint(up.published, up.created) != "[shielded] [new]" {
		t.Errorf("write-behind got published %v created %v, want [shielded] [new]", up.published, up.created)
	}
	tests := []struct {
		name  string
		at    time.Duration // after the start
		want  string
		apply func()
	}{
		{"both held", 0, "free ", nil},
		{"the lock's time passed", 3 * time.Minute, "free locked ", nil},
		{"the shield's time passed", 5 * time.Minute, "free locked shielded ", nil},
		{"locked again, then unlocked", 5 * time.Minute, "free locked shielded ", func() {
			x.LockRaid(ctx, "locked", "r2", clk.Now().Add(time.Minute).UnixMilli())
			x.UnlockRaid(ctx, "locked", "r2")
		}},
	}
	start := clk.Now()
	for _, tt := range tests {
		clk.Advance(start.Add(tt.at).Sub(clk.Now()))
		if tt.apply != nil {
			tt.apply()
		}
		o, err := x.Opponents(ctx, OpponentQuery{Trophies: 100, Tolerance: 10, Now: clk.Now().UnixMilli(), Limit: 10})
		if got := ids(o); err != nil || got != tt.want {
			t.Errorf("%s: offered %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if l.reads != 1 {
		t.Errorf("%d reads of the index, want 1", l.reads)
	}
}

// TestSettleRefusesAShieldedDefender: whatever offered it, a raid on a
// defender whose own base holds a shield is refused (no_opponent) before
// anything is taken from it, online here or on its saved object; an
// unshielded defender is raided.
func TestSettleRefusesAShieldedDefender(t *testing.T) {
	clk := newClock()
	s := newStore(t, newBlobs(t, testenv.EmbeddedS3(t)), clk, "server-a")
	ctx := context.Background()
	tests := []struct {
		name     string
		shield   time.Duration // from now; 0: none
		online   bool
		wantCode string
	}{
		{"online, shielded", time.Hour, true, actions.CodeNoOpponent},
		{"offline, shielded", time.Hour, false, actions.CodeNoOpponent},
		{"offline, shield ended", -time.Minute, false, ""},
		{"online, no shield", 0, true, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("def%d", i)
			sess := login(t, s, id)
			sess.o.mu.Lock()
			if tt.shield != 0 {
				sess.o.p.Base.ShieldUntil = clk.Now().Add(tt.shield).UnixMilli()
			}
			gold := sess.o.p.Base.Res["gold"]
			sess.o.changes++
			sess.o.mu.Unlock()
			if !tt.online {
				if err := s.Logout(ctx, sess, 0); err != nil {
					t.Fatal(err)
				}
			}
			req := &actions.RaidRequest{RaidID: "att-" + id, Attacker: "att", Defender: id, Army: map[string]int{"militia": 30},
				Room: map[string]int64{"gold": 1 << 20, "elixir": 1 << 20}}
			_, err := s.settle(ctx, req, false)
			var ae *actions.Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("settle: %v, want the raid settled", err)
			case tt.wantCode != "" && (!errors.As(err, &ae) || ae.Code != tt.wantCode):
				t.Fatalf("settle: %v, want %s", err, tt.wantCode)
			}
			if tt.wantCode == "" {
				return
			}
			if tt.online {
				sess.o.mu.Lock()
				defer sess.o.mu.Unlock()
				if got := sess.o.p.Base.Res["gold"]; got != gold || len(sess.o.p.Raids) != 0 {
					t.Errorf("refused, yet the defender has %d gold (had %d) and %d raids", got, gold, len(sess.o.p.Raids))
				}
				return
			}
			data, _, err := s.blobs.Get(ctx, Key(id))
			if err != nil {
				t.Fatal(err)
			}
			p, err := decodePlayer(data)
			if err != nil {
				t.Fatal(err)
			}
			if p.Base.Res["gold"] != gold || len(p.Raids) != 0 {
				t.Errorf("refused, yet the saved defender has %d gold (had %d) and %d raids", p.Base.Res["gold"], gold, len(p.Raids))
			}
		})
	}
}

// BenchmarkIndexSnapshotMemory reports the heap one copy of the index
// takes per player (its summaries, ids and the place map), at 20,000
// players with ids as the server makes them.
//
//	go test -run '^$' -bench IndexSnapshotMemory -benchtime 5x ./state/
func BenchmarkIndexSnapshotMemory(b *testing.B) {
	const players = 20000
	list := func(context.Context) ([]Summary, error) { // as decoded from MongoDB: every id its own string
		var out []Summary
		for i := range players {
			out = append(out, Summary{ID: "u-" + NewSessionID(), Trophies: i % 3000, TownHall: 1 + i%10, LastSeen: int64(i)})
		}
		return out, nil
	}
	for b.Loop() {
		x := NewIndexSnapshot(lockIndex{}, nil, list, SnapshotConfig{Every: time.Hour})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := x.Top(context.Background(), 1); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/players, "B/player")
		runtime.KeepAlive(x)
	}
}
