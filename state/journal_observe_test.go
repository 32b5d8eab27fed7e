package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/actions"
	"rampart/journal"
)

// TestRecoveryAfterObservedSession: the session of
// TestJournalRecoversUnsavedPlayer, with the player looked at between
// actions (GET /player catches the base up, unjournaled): the recovered
// state must still check out record by record. Before every record was
// settled to its moment, replay diverged at the unknown action (rev 6).
func TestRecoveryAfterObservedSession(t *testing.T) {
	site := newSite(t, newBlobs(t, s3Targets(t)[0]))
	a, ja := site.open("server-x")
	sess := login(t, a, "olga")
	acked := script(t, a, sess, site.clk, func() {
		if _, err := a.View(sess); err != nil {
			t.Fatalf("view: %v", err)
		}
	})
	_, st := site.diesAndRecovers(ja, "server-x")
	if st.Diverged != 0 || st.Replayed != int(acked) {
		t.Fatalf("recovery %+v, want %d records replayed, none diverged", st, acked)
	}
}

// diedAfterScripts plays carol, dave and erin through script on a
// journaled store that then dies with nothing saved since their logins,
// and returns a second store on the same journal and bucket (its index
// writes going to index, if set), not yet recovered, with each player's
// state hash at the death.
func diedAfterScripts(t *testing.T, index Updates) (b *Store, clk *clock, want map[string]uint64) {
	t.Helper()
	site := newSite(t, newBlobs(t, s3Targets(t)[0]))
	a, ja := site.open("server-x")
	want = map[string]uint64{}
	for _, name := range []string{"carol", "dave", "erin"} {
		sess := login(t, a, name)
		script(t, a, sess, site.clk, nil) // builds, upgrades, trains, collects: no raid
		want[sess.o.id] = hashOf(sess)
	}
	b = site.restart(ja, "server-x") // nothing saved since the logins
	if index != nil {
		b.mongo.Updates = index
	}
	return b, site.clk, want
}

// TestRecoverInBackground: after a crash the server serves at once. A
// player who signs in before the background recovery reaches it replays
// its records from memory at its load; the others are replayed and saved
// in the background; both end byte for byte where the dead server left
// them, and the journal keeps their segments until then.
func TestRecoverInBackground(t *testing.T) {
	b, _, want := diedAfterScripts(t, nil)
	// RecoverInBackground's two steps, with carol's sign-in between them so
	// that her load is sure to replay from memory.
	recs, first, st, err := b.scanJournal(b.jrnlDir)
	if err != nil || len(recs) != 3 {
		t.Fatalf("journal scan: %d players, %v; want 3", len(recs), err)
	}
	b.holdTails(recs, first)
	sess := login(t, b, "carol")
	if got := hashOf(sess); got != want[sess.o.id] {
		t.Errorf("carol signed in during recovery: hash %016x, want %016x", got, want[sess.o.id])
	}
	if st, err = b.recoverAll(context.Background(), recs, st, recoverBackground); err != nil ||
		st.Players != 3 || st.Loaded != 1 || st.Saved != 2 || st.Diverged != 0 {
		t.Fatalf("background recovery: %+v %v; want 3 players, carol loaded first, 2 saved, none diverged", st, err)
	}
	if b.hasTail(sess.o.id) {
		t.Errorf("carol's records still wait after her load and the recovery")
	}
	for _, name := range []string{"dave", "erin"} {
		s := login(t, b, name)
		if got := hashOf(s); got != want[s.o.id] {
			t.Errorf("%s after the background recovery: hash %016x, want %016x", name, got, want[s.o.id])
		}
	}
}

// TestReplayOntoDivergence: a record that does not check out leaves the
// player exactly as of the record before it — not with the bad record's
// changes half kept, which a shallow copy of the player could not undo.
func TestReplayOntoDivergence(t *testing.T) {
	s, j := journaledStore(t, newBlobs(t, s3Targets(t)[0]), newClock(), "server-x", t.TempDir(), nil)
	defer j.Close()
	gd := s.gd.Current()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	start := Player{Schema: Schema, ID: "dave", Base: actions.New(gd, now), Created: now.UnixMilli()}
	// The live side: three builds, each recorded as Store.journaled does.
	live, err := decodePlayer(mustEncode(t, &start))
	if err != nil {
		t.Fatal(err)
	}
	var recs []journal.Record
	var hashes []uint64
	for i, args := range []string{`{"type":"barracks","x":8,"y":8}`, `{"type":"army_camp","x":8,"y":30}`, `{"type":"cannon","x":20,"y":20}`} {
		at := now.Add(time.Duration(i) * time.Minute)
		a := Action{Seq: int64(i + 1), Name: "build", Args: json.RawMessage(args)}
		rep := applyRules(&live, gd, at, &a).reply
		live.LastSeq = a.Seq
		live.remember(rep)
		settle(&live, gd, at)
		live.Rev++
		hashes = append(hashes, stateHash(&live))
		recs = append(recs, journal.Record{Player: "dave", Rev: live.Rev, Seq: a.Seq, Kind: journal.KindAction, Name: a.Name,
			At: at.UnixMilli(), Version: gd.Version, Args: a.Args, Hash: hashes[i]})
	}
	tests := []struct {
		name     string
		tamper   int // index of the record whose hash is wrong; -1: none
		wantN    int
		wantRev  uint64
		wantHash uint64
	}{
		{"all check out", -1, 3, 3, hashes[2]},
		{"the last diverges", 2, 2, 2, hashes[1]},
		{"the first diverges", 0, 0, 0, stateHash(&start)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := slices.Clone(recs)
			if tt.tamper >= 0 {
				rs[tt.tamper].Hash ^= 1
			}
			p, err := decodePlayer(mustEncode(t, &start))
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.replayOnto(&p, rs)
			if (tt.tamper >= 0) != errors.Is(err, ErrDiverged) || n != tt.wantN {
				t.Fatalf("replayOnto: %d applied, %v; want %d and diverged %v", n, err, tt.wantN, tt.tamper >= 0)
			}
			if p.Rev != tt.wantRev || stateHash(&p) != tt.wantHash {
				t.Errorf("after replay: rev %d hash %016x, want rev %d hash %016x", p.Rev, stateHash(&p), tt.wantRev, tt.wantHash)
			}
		})
	}
}

func mustEncode(t *testing.T, p *Player) []byte {
	t.Helper()
	data, err := encodePlayer(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRecoverInBackgroundRacesLoads: every player signs in while the
// background recovery runs. Whoever reaches a player first replays it; no
// sign-in may load a checkpoint the recovery is rewriting and then write
// its stale copy over it (found by TestKill9LosesNothingAcknowledged: a
// player back at last_seq 0).
func TestRecoverInBackgroundRacesLoads(t *testing.T) {
	site := newSite(t, newBlobs(t, s3Targets(t)[0]))
	a, ja := site.open("server-x")
	const players = 12
	want := map[string]int64{}
	for i := range players {
		sess := login(t, a, fmt.Sprintf("racer%d", i))
		want[sess.o.id] = script(t, a, sess, site.clk, nil)
	}
	b := site.restart(ja, "server-x")
	_, done, err := b.RecoverInBackground(context.Background(), site.dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]Session, players)
	for i := range players {
		wg.Go(func() { got[i] = login(t, b, fmt.Sprintf("racer%d", i)) })
	}
	wg.Wait()
	if r := <-done; r.Err != nil || r.Stats.Diverged != 0 {
		t.Fatalf("background recovery: %+v %v", r.Stats, r.Err)
	}
	for _, sess := range got {
		sess.o.mu.Lock()
		last := sess.o.p.LastSeq
		sess.o.mu.Unlock()
		if last != want[sess.o.id] {
			t.Errorf("%s signed in during recovery at last_seq %d, want %d", sess.o.id, last, want[sess.o.id])
		}
		// What S3 holds is the same: a checkpoint of the recovered player.
		data, _, err := site.blobs.Get(context.Background(), Key(sess.o.id))
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodePlayer(data)
		if err != nil || p.LastSeq != want[sess.o.id] {
			t.Errorf("%s in S3 at last_seq %d (%v), want %d", sess.o.id, p.LastSeq, err, want[sess.o.id])
		}
	}
}

// gatedBlobs holds the first Get of key after it has read the object,
// until hold is closed: a load that has read a checkpoint and not yet
// looked for the player's waiting records.
type gatedBlobs struct {
	Blobs
	key       string
	got, hold chan struct{}
	gated     atomic.Bool
}

func (g *gatedBlobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	data, etag, err := g.Blobs.Get(ctx, key)
	if key == g.key && g.gated.CompareAndSwap(false, true) { // the first only; later ones pass
		close(g.got)
		<-g.hold
	}
	return data, etag, err
}

// TestRecoveryWaitsForALoadInFlight: a sign-in has read the player's
// checkpoint when the background recovery reaches the player. The recovery
// must leave the player to that load, which replays its records; had it
// rewritten the checkpoint under the load, the load's lease write would
// have put the stale copy back (put adopts what this process wrote).
func TestRecoveryWaitsForALoadInFlight(t *testing.T) {
	site := newSite(t, newBlobs(t, s3Targets(t)[0]))
	a, ja := site.open("server-x")
	sess := login(t, a, "gina")
	id := sess.o.id
	acked := script(t, a, sess, site.clk, nil)
	ja.Close()

	g := &gatedBlobs{Blobs: site.blobs, key: Key(id), got: make(chan struct{}), hold: make(chan struct{})}
	b, jb := journaledStore(t, g, site.clk, "server-x", site.dir, nil)
	defer jb.Close()
	recs, first, st, err := b.scanJournal(site.dir)
	if err != nil {
		t.Fatal(err)
	}
	b.holdTails(recs, first)
	loaded := make(chan Session)
	go func() { loaded <- login(t, b, "gina") }()
	<-g.got // the load has read the old checkpoint
	if st, err = b.recoverAll(context.Background(), recs, st, recoverBackground); err != nil || st.Loaded != 1 || st.Saved != 0 {
		t.Errorf("recovery beside a load in flight: %+v %v; want the player left to the load", st, err)
	}
	close(g.hold)
	sess = <-loaded
	sess.o.mu.Lock()
	last := sess.o.p.LastSeq
	sess.o.mu.Unlock()
	data, _, err := site.blobs.Get(context.Background(), Key(id))
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePlayer(data)
	if last != acked || err != nil || p.LastSeq != acked {
		t.Fatalf("after the load: online at last_seq %d, S3 at %d (%v); want %d", last, p.LastSeq, err, acked)
	}
}

// TestRecoveryWritesTheIndexOnlyForAMovedRanking: a restart replays every
// player's records and saves them, but writes an index entry only where
// the records moved what the index's queries select by (trophies, shield),
// as a live save does. Builds and trains do not; a restart of 20,000
// players wrote 20,000 entries. A player brought back by its own sign-in
// keeps the checkpoint's entry as the one published.
func TestRecoveryWritesTheIndexOnlyForAMovedRanking(t *testing.T) {
	index := &recordingUpdates{}
	b, clk, _ := diedAfterScripts(t, index)
	recs, first, st, err := b.scanJournal(b.jrnlDir)
	if err != nil || len(recs) != 3 {
		t.Fatalf("journal scan: %d players, %v; want 3", len(recs), err)
	}
	b.holdTails(recs, first)
	sess := login(t, b, "carol") // replays her records at her load
	if st, err = b.recoverAll(context.Background(), recs, st, recoverBackground); err != nil || st.Saved != 2 || st.Diverged != 0 {
		t.Fatalf("background recovery: %+v %v; want 2 saved, none diverged", st, err)
	}
	if got := index.take(); len(got) != 0 {
		t.Errorf("index entries written by the recovery: %v, want none (no record moved a ranking)", got)
	}
	sess.o.mu.Lock()
	indexed, now := sess.o.published, b.summary(&sess.o.p, clk.Now())
	sess.o.mu.Unlock()
	if !sameRanking(indexed, now) || indexed.ID != sess.o.id {
		t.Errorf("carol's published entry after her replaying load: %+v, want her ranking %+v", indexed, now)
	}
	if got := index.take(); slices.Contains(got, "carol") {
		t.Errorf("carol's load wrote the index: %v", got)
	}
}
