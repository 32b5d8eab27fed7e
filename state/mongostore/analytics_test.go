package mongostore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"rampart/state"
)

// startAnalytics runs an Analytics on s with cfg for the test; cleanup
// closes it.
func startAnalytics(t *testing.T, s *Store, cfg AnalyticsConfig) *Analytics {
	t.Helper()
	a := NewAnalytics(s, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := a.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run after Close: got %v, want nil", err)
		}
		cancel()
	})
	return a
}

func flush(t *testing.T, a *Analytics) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func countEvents(t *testing.T, s *Store, filter bson.D) int64 {
	t.Helper()
	n, err := s.events.CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// balanced checks that every emitted event is accounted for.
func balanced(t *testing.T, st AnalyticsStats) {
	t.Helper()
	if sum := st.Inserted + st.DroppedQueueFull + st.DroppedFailed + st.Queued + st.InFlight; sum != st.Emitted {
		t.Errorf("stats %+v: inserted+dropped+queued+in flight = %d, want emitted %d", st, sum, st.Emitted)
	}
}

func TestAnalyticsBatchesBySize(t *testing.T) { forEachStore(t, testAnalyticsBatchesBySize) }

func testAnalyticsBatchesBySize(t *testing.T, s *Store) {
	never := make(chan time.Time) // no time-based flushes
	a := startAnalytics(t, s, AnalyticsConfig{MaxBatch: 10, Ticks: never})

	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 25 {
		a.Emit(state.Event{Time: t0.Add(time.Duration(i) * time.Second), Player: fmt.Sprint("p", i%3), Kind: "action", Name: "build", OK: true})
	}
	flush(t, a)
	st := a.Stats()
	if st.Emitted != 25 || st.Inserted != 25 || st.Batches != 3 || st.DroppedQueueFull+st.DroppedFailed != 0 {
		t.Errorf("stats: got %+v, want 25 emitted and inserted in 3 batches, none dropped", st)
	}
	balanced(t, st)
	if n := countEvents(t, s, bson.D{}); n != 25 {
		t.Errorf("events stored: got %d, want 25", n)
	}
}

func TestAnalyticsBatchesByTime(t *testing.T) { forEachStore(t, testAnalyticsBatchesByTime) }

func testAnalyticsBatchesByTime(t *testing.T, s *Store) {
	ticks := make(chan time.Time)
	a := startAnalytics(t, s, AnalyticsConfig{MaxBatch: 100, Ticks: ticks})

	for round := 1; round <= 2; round++ {
		for range 3 {
			a.Emit(state.Event{Player: "p", Kind: "login", OK: true})
		}
		for deadline := time.Now().Add(10 * time.Second); len(a.queue) > 0; { // Run takes them into its batch
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d events still queued after 10 s: Run is not draining the queue", round, len(a.queue))
			}
			runtime.Gosched()
		}
		ticks <- time.Now() // the partial batch goes now, not at MaxBatch
		flush(t, a)         // waits for it; finds nothing more to send
		st := a.Stats()
		if st.Batches != int64(round) || st.Inserted != int64(3*round) {
			t.Errorf("round %d: got %d batches, %d inserted; want %d, %d", round, st.Batches, st.Inserted, round, 3*round)
		}
	}
}

func TestAnalyticsFlushEvery(t *testing.T) { forEachStore(t, testAnalyticsFlushEvery) }

func testAnalyticsFlushEvery(t *testing.T, s *Store) {
	a := startAnalytics(t, s, AnalyticsConfig{MaxBatch: 100, FlushEvery: 5 * time.Millisecond})
	a.Emit(state.Event{Player: "p", Kind: "login", OK: true})
	// Nothing but the ticker sends this batch; Flush is not called.
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Inserted != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats after 10s: %+v, want 1 inserted by the FlushEvery ticker", a.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAnalyticsEventDocument(t *testing.T) { forEachStore(t, testAnalyticsEventDocument) }

func testAnalyticsEventDocument(t *testing.T, s *Store) {
	ctx := context.Background()
	a := startAnalytics(t, s, AnalyticsConfig{})
	when := time.Date(2025, 6, 1, 12, 30, 0, 123_000_000, time.UTC)
	a.Emit(state.Event{Time: when, Player: "alice", Kind: "purchase", Name: "gem_pack", OK: false, Code: "not_enough",
		Duration: 1500 * time.Microsecond, Deltas: map[string]int64{"gold": -100, "gems": 5}, Extra: map[string]any{"store": "main", "n": 2}})
	a.Emit(state.Event{Time: when, Player: "bob", Kind: "logout", OK: true})
	a.Emit(state.Event{Player: "carol", Kind: "bad", Extra: map[string]any{"c": make(chan int)}}) // BSON cannot hold it
	flush(t, a)
	if st := a.Stats(); st.Inserted != 2 || st.DroppedFailed != 1 {
		t.Errorf("stats: got %+v, want 2 inserted, 1 dropped (does not encode)", st)
	}

	var doc bson.Raw
	if err := s.events.FindOne(ctx, bson.D{{Key: "player", Value: "alice"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		key  string
		typ  bson.Type
		want string // the value as extended JSON
	}{
		{"_id", bson.TypeObjectID, ""},
		{"t", bson.TypeDateTime, `{"$date":{"$numberLong":"1748781000123"}}`},
		{"player", bson.TypeString, `"alice"`},
		{"kind", bson.TypeString, `"purchase"`},
		{"name", bson.TypeString, `"gem_pack"`},
		{"ok", bson.TypeBoolean, `false`},
		{"code", bson.TypeString, `"not_enough"`},
		{"dur_us", bson.TypeInt64, `{"$numberLong":"1500"}`},
		{"deltas.gold", bson.TypeInt64, `{"$numberLong":"-100"}`},
		{"deltas.gems", bson.TypeInt64, `{"$numberLong":"5"}`},
		{"extra.store", bson.TypeString, `"main"`},
		{"extra.n", bson.TypeInt32, `{"$numberInt":"2"}`},
	} {
		v, err := doc.LookupErr(strings.Split(f.key, ".")...)
		if err != nil {
			t.Errorf("%s: %v", f.key, err)
			continue
		}
		if v.Type != f.typ {
			t.Errorf("%s: got BSON type %v, want %v", f.key, v.Type, f.typ)
		}
		if f.want != "" && v.String() != f.want {
			t.Errorf("%s: got %s, want %s", f.key, v.String(), f.want)
		}
	}
	var bob bson.M
	if err := s.events.FindOne(ctx, bson.D{{Key: "player", Value: "bob"}}).Decode(&bob); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range bob {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"_id", "kind", "ok", "player", "t"}; !slices.Equal(keys, want) {
		t.Errorf("minimal event fields: got %v, want %v", keys, want)
	}
}

// TestAnalystQueries runs the queries doc.go gives analysts.
func TestAnalystQueries(t *testing.T) { forEachStore(t, testAnalystQueries) }

func testAnalystQueries(t *testing.T, s *Store) {
	ctx := context.Background()
	a := startAnalytics(t, s, AnalyticsConfig{})
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range []state.Event{
		{Time: day.Add(-time.Hour), Player: "zed", Kind: "login"}, // the day before
		{Time: day.Add(time.Hour), Player: "alice", Kind: "login"},
		{Time: day.Add(2 * time.Hour), Player: "alice", Kind: "login"},
		{Time: day.Add(3 * time.Hour), Player: "bob", Kind: "login"},
		{Time: day.Add(4 * time.Hour), Player: "bob", Kind: "logout"},
		{Time: day.Add(25 * time.Hour), Player: "carol", Kind: "login"}, // the day after
		{Time: day, Player: "alice", Kind: "purchase", Name: "shield_1d", OK: true},
		{Time: day, Player: "bob", Kind: "purchase", Name: "shield_1d", OK: true},
		{Time: day, Player: "bob", Kind: "purchase", Name: "gem_pack", OK: true},
		{Time: day, Player: "bob", Kind: "purchase", Name: "gem_pack", OK: false, Code: "not_enough"},
	} {
		e.OK = e.OK || e.Kind != "purchase"
		a.Emit(e)
	}
	flush(t, a)

	inDay := bson.D{{Key: "kind", Value: "login"}, {Key: "t", Value: bson.D{
		{Key: "$gte", Value: bson.NewDateTimeFromTime(day)}, {Key: "$lt", Value: bson.NewDateTimeFromTime(day.AddDate(0, 0, 1))}}}}
	var dau []struct {
		Players int `bson:"players"`
	}
	aggregate(t, s.events, mongo.Pipeline{
		{{Key: "$match", Value: inDay}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$player"}}}},
		{{Key: "$count", Value: "players"}},
	}, &dau)
	if len(dau) != 1 || dau[0].Players != 2 {
		t.Errorf("daily active players: got %+v, want 2", dau)
	}
	res := s.events.Distinct(ctx, "player", inDay)
	var players []string
	if err := res.Decode(&players); err != nil {
		t.Fatalf("distinct: %v", err)
	}
	slices.Sort(players)
	if want := []string{"alice", "bob"}; !slices.Equal(players, want) {
		t.Errorf("distinct players: got %v, want %v", players, want)
	}

	var byItem []struct {
		Name string `bson:"_id"`
		N    int    `bson:"n"`
	}
	aggregate(t, s.events, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "kind", Value: "purchase"}, {Key: "ok", Value: true}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$name"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "n", Value: -1}, {Key: "_id", Value: 1}}}},
	}, &byItem)
	if got, want := fmt.Sprint(byItem), "[{shield_1d 2} {gem_pack 1}]"; got != want {
		t.Errorf("purchases by item: got %s, want %s", got, want)
	}
}

func aggregate(t *testing.T, c *mongo.Collection, p mongo.Pipeline, out any) {
	t.Helper()
	cur, err := c.Aggregate(context.Background(), p)
	if err != nil {
		t.Fatalf("aggregate: %v", err)
	}
	if err := cur.All(context.Background(), out); err != nil {
		t.Fatalf("aggregate: %v", err)
	}
}

func TestAnalyticsQueueFull(t *testing.T) { forEachStore(t, testAnalyticsQueueFull) }

func testAnalyticsQueueFull(t *testing.T, s *Store) {
	a := NewAnalytics(s, AnalyticsConfig{QueueSize: 5, MaxBatch: 100})
	// Run has not started: nothing drains the queue.
	for range 8 {
		a.Emit(state.Event{Player: "p", Kind: "action"})
	}
	if st := a.Stats(); st.Emitted != 8 || st.Queued != 5 || st.DroppedQueueFull != 3 {
		t.Errorf("before Run: got %+v, want 8 emitted, 5 queued, 3 dropped", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := a.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	a.Emit(state.Event{Player: "p", Kind: "action"}) // after Close
	st := a.Stats()
	if st.Inserted != 5 || st.DroppedQueueFull != 4 || st.Queued != 0 {
		t.Errorf("after Close: got %+v, want 5 inserted, 4 dropped", st)
	}
	balanced(t, st)
	if err := a.Flush(cctx); err == nil {
		t.Errorf("Flush after Close: got nil, want an error (not running)")
	}
}

func TestAnalyticsMongoDown(t *testing.T) { forEachMongo(t, testAnalyticsMongoDown) }

func testAnalyticsMongoDown(t *testing.T, target mongoTarget) {
	m, client := startMongo(t, target)
	k := mongoKeeper(1, 300*time.Millisecond)
	s, err := Open(context.Background(), client, "rampart", k, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	a := startAnalytics(t, s, AnalyticsConfig{QueueSize: 50, MaxBatch: 10, MaxInFlight: 2, Ticks: make(chan time.Time)})
	for range 10 {
		a.Emit(state.Event{Player: "p", Kind: "action"})
	}
	flush(t, a)
	if st := a.Stats(); st.Inserted != 10 {
		t.Fatalf("before the outage: got %+v, want 10 inserted", st)
	}

	m.Close()
	// Emit never blocks: thousands of events against a dead server and a
	// 50-event queue return at once, the excess dropped and counted.
	start := time.Now()
	const burst = 5000
	for range burst {
		a.Emit(state.Event{Player: "p", Kind: "action"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d Emits took %v with MongoDB down, want well under 1s", burst, d)
	}
	flush(t, a)
	st := a.Stats()
	if st.Inserted != 10 || st.DroppedFailed == 0 || st.FailedBatches == 0 || st.DroppedFailed+st.DroppedQueueFull != burst {
		t.Errorf("after the outage: got %+v, want 10 inserted and all %d later events dropped (failed or queue full)", st, burst)
	}
	if st.DroppedFailed > 10*st.FailedBatches {
		t.Errorf("got %d events dropped in %d failed batches, want batches of at most 10", st.DroppedFailed, st.FailedBatches)
	}
	balanced(t, st)
	if ks := k.Stats(); ks.Errors != st.FailedBatches || ks.Retries != 0 {
		t.Errorf("bookkeeper: got %d errors, %d retries; want %d errors (one per failed batch), no retries", ks.Errors, ks.Retries, st.FailedBatches)
	}
}

func TestAnalyticsRunStoppedByCtx(t *testing.T) { forEachStore(t, testAnalyticsRunStoppedByCtx) }

func testAnalyticsRunStoppedByCtx(t *testing.T, s *Store) {
	a := NewAnalytics(s, AnalyticsConfig{Ticks: make(chan time.Time)})
	for range 7 {
		a.Emit(state.Event{Player: "p", Kind: "action"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with ctx done: got %v, want context.Canceled", err)
	}
	a.Emit(state.Event{Player: "p", Kind: "action"}) // after Run: closed
	st := a.Stats()
	if st.DroppedFailed != 7 || st.DroppedQueueFull != 1 || st.Queued != 0 {
		t.Errorf("got %+v, want the 7 queued events dropped (failed) and the late one dropped (closed)", st)
	}
	balanced(t, st)
}
