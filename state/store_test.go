package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/internal/testenv"
	testclock "rampart/internal/testenv/clock"
	"rampart/journal"
	"rampart/profiler"
	"rampart/state/s3store"
)

// clock is the injected game clock tests move by hand.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(testclock.Default) }

// countingBlobs counts the calls that reach the store.
type countingBlobs struct {
	Blobs
	gets, puts atomic.Int64
}

func (c *countingBlobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	c.gets.Add(1)
	return c.Blobs.Get(ctx, key)
}

func (c *countingBlobs) Put(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	c.puts.Add(1)
	return c.Blobs.Put(ctx, key, data, cond)
}

func newBlobs(t testing.TB, s3 testenv.S3) *countingBlobs {
	t.Helper()
	b := s3store.New(s3store.Config{Endpoint: s3.Endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{})
	if err := b.EnsureBucket(context.Background()); err != nil {
		t.Fatalf("ensure bucket on %s: %v", s3.Name, err)
	}
	return &countingBlobs{Blobs: b}
}

func newStore(t testing.TB, blobs Blobs, clk *clock, id string) *Store {
	t.Helper()
	return NewStore(Config{ServerID: id, Autosave: 30 * time.Second, IdleTimeout: 10 * time.Minute,
		LeaseTTL: 2 * time.Minute, Now: clk.Now}, testDeps(t, blobs, clk.Now))
}

// testDeps is what a test's Store runs on: blobs behind an S3 bookkeeper,
// the embedded game data, development accounts, no MongoDB, no journal.
// Tests set the other fields they need.
func testDeps(t testing.TB, blobs Blobs, now func() time.Time) Deps {
	t.Helper()
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	keeper := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 16, QueueLimit: 1000,
		Timeout: 5 * time.Second, MaxTries: 2, Retryable: s3store.Retryable})
	return Deps{Blobs: blobs, S3: keeper, GameData: gamedata.NewHolder(gd), Accounts: DevAccounts(t, blobs, now),
		Profiler: profiler.New(), Log: testenv.Discard}
}

// s3Targets are the real S3 servers the persistence suite runs on.
func s3Targets(t *testing.T) []testenv.S3 {
	return testenv.S3Targets(t)
}

// forEachS3 runs test on a fresh bucket of each of s3Targets, a subtest
// each.
func forEachS3(t *testing.T, test func(t *testing.T, blobs *countingBlobs)) {
	for _, target := range s3Targets(t) {
		t.Run(target.Name, func(t *testing.T) { test(t, newBlobs(t, target)) })
	}
}

func login(t *testing.T, s *Store, id string) Session {
	t.Helper()
	res, err := s.DevLogin(context.Background(), id)
	if err != nil {
		t.Fatalf("login %s: %v", id, err)
	}
	sess, err := s.Authenticate(res.Session)
	if err != nil {
		t.Fatalf("authenticate fresh session: %v", err)
	}
	return sess
}

func ping(seq int64) Action { return Action{Seq: seq, Name: "ping", Args: json.RawMessage(`{}`)} }

func TestPersistence(t *testing.T) {
	forEachS3(t, func(t *testing.T, blobs *countingBlobs) {
		clk := newClock()
		ctx := context.Background()

		a := newStore(t, blobs, clk, "server-a")
		sess := login(t, a, "alice")
		replies, _, err := a.Apply(sess, []Action{ping(1), ping(2), {Seq: 3, Name: "no_such_action"}})
		if err != nil {
			t.Fatal(err)
		}
		if !replies[0].OK || !replies[1].OK || replies[2].OK || replies[2].Error.Code != "unknown_action" {
			t.Fatalf("got replies %+v, want ok, ok, unknown_action", replies)
		}
		if err := a.Logout(ctx, sess, 0); err != nil {
			t.Fatalf("logout: %v", err)
		}
		if n := a.OnlineCount(); n != 0 {
			t.Fatalf("online after logout = %d, want 0", n)
		}
		if _, _, err := a.Apply(sess, []Action{ping(4)}); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("apply after logout: got %v, want ErrUnauthorized", err)
		}

		// A restarted server (new store, same bucket) remembers the seq
		// and the replies.
		b := newStore(t, blobs, clk, "server-b")
		sess = login(t, b, "alice")
		replies, _, err = b.Apply(sess, []Action{ping(2), ping(3), ping(4)})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			dup, ok bool
		}{{true, true}, {true, false}, {false, true}}
		for i, w := range want {
			if replies[i].Duplicate != w.dup || replies[i].OK != w.ok {
				t.Errorf("reply %d = %+v, want duplicate=%v ok=%v", i, replies[i], w.dup, w.ok)
			}
		}
		if err := b.Logout(ctx, sess, 0); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStaleSeqPastWindow(t *testing.T) {
	s := newStore(t, newBlobs(t, testenv.EmbeddedS3(t)), newClock(), "a")
	sess := login(t, s, "bob")
	batch := make([]Action, 0, Replies+1)
	for seq := int64(1); seq <= Replies+1; seq++ {
		batch = append(batch, ping(seq))
	}
	if _, _, err := s.Apply(sess, batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		seq  int64
		code string
		dup  bool
	}{
		{"oldest evicted", 1, "stale_seq", false},
		{"oldest kept", 2, "", true},
		{"newest", Replies + 1, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := s.Apply(sess, []Action{ping(tt.seq)})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if r[0].Error != nil {
				got = r[0].Error.Code
			}
			if got != tt.code || r[0].Duplicate != tt.dup {
				t.Fatalf("seq %d: got code %q duplicate %v, want %q %v", tt.seq, got, r[0].Duplicate, tt.code, tt.dup)
			}
		})
	}
}

func TestConcurrentLoginsLoadOnce(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	s := newStore(t, blobs, newClock(), "a")
	const n = 20
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.DevLogin(context.Background(), "carol")
			tokens[i], errs[i] = res.Session, err
		}()
	}
	wg.Wait()
	valid := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		if sess, err := s.Authenticate(tokens[i]); err == nil {
			if _, _, err := s.Apply(sess, []Action{ping(int64(100 + i))}); err == nil {
				valid++
			}
		}
	}
	if got := blobs.gets.Load(); got != 1 {
		t.Errorf("S3 GETs = %d, want 1 (singleflight)", got)
	}
	if valid != 1 {
		t.Errorf("sessions still valid = %d, want 1 (each login replaces the last)", valid)
	}
}

func TestTwoServersOneOwner(t *testing.T) {
	forEachS3(t, func(t *testing.T, blobs *countingBlobs) {
		clkA, clkB := newClock(), newClock()
		a := newStore(t, blobs, clkA, "server-a")
		b := newStore(t, blobs, clkB, "server-b")
		ctx := context.Background()

		sessA := login(t, a, "dave")
		if _, _, err := a.Apply(sessA, []Action{ping(1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.DevLogin(ctx, "dave"); !errors.Is(err, ErrPlayerBusy) {
			t.Fatalf("second server login with live lease: got %v, want ErrPlayerBusy", err)
		}

		// Server A goes quiet; its lease runs out on B's clock.
		clkB.Advance(3 * time.Minute)
		sessB := login(t, b, "dave")
		if _, _, err := b.Apply(sessB, []Action{ping(2)}); err != nil {
			t.Fatal(err)
		}
		if err := b.SaveAll(ctx); err != nil {
			t.Fatalf("server B save: %v", err)
		}

		// A wakes up and tries to save its stale copy: refused, counted,
		// dropped.
		if _, _, err := a.Apply(sessA, []Action{ping(3)}); err != nil {
			t.Fatal(err)
		}
		if err := a.Logout(ctx, sessA, 0); !errors.Is(err, ErrLostOwnership) {
			t.Fatalf("stale server logout: got %v, want ErrLostOwnership", err)
		}
		if got := a.Stats().LostOwnership; got != 1 {
			t.Errorf("lost_ownership = %d, want 1", got)
		}
		if a.OnlineCount() != 0 {
			t.Errorf("stale server still holds the player")
		}

		// No lost update: what B saved is what a new login sees.
		c := newStore(t, blobs, clkB, "server-c")
		res, err := c.DevLogin(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		var view struct {
			LastSeq int64 `json:"last_seq"`
		}
		json.Unmarshal(res.Player, &view)
		if view.LastSeq != 2 {
			t.Errorf("last_seq after takeover = %d, want 2 (B's save, not A's)", view.LastSeq)
		}
	})
}

func TestSweep(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	s := newStore(t, blobs, clk, "a")
	ctx := context.Background()
	busy := login(t, s, "erin")
	idle := login(t, s, "frank")
	quiet := login(t, s, "gina")
	if _, _, err := s.Apply(busy, []Action{ping(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Apply(idle, []Action{ping(1)}); err != nil {
		t.Fatal(err)
	}

	puts := blobs.puts.Load()
	s.Sweep(ctx)
	if got := blobs.puts.Load() - puts; got != 0 {
		t.Errorf("sweep before anyone is due saved %d players, want 0", got)
	}
	clk.Advance(30 * time.Second) // one autosave interval: everyone is due
	if failed := s.Sweep(ctx); failed != 0 {
		t.Fatalf("sweep failed %d saves", failed)
	}
	if got := blobs.puts.Load() - puts; got != 2 {
		t.Errorf("first sweep saved %d players, want 2 (the changed ones)", got)
	}
	puts = blobs.puts.Load()
	s.Sweep(ctx)
	if got := blobs.puts.Load() - puts; got != 0 {
		t.Errorf("second sweep saved %d players, want 0 (nothing changed)", got)
	}
	// gina, unchanged since her login 61 s ago, is past half her 2-minute
	// lease: the sweep saves her only to renew it.
	clk.Advance(31 * time.Second)
	puts = blobs.puts.Load()
	s.Sweep(ctx)
	until := map[string]int64{}
	for _, p := range s.Players(0) {
		until[p.ID] = p.LeaseUntilMS
	}
	if got, want, saves := until["gina"], clk.Now().Add(2*time.Minute).UnixMilli(), blobs.puts.Load()-puts; got != want || saves != 1 {
		t.Errorf("sweep past half-life: gina's lease until %d after %d saves, want renewed to %d by 1 save", got, saves, want)
	}

	// Past half the lease every player is saved to renew it; past the
	// idle timeout the idle ones leave memory.
	clk.Advance(11 * time.Minute)
	if _, _, err := s.Apply(busy, []Action{ping(2)}); err != nil {
		t.Fatal(err)
	}
	s.Sweep(ctx)
	if got := s.OnlineCount(); got != 1 {
		t.Fatalf("online after idle sweep = %d, want 1", got)
	}
	if _, err := s.View(quiet); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("idle player's session: got %v, want ErrUnauthorized", err)
	}
	if _, err := s.View(busy); err != nil {
		t.Errorf("active player's session: %v", err)
	}
}

func TestSaveAllReleasesLeases(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	a := newStore(t, blobs, clk, "a")
	for _, id := range []string{"p1", "p2", "p3"} {
		sess := login(t, a, id)
		if _, _, err := a.Apply(sess, []Action{ping(7)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SaveAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.OnlineCount() != 0 {
		t.Fatalf("online after SaveAll = %d, want 0", a.OnlineCount())
	}
	b := newStore(t, blobs, clk, "b") // same clock: leases must be released, not expired
	for _, id := range []string{"p1", "p2", "p3"} {
		res, err := b.DevLogin(context.Background(), id)
		if err != nil {
			t.Fatalf("login %s on the next server: %v", id, err)
		}
		var view struct {
			LastSeq int64 `json:"last_seq"`
		}
		json.Unmarshal(res.Player, &view)
		if view.LastSeq != 7 {
			t.Errorf("%s last_seq = %d, want 7", id, view.LastSeq)
		}
	}
}

// landedButLost writes through, then reports the first n writes as failed
// (the reply lost on the way back), as a timed-out try does.
type landedButLost struct {
	Blobs
	n atomic.Int64
}

func (l *landedButLost) Put(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	etag, err := l.Blobs.Put(ctx, key, data, cond)
	if err == nil && l.n.Add(-1) >= 0 {
		return "", context.DeadlineExceeded
	}
	return etag, err
}

// A retried write that meets its own first try is not a lost ownership.
func TestRetriedWriteThatLandedIsOurs(t *testing.T) {
	tests := []struct {
		name string
		// faulted runs with the next write's reply lost.
		faulted func(t *testing.T, s *Store, blobs *landedButLost)
	}{
		{"lease at login", func(t *testing.T, s *Store, blobs *landedButLost) {
			blobs.n.Store(1)
			login(t, s, "zed")
		}},
		{"save at logout", func(t *testing.T, s *Store, blobs *landedButLost) {
			sess := login(t, s, "zed")
			s.Apply(sess, []Action{ping(1)})
			blobs.n.Store(1)
			if err := s.Logout(context.Background(), sess, 0); err != nil {
				t.Fatalf("logout with a lost reply: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blobs := &landedButLost{Blobs: newBlobs(t, testenv.EmbeddedS3(t))}
			s := newStore(t, blobs, newClock(), "a")
			tt.faulted(t, s, blobs)
			st := s.Stats()
			if st.LostOwnership != 0 || st.WriteConfirmed != 1 {
				t.Fatalf("lost_ownership %d write_confirmed %d, want 0 and 1", st.LostOwnership, st.WriteConfirmed)
			}
		})
	}
}

// Autosave moments are spread over the last tenth of the interval, per
// player, and never later than one interval.
func TestNextDueSpreadsSaves(t *testing.T) {
	s := newStore(t, nil, newClock(), "a")
	now := time.UnixMilli(1_000_000)
	seen := map[int64]bool{}
	for i := range 100 {
		due := s.nextDue(fmt.Sprintf("p%d", i), now)
		lo, hi := now.Add(27*time.Second).UnixMilli(), now.Add(30*time.Second).UnixMilli()
		if due <= lo || due > hi {
			t.Fatalf("p%d due %d ms after now, want in (27000, 30000]", i, due-now.UnixMilli())
		}
		seen[due] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 players got %d distinct save moments, want them spread", len(seen))
	}
}

// downBlobs fails every write while down is set.
type downBlobs struct {
	Blobs
	down atomic.Bool
}

func (d *downBlobs) Put(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	if d.down.Load() {
		return "", fmt.Errorf("injected: S3 down")
	}
	return d.Blobs.Put(ctx, key, data, cond)
}

// A logout whose save fails answers unavailable, keeps the player and the
// session, and a retried logout finishes once storage is back.
func TestLogoutDuringOutage(t *testing.T) {
	blobs := &downBlobs{Blobs: newBlobs(t, testenv.EmbeddedS3(t))}
	s := newStore(t, blobs, newClock(), "a")
	sess := login(t, s, "olga")
	s.Apply(sess, []Action{ping(1)})
	blobs.down.Store(true)
	if err := s.Logout(context.Background(), sess, 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("logout with S3 down: %v, want ErrUnavailable", err)
	}
	if s.OnlineCount() != 1 {
		t.Fatalf("player left memory unsaved")
	}
	if _, err := s.View(sess); err != nil {
		t.Fatalf("session after a failed logout: %v, want still usable", err)
	}
	blobs.down.Store(false)
	if err := s.Logout(context.Background(), sess, 0); err != nil {
		t.Fatalf("retried logout: %v", err)
	}
	if s.OnlineCount() != 0 {
		t.Fatalf("player still online after the retried logout")
	}
}

// TestPurchasesCheckpointSooner: with a long autosave, a player whose
// unsaved changes include a purchase is checkpointed within 30 s; one
// who only played is not (prioritised persistence). A server whose
// journal is shipped to S3 does not bring the checkpoint forward: the
// shipped journal already keeps the purchase through a lost machine.
func TestPurchasesCheckpointSooner(t *testing.T) {
	stores := []struct {
		name     string
		journal  bool
		shipped  bool
		soonerOK bool // a purchase is checkpointed within 31 s
	}{
		{"no journal", false, false, true},
		{"journal not shipped", true, false, true},
		{"journal shipped", true, true, false},
	}
	tests := []struct {
		name      string
		action    Action
		purchased bool
	}{
		{"ping only", ping(1), false},
		{"bought a boost", Action{Seq: 1, Name: "buy_item", Args: json.RawMessage(`{"item":"gold_boost"}`)}, true},
		{"failed purchase", Action{Seq: 1, Name: "buy_item", Args: json.RawMessage(`{"item":"gold_large"}`)}, false},
	}
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	ctx := context.Background()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			clk := newClock()
			deps := testDeps(t, blobs, clk.Now)
			if st.journal {
				dir := t.TempDir()
				j, err := journal.Open(dir, journal.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { j.Close() })
				deps.Journal, deps.JournalDir = j, dir
			}
			if st.shipped {
				deps.Chunks = blobs.Blobs.(Chunks) // the same bucket, uncounted
			}
			s := NewStore(Config{ServerID: "a", Autosave: 5 * time.Minute, Now: clk.Now}, deps)
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					sess := login(t, s, fmt.Sprintf("buyer-%s-%d", strings.ReplaceAll(st.name, " ", "-"), i))
					r, _, err := s.Apply(sess, []Action{tt.action})
					if err != nil {
						t.Fatal(err)
					}
					if r[0].OK == (tt.name == "failed purchase") {
						t.Fatalf("%s: reply %+v", tt.name, r[0])
					}
					puts := blobs.puts.Load()
					clk.Advance(31 * time.Second)
					s.Sweep(ctx)
					want := tt.purchased && st.soonerOK
					if got := blobs.puts.Load() - puts; (got > 0) != want {
						t.Errorf("checkpoints 31 s later = %d, want saved %v", got, want)
					}
				})
			}
		})
	}
}

// recordingUpdates records what the store publishes to the index.
type recordingUpdates struct {
	mu        sync.Mutex
	published []string
}

func (r *recordingUpdates) Publish(s Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, s.ID)
}
func (r *recordingUpdates) Create(s Summary)  { r.Publish(s) }
func (r *recordingUpdates) Forget(_ []string) {}
func (r *recordingUpdates) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.published
	r.published = nil
	return out
}

// TestDroppedIndexEntryIsWrittenAgain: an index entry the write-behind
// dropped (Unindexed) is published again at the player's next save; an
// entry that landed is not rewritten while the ranking stays.
func TestDroppedIndexEntryIsWrittenAgain(t *testing.T) {
	blobs := newBlobs(t, testenv.EmbeddedS3(t))
	clk := newClock()
	rec := &recordingUpdates{}
	deps := testDeps(t, blobs, clk.Now)
	deps.Mongo = Mongo{Updates: rec}
	s := NewStore(Config{ServerID: "a", Autosave: 30 * time.Second, Now: clk.Now}, deps)
	ctx := context.Background()
	tests := []struct {
		name    string
		dropped bool
		want    []string
	}{
		{"entry landed", false, nil},
		{"entry dropped", true, []string{"indexed"}},
		{"written again, landed", false, nil},
	}
	sess := login(t, s, "indexed")
	if got := rec.take(); !slices.Equal(got, []string{"indexed"}) {
		t.Fatalf("a new player's first entry: %v", got)
	}
	for i, tt := range tests {
		if tt.dropped {
			s.Unindexed([]string{"indexed"})
		}
		if _, _, err := s.Apply(sess, []Action{ping(int64(i + 1))}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(31 * time.Second)
		if failed := s.Sweep(ctx); failed != 0 {
			t.Fatalf("%s: %d saves failed", tt.name, failed)
		}
		if got := rec.take(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: published %v at the next save, want %v", tt.name, got, tt.want)
		}
	}
}
