package mongostore

import (
	"context"
	"fmt"
	testclock "rampart/internal/testenv/clock"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"rampart/state"
)

func TestOpenCreatesIndexesIdempotently(t *testing.T) {
	forEachMongo(t, testOpenCreatesIndexesIdempotently)
}

func testOpenCreatesIndexesIdempotently(t *testing.T, target mongoTarget) {
	ctx := context.Background()
	_, client := startMongo(t, target)
	k := mongoKeeper(1, 5*time.Second)
	for i := range 2 {
		if _, err := Open(ctx, client, "rampart", k, testLog(t)); err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
	}
	want := map[string][]string{
		PlayersCollection: {"_id_", "shield_until_1", "trophies_-1__id_1"},
		EventsCollection:  {"_id_", "kind_1_name_1", "player_1_t_1", "t_1"},
		MailCollection:    {"_id_", "to_1_created_1"},
	}
	for coll, wantNames := range want {
		db := "rampart"
		if coll == EventsCollection {
			db += EventsSuffix
		}
		cur, err := client.Database(db).Collection(coll).Indexes().List(ctx)
		if err != nil {
			t.Fatalf("list indexes of %s: %v", coll, err)
		}
		var specs []struct {
			Name string `bson:"name"`
		}
		if err := cur.All(ctx, &specs); err != nil {
			t.Fatalf("read indexes of %s: %v", coll, err)
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantNames) {
			t.Errorf("indexes of %s: got %v, want %v", coll, got, wantNames)
		}
	}
	// Two Opens, each a ping and one call per index.
	if s := k.Stats(); s.Errors != 0 || s.OK != 2*int64(1+len(indexes)) {
		t.Errorf("bookkeeper: got %d ok, %d errors; want %d ok, 0 errors", s.OK, s.Errors, 2*(1+len(indexes)))
	}
}

func TestUpsertTopRank(t *testing.T) { forEachStore(t, testUpsertTopRank) }

func testUpsertTopRank(t *testing.T, s *Store) {
	ctx := context.Background()
	players := []state.Summary{
		{ID: "carol", TownHall: 3, Trophies: 1200, BaseValue: 300, ShieldUntil: 10, LastSeen: 20},
		{ID: "alice", TownHall: 5, Trophies: 1500, BaseValue: 900},
		{ID: "dave", TownHall: 2, Trophies: 1200},
		{ID: "bob", TownHall: 4, Trophies: 1200},
		{ID: "erin", TownHall: 1, Trophies: 0},
	}
	for _, p := range players {
		if err := s.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// A second save replaces the summary.
	players[4].Trophies, players[4].TownHall = 1300, 2
	if err := s.Upsert(ctx, players[4]); err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"alice", "erin", "bob", "carol", "dave"}

	top, err := s.Top(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := summaryIDs(top); !slices.Equal(got, wantOrder) {
		t.Fatalf("Top(10): got %v, want %v", got, wantOrder)
	}
	if got, want := top[3], players[0]; got != want {
		t.Errorf("Top(10)[3]: got %+v, want %+v", got, want)
	}
	if got, want := top[1], players[4]; got != want {
		t.Errorf("Top(10)[1] after second save: got %+v, want %+v", got, want)
	}
	top2, err := s.Top(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := summaryIDs(top2); !slices.Equal(got, wantOrder[:2]) {
		t.Errorf("Top(2): got %v, want %v", got, wantOrder[:2])
	}

	for i, p := range top {
		r, err := s.Rank(ctx, p.Trophies, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r != i+1 {
			t.Errorf("Rank(%d, %s): got %d, want %d", p.Trophies, p.ID, r, i+1)
		}
	}
	// Positions between players, and off either end.
	for _, c := range []struct {
		trophies int
		id       string
		want     int
	}{
		{1200, "c", 4},  // after bob, before carol
		{1200, "a", 3},  // first of the 1200s
		{9999, "z", 1},  // ahead of everyone
		{-1, "a", 6},    // behind everyone
		{1300, "zz", 3}, // tie with erin, after her
	} {
		r, err := s.Rank(ctx, c.trophies, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if r != c.want {
			t.Errorf("Rank(%d, %q): got %d, want %d", c.trophies, c.id, r, c.want)
		}
	}
}

func TestOpponents(t *testing.T) { forEachMongo(t, testOpponents) }

func testOpponents(t *testing.T, target mongoTarget) {
	ctx := context.Background()
	clk := testclock.New(time.UnixMilli(0))
	s := openStore(t, target, WithNow(clk.Now))
	const now = 1_000_000
	for _, p := range []state.Summary{
		{ID: "me", Trophies: 1000},
		{ID: "low", Trophies: 899},
		{ID: "edge-low", Trophies: 900},
		{ID: "mid", Trophies: 1000},
		{ID: "edge-high", Trophies: 1100},
		{ID: "high", Trophies: 1101},
		{ID: "shielded", Trophies: 1000, ShieldUntil: now + 1},
		{ID: "shield-ends-now", Trophies: 1000, ShieldUntil: now},
		{ID: "shield-ended", Trophies: 1000, ShieldUntil: now - 1},
		{ID: "locked", Trophies: 1000},
		{ID: "lock-expired", Trophies: 1000},
	} {
		if err := s.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(time.UnixMilli(0))
	for _, l := range []struct {
		id    string
		until int64
	}{{"locked", now + 5000}, {"lock-expired", now - 1}} {
		if ok, err := s.LockRaid(ctx, l.id, "raid-"+l.id, l.until); err != nil || !ok {
			t.Fatalf("LockRaid(%s): got %v, %v; want true", l.id, ok, err)
		}
	}

	tests := []struct {
		name string
		q    state.OpponentQuery
		want []string // sorted
	}{
		{"band, exclude, shield, lock", state.OpponentQuery{Trophies: 1000, Tolerance: 100, Exclude: "me", Now: now, Limit: 50},
			[]string{"edge-high", "edge-low", "lock-expired", "mid", "shield-ended"}},
		{"zero tolerance", state.OpponentQuery{Trophies: 1000, Exclude: "me", Now: now, Limit: 50},
			[]string{"lock-expired", "mid", "shield-ended"}},
		{"exclude another", state.OpponentQuery{Trophies: 1000, Exclude: "mid", Now: now, Limit: 50},
			[]string{"lock-expired", "me", "shield-ended"}},
		{"later: shield and lock over", state.OpponentQuery{Trophies: 1000, Exclude: "me", Now: now + 5001, Limit: 50},
			[]string{"lock-expired", "locked", "mid", "shield-ended", "shield-ends-now", "shielded"}},
		{"limit", state.OpponentQuery{Trophies: 1000, Tolerance: 100, Exclude: "me", Now: now, Limit: 2},
			[]string{"edge-high", "lock-expired"}}, // index order: trophies desc, id asc
		{"empty band", state.OpponentQuery{Trophies: 5000, Tolerance: 10, Now: now, Limit: 5}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Opponents(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			ids := summaryIDs(got)
			slices.Sort(ids)
			if !slices.Equal(ids, tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestLockRaid(t *testing.T) { forEachMongo(t, testLockRaid) }

func testLockRaid(t *testing.T, target mongoTarget) {
	ctx := context.Background()
	clk := testclock.New(time.UnixMilli(0))
	s := openStore(t, target, WithNow(clk.Now))
	if err := s.Upsert(ctx, state.Summary{ID: "def", Trophies: 100}); err != nil {
		t.Fatal(err)
	}
	type step struct {
		name  string
		now   int64
		do    string // "lock", "unlock", "upsert"
		raid  string
		until int64
		want  bool // for lock
	}
	steps := []step{
		{"first raid locks", 0, "lock", "r1", 1000, true},
		{"second raid refused", 10, "lock", "r2", 1010, false},
		{"same raid again (retry)", 20, "lock", "r1", 1000, true},
		{"save keeps the lock", 30, "upsert", "", 0, false},
		{"still refused after save", 40, "lock", "r2", 1040, false},
		{"refused at until", 1000, "lock", "r2", 2000, false},
		{"expired lock is taken", 1001, "lock", "r2", 2001, true},
		{"old raid refused now", 1002, "lock", "r1", 3000, false},
		{"old raid's unlock does nothing", 1003, "unlock", "r1", 0, false},
		{"still r2's", 1004, "lock", "r3", 3000, false},
		{"holder unlocks", 1005, "unlock", "r2", 0, false},
		{"free again", 1006, "lock", "r3", 3000, true},
	}
	for _, st := range steps {
		clk.Set(time.UnixMilli(st.now))
		switch st.do {
		case "lock":
			ok, err := s.LockRaid(ctx, "def", st.raid, st.until)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if ok != st.want {
				t.Errorf("%s: LockRaid(def, %s) at %d: got %v, want %v", st.name, st.raid, st.now, ok, st.want)
			}
		case "unlock":
			if err := s.UnlockRaid(ctx, "def", st.raid); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		case "upsert":
			if err := s.Upsert(ctx, state.Summary{ID: "def", Trophies: 90}); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
	}

	// The lock fields never leak into summaries.
	top, err := s.Top(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := (state.Summary{ID: "def", Trophies: 90}); len(top) != 1 || top[0] != want {
		t.Errorf("Top after locks: got %+v, want [%+v]", top, want)
	}

	// No document, no lock, and none is created.
	ok, err := s.LockRaid(ctx, "nobody", "r9", 5000)
	if err != nil || ok {
		t.Errorf("LockRaid(nobody): got %v, %v; want false, nil", ok, err)
	}
	if n, err := s.players.CountDocuments(ctx, bson.D{{Key: "_id", Value: "nobody"}}); err != nil || n != 0 {
		t.Errorf("documents for nobody: got %d, %v; want 0", n, err)
	}
}

func TestLockRaidConcurrent(t *testing.T) { forEachMongo(t, testLockRaidConcurrent) }

func testLockRaidConcurrent(t *testing.T, target mongoTarget) {
	ctx := context.Background()
	clk := testclock.New(time.UnixMilli(0))
	s := openStore(t, target, WithNow(clk.Now))
	const defenders, raiders = 3, 8
	for d := range defenders {
		if err := s.Upsert(ctx, state.Summary{ID: fmt.Sprint("def", d), Trophies: 100}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	winners := map[string][]string{}
	var wg sync.WaitGroup
	for d := range defenders {
		for r := range raiders {
			wg.Go(func() {
				def, raid := fmt.Sprint("def", d), fmt.Sprint("raid", r)
				// Saves race the locks and must not clear them.
				if err := s.Upsert(ctx, state.Summary{ID: def, Trophies: 100 + r}); err != nil {
					t.Error(err)
				}
				ok, err := s.LockRaid(ctx, def, raid, 1000)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					winners[def] = append(winners[def], raid)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for d := range defenders {
		def := fmt.Sprint("def", d)
		if got := winners[def]; len(got) != 1 {
			t.Errorf("%s: got winners %v, want exactly one", def, got)
		}
		var doc struct {
			ID string `bson:"raid_lock_id"`
		}
		if err := s.players.FindOne(ctx, bson.D{{Key: "_id", Value: def}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if w := winners[def]; len(w) == 1 && doc.ID != w[0] {
			t.Errorf("%s: stored lock %q, want the winner %q", def, doc.ID, w[0])
		}
	}
}
