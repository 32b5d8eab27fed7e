package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rampart/actions"
	"rampart/gamedata"
	"rampart/internal/testenv"
	"rampart/journal"
)

// faultyFS fails fdatasync while fail is set: a disk that went bad.
type faultyFS struct {
	journal.OSFS
	fail atomic.Bool
}

func (f *faultyFS) OpenFile(name string, flag int, perm os.FileMode) (journal.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

type faultyFile struct {
	journal.File
	fs *faultyFS
}

func (f *faultyFile) Sync() error {
	if f.fs.fail.Load() {
		return syscall.EIO
	}
	return f.File.Sync()
}

// journaledStore is newStore with a journal in dir.
func journaledStore(t *testing.T, blobs Blobs, clk *clock, id, dir string, fs journal.FS) (*Store, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	deps := testDeps(t, blobs, clk.Now)
	deps.Journal, deps.JournalDir = j, dir
	s := NewStore(Config{ServerID: id, Autosave: time.Hour, IdleTimeout: 10 * time.Hour, LeaseTTL: 2 * time.Minute, Now: clk.Now}, deps)
	return s, j
}

// site is where a journaled server runs and, after it dies, runs again:
// one bucket, one clock, one journal directory.
type site struct {
	t     *testing.T
	blobs *countingBlobs
	clk   *clock
	dir   string
}

func newSite(t *testing.T, blobs *countingBlobs) *site {
	return &site{t: t, blobs: blobs, clk: newClock(), dir: t.TempDir()}
}

// open starts a store with id on the site's journal.
func (s *site) open(id string) (*Store, *journal.Journal) {
	s.t.Helper()
	return journaledStore(s.t, s.blobs, s.clk, id, s.dir, nil)
}

// restart is a crash and the restart: the store on journal j dies
// (nothing more is saved), and a new store with id opens on the same
// journal and bucket, not yet recovered; it closes with the test.
func (s *site) restart(j *journal.Journal, id string) *Store {
	s.t.Helper()
	j.Close()
	b, next := s.open(id)
	s.t.Cleanup(func() { next.Close() })
	return b
}

// diesAndRecovers is restart, then the new store's recovery.
func (s *site) diesAndRecovers(j *journal.Journal, id string) (*Store, RecoveryStats) {
	s.t.Helper()
	b := s.restart(j, id)
	st, err := b.Recover(context.Background(), s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	return b, st
}

// hashOf is the state hash of sess's player now.
func hashOf(sess Session) uint64 {
	sess.o.mu.Lock()
	defer sess.o.mu.Unlock()
	return stateHash(&sess.o.p)
}

// script is a mid-game session: builds, upgrades, trains, collects over
// simulated hours, with failures (the rules refuse some) mixed in. look,
// if set, runs three times in each wait (the player looked at between
// actions).
func script(t *testing.T, s *Store, sess Session, clk *clock, look func()) (acked int64) {
	t.Helper()
	steps := []struct {
		name, args string
		wait       time.Duration
	}{
		{"build", `{"type":"barracks","x":8,"y":8}`, time.Minute},
		{"build", `{"type":"army_camp","x":8,"y":30}`, time.Minute},
		{"upgrade_building", `{"building_id":"b1"}`, 10 * time.Second},
		{"collect", `{}`, time.Hour},
		{"train_units", `{"building_id":"b6","unit":"militia","count":3}`, time.Minute},
		{"no_such_action", `{}`, 7 * time.Second},
		{"upgrade_building", `{"building_id":"b999"}`, 0}, // not_found
		{"buy_item", `{"item":"gold_small"}`, 3 * time.Second},
		{"collect", `{}`, 2 * time.Hour},
		{"speed_up", `{"building_id":"b6"}`, 1500 * time.Millisecond},
		{"collect", `{}`, 333 * time.Millisecond},
		{"move_building", `{"building_id":"b6","x":30,"y":30}`, time.Minute},
	}
	for i, st := range steps {
		seq := int64(i + 1)
		if _, _, err := s.Apply(sess, []Action{{Seq: seq, Name: st.name, Args: json.RawMessage(st.args)}}); err != nil {
			t.Fatalf("step %d %s: %v", seq, st.name, err)
		}
		acked = seq
		if look == nil {
			clk.Advance(st.wait)
			continue
		}
		for range 3 {
			clk.Advance(st.wait / 3)
			look()
		}
	}
	return acked
}

// TestJournalRecoversUnsavedPlayer: a server applies a session and dies
// without saving; the next server on the same journal recovers it before
// serving, byte for byte, and the player signs in at once.
func TestJournalRecoversUnsavedPlayer(t *testing.T) {
	forEachS3(t, func(t *testing.T, blobs *countingBlobs) {
		site := newSite(t, blobs)
		clk := site.clk
		a, ja := site.open("server-x")
		sess := login(t, a, "carol")
		acked := script(t, a, sess, clk, nil)
		sess.o.mu.Lock()
		want, _ := publicPlayer(&sess.o.p)
		sess.o.mu.Unlock()
		wantHash := hashOf(sess)
		// The process dies: nothing saved since the login.
		b, st := site.diesAndRecovers(ja, "server-x")
		if st.Players != 1 || st.Replayed != int(acked) || st.Saved != 1 || st.Diverged != 0 {
			t.Fatalf("recovery %+v, want 1 player, %d records replayed and saved, none diverged", st, acked)
		}
		sess = login(t, b, "carol")
		sess.o.mu.Lock()
		got, _ := publicPlayer(&sess.o.p)
		sess.o.mu.Unlock()
		gotHash := hashOf(sess)
		if gotHash != wantHash {
			t.Errorf("state hash after recovery %016x, want %016x", gotHash, wantHash)
		}
		var gv, wv map[string]any
		json.Unmarshal(got, &gv)
		json.Unmarshal(want, &wv)
		if fmt.Sprint(gv["base"]) != fmt.Sprint(wv["base"]) || gv["last_seq"] != wv["last_seq"] {
			t.Errorf("recovered player differs:\n got %s\nwant %s", got, want)
		}
		// A resent last action is a duplicate: applied once.
		r, _, err := b.Apply(sess, []Action{{Seq: acked, Name: "move_building", Args: json.RawMessage(`{"building_id":"b6","x":30,"y":30}`)}})
		if err != nil || !r[0].Duplicate {
			t.Errorf("resent seq %d after recovery: %+v %v, want a duplicate", acked, r, err)
		}
	})
}

// TestReplayDetectsDivergence: a record whose hash does not match what
// replaying it gives stops the replay with ErrDiverged, naming the rev.
func TestReplayDetectsDivergence(t *testing.T) {
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	p := Player{ID: "dave", Base: actions.New(gd, now)}
	live := p
	live.Base = p.Base.Clone()
	a := Action{Seq: 1, Name: "build", Args: json.RawMessage(`{"type":"barracks","x":8,"y":8}`)}
	applyRules(&live, gd, now, &a)
	live.LastSeq, live.Rev = 1, 1
	rp := Replayer{Bundles: func(v string) *gamedata.Bundle { return gd }}
	tests := []struct {
		name string
		hash uint64
		rev  uint64
		want error
	}{
		{"the recorded hash", stateHash(&live), 1, nil},
		{"a tampered hash", stateHash(&live) ^ 1, 1, ErrDiverged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := p
			q.Base = p.Base.Clone()
			rec := journal.Record{Player: "dave", Rev: tt.rev, Seq: 1, Kind: journal.KindAction, Name: a.Name,
				At: now.UnixMilli(), Version: gd.Version, Args: a.Args, Hash: tt.hash}
			if err := rp.Apply(&q, &rec); !errors.Is(err, tt.want) {
				t.Fatalf("replay: %v, want %v", err, tt.want)
			}
		})
	}
	q := p
	q.Base = p.Base.Clone()
	gap := journal.Record{Player: "dave", Rev: 2, Seq: 1, Kind: journal.KindAction, Name: "ping", Version: gd.Version}
	if err := rp.Apply(&q, &gap); err == nil {
		t.Fatal("a record two revisions ahead applied; want a gap error")
	}
}

// TestJournalFailureIsNotAcknowledged: while fdatasync fails, actions
// answer ErrJournal (503), and the player leaves memory unsaved; once the
// disk recovers, its next load replays what was durable and play goes on.
func TestJournalFailureIsNotAcknowledged(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	fs := &faultyFS{}
	s, j := journaledStore(t, blobs, clk, "server-f", t.TempDir(), fs)
	defer j.Close()
	sess := login(t, s, "erin")
	if _, _, err := s.Apply(sess, []Action{ping(1), ping(2)}); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if _, _, err := s.Apply(sess, []Action{ping(3)}); !errors.Is(err, ErrJournal) {
		t.Fatalf("apply with the disk failing: %v, want ErrJournal", err)
	}
	if _, err := s.Authenticate(sess.o.session); err == nil && !sess.o.gone {
		t.Fatal("player still in memory after a journal failure")
	}
	fs.fail.Store(false)
	sess = login(t, s, "erin")
	replies, _, err := s.Apply(sess, []Action{ping(2), ping(3)})
	if err != nil {
		t.Fatal(err)
	}
	if !replies[0].Duplicate || replies[1].Duplicate || !replies[1].OK {
		t.Fatalf("after recovery: %+v; want seq 2 a duplicate (it was durable) and seq 3 applied now (it never was)", replies)
	}
}

// TestGrantIsJournaled: an operator's grant between actions is replayed
// from the journal like the actions around it (the same state hash), and
// a grant id applied twice counts once.
func TestGrantIsJournaled(t *testing.T) {
	site := newSite(t, newBlobs(t, testenv.EmbeddedS3(t)))
	a, ja := site.open("server-g")
	sess := login(t, a, "gina")
	ping := func(seq int64) {
		t.Helper()
		if _, _, err := a.Apply(sess, []Action{{Seq: seq, Name: "ping"}}); err != nil {
			t.Fatal(err)
		}
	}
	ping(1)
	for i, want := range []bool{false, true} {
		dup, err := a.Grant(context.Background(), "gina", "refund-1", map[string]int64{"gems": 50})
		if err != nil || dup != want {
			t.Fatalf("grant %d: duplicate %v, %v; want duplicate %v", i, dup, err, want)
		}
	}
	ping(2)
	sess.o.mu.Lock()
	wantHash, wantGems := stateHash(&sess.o.p), sess.o.p.Base.Res["gems"]
	sess.o.mu.Unlock()
	// The process dies: nothing saved since the login.
	b, st := site.diesAndRecovers(ja, "server-g")
	if st.Replayed != 3 || st.Diverged != 0 {
		t.Fatalf("recovery %+v, want 3 records (ping, grant, ping) replayed, none diverged", st)
	}
	sess = login(t, b, "gina")
	sess.o.mu.Lock()
	gotHash, gotGems := stateHash(&sess.o.p), sess.o.p.Base.Res["gems"]
	sess.o.mu.Unlock()
	if gotHash != wantHash || gotGems != wantGems {
		t.Fatalf("after recovery: hash %016x gems %d, want %016x %d", gotHash, gotGems, wantHash, wantGems)
	}
}
