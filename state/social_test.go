package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/internal/devstores"
	"rampart/internal/testenv"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/mongostore"
)

// world is a store on the embedded S3 server and an embedded FerretDB,
// the two speaking their real wire protocols, with a hand-moved clock.
type world struct {
	t      testing.TB
	store  *state.Store
	ms     *mongostore.Store
	mail   *faultyMail
	ferret *devstores.Mongo
	keeper *bookkeeper.Keeper
	events *mongostore.Analytics
	now    atomic.Int64
}

// faultyMail wraps the real mailbox to hold sends back or fail deletes.
type faultyMail struct {
	state.Mailbox
	hold       chan struct{} // when set, Send waits for it to close
	failDelete atomic.Bool
}

func (f *faultyMail) Send(ctx context.Context, m state.Mail) error {
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.Mailbox.Send(ctx, m)
}

func (f *faultyMail) Delete(ctx context.Context, ids []string) error {
	if f.failDelete.Load() {
		return fmt.Errorf("injected: delete lost in a crash")
	}
	return f.Mailbox.Delete(ctx, ids)
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t}
	w.now.Store(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(w.now.Load()) }

	s3 := testenv.EmbeddedS3(t)
	blobs := state.NewS3Blobs(state.S3Config{Endpoint: s3.Endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{})
	ferret, err := devstores.StartMongo(t.TempDir(), testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w.ferret = ferret
	t.Cleanup(func() { ferret.Close() })
	client, err := mongo.Connect(options.Client().ApplyURI(ferret.URI).SetTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })

	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	prof := profiler.New()
	s3k := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 8, QueueLimit: 100, Timeout: 5 * time.Second, MaxTries: 2, Retryable: state.Retryable})
	w.keeper = bookkeeper.New(bookkeeper.Config{Name: "mongo", Concurrency: 8, QueueLimit: 100, Timeout: 2 * time.Second, MaxTries: 1, Retryable: mongostore.Retryable})
	w.ms, err = mongostore.Open(context.Background(), client, "rampart", w.keeper, testenv.Discard, mongostore.WithNow(now))
	if err != nil {
		t.Fatal(err)
	}
	w.mail = &faultyMail{Mailbox: w.ms}
	w.events = mongostore.NewAnalytics(w.ms, mongostore.AnalyticsConfig{})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.events.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	w.store = state.NewStore(state.Config{ServerID: "social", Now: now}, blobs, s3k, gamedata.NewHolder(gd),
		state.NewSigner([]byte("0123456789abcdef0123456789abcdef")), prof, testenv.Discard)
	w.store.UseMongo(&state.Mongo{Index: w.ms, Mail: w.mail, Analytics: w.events, Keeper: w.keeper})
	return w
}

func (w *world) advance(d time.Duration) { w.now.Add(d.Milliseconds()) }

// settle waits for the asynchronous actions and the bookkeeper's
// fire-and-forget calls (index upserts, mail deletes) to land.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.store.WaitAsync(ctx); err != nil {
		w.t.Fatal(err)
	}
	if err := w.keeper.WaitIdle(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// player is one logged-in player of the world.
type player struct {
	w    *world
	id   string
	sess state.Session
	seq  int64
}

func (w *world) login(id string) *player {
	w.t.Helper()
	res, err := w.store.Login(context.Background(), id)
	if err != nil {
		w.t.Fatalf("login %s: %v", id, err)
	}
	sess, err := w.store.Authenticate(res.Session)
	if err != nil {
		w.t.Fatal(err)
	}
	var v struct {
		LastSeq int64 `json:"last_seq"`
	}
	json.Unmarshal(res.Player, &v)
	p := &player{w: w, id: id, sess: sess, seq: v.LastSeq}
	w.settle() // the index has the player once its lease save landed
	return p
}

func (p *player) logout() {
	p.w.t.Helper()
	if err := p.w.store.Logout(context.Background(), p.sess); err != nil {
		p.w.t.Fatalf("logout %s: %v", p.id, err)
	}
	p.w.settle()
}

// act runs one action and, for an asynchronous one, waits for its result.
func (p *player) act(name, args string) state.Reply {
	p.w.t.Helper()
	p.seq++
	r, _, err := p.w.store.Apply(p.sess, []state.Action{{Seq: p.seq, Name: name, Args: json.RawMessage(args)}})
	if err != nil {
		p.w.t.Fatalf("%s %s: %v", p.id, name, err)
	}
	if !r[0].Pending {
		return r[0]
	}
	p.w.settle()
	for _, a := range p.view().Async {
		if a.Seq == p.seq {
			return state.Reply{Seq: a.Seq, OK: a.OK, Result: a.Result, Error: a.Error}
		}
	}
	p.w.t.Fatalf("%s %s: no async result for seq %d", p.id, name, p.seq)
	return state.Reply{}
}

func (p *player) must(name, args string) json.RawMessage {
	p.w.t.Helper()
	r := p.act(name, args)
	if !r.OK {
		p.w.t.Fatalf("%s %s %s: %+v", p.id, name, args, r.Error)
	}
	return r.Result
}

type view struct {
	Base struct {
		Res         map[string]int64 `json:"res"`
		Army        map[string]int   `json:"army"`
		Trophies    int              `json:"trophies"`
		ShieldUntil int64            `json:"shield_until"`
	} `json:"base"`
	Found *state.Found        `json:"found"`
	Async []state.AsyncResult `json:"async"`
	Raids []json.RawMessage   `json:"raids"`
}

func (p *player) view() view {
	p.w.t.Helper()
	data, err := p.w.store.View(p.sess)
	if err != nil {
		p.w.t.Fatal(err)
	}
	var v view
	if err := json.Unmarshal(data, &v); err != nil {
		p.w.t.Fatal(err)
	}
	return v
}

// armUp builds a barracks and an army camp and trains militia.
func (p *player) armUp(n int) {
	p.must("build", `{"type":"barracks","x":8,"y":8}`)
	p.must("build", `{"type":"army_camp","x":8,"y":30}`)
	p.w.advance(time.Minute)
	p.must("train_units", fmt.Sprintf(`{"building_id":"b6","unit":"militia","count":%d}`, n))
	p.w.advance(time.Hour)
	if got := p.view().Base.Army["militia"]; got != n {
		p.w.t.Fatalf("%s trained %d militia, want %d", p.id, got, n)
	}
}

func code(r state.Reply) string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

func TestLeaderboardAndRank(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for i, tr := range []int{500, 900, 700, 900} {
		if err := w.ms.Upsert(ctx, state.Summary{ID: fmt.Sprintf("p%d", i), Trophies: tr, TownHall: 1}); err != nil {
			t.Fatal(err)
		}
	}
	me := w.login("me") // 0 trophies
	var lb struct {
		Top  []state.Summary `json:"top"`
		Rank int             `json:"rank"`
	}
	json.Unmarshal(me.must("leaderboard", `{"n":3}`), &lb)
	var ids []string
	for _, s := range lb.Top {
		ids = append(ids, s.ID)
	}
	if fmt.Sprint(ids) != "[p1 p3 p2]" || lb.Rank != 5 {
		t.Fatalf("top %v rank %d, want [p1 p3 p2] (trophies, then id) and rank 5", ids, lb.Rank)
	}
	if r := me.act("leaderboard", `{"n":1000}`); code(r) != "bad_args" {
		t.Fatalf("leaderboard n=1000: %+v", r)
	}
}

func TestFindOpponentWidens(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	shield := w.now.Load() + time.Hour.Milliseconds()
	for _, s := range []state.Summary{
		{ID: "far", Trophies: 350},
		{ID: "shielded", Trophies: 50, ShieldUntil: shield},
	} {
		if err := w.ms.Upsert(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	me := w.login("seeker")
	tests := []struct {
		retry int
		want  string
	}{{0, "no_opponent"}, {1, "no_opponent"}, {2, "far"}}
	for _, tt := range tests {
		r := me.act("find_opponent", fmt.Sprintf(`{"retry":%d}`, tt.retry))
		var res struct {
			Opponent state.Summary `json:"opponent"`
		}
		json.Unmarshal(r.Result, &res)
		if got := res.Opponent.ID; (tt.want == "no_opponent" && code(r) != tt.want) || (tt.want != "no_opponent" && got != tt.want) {
			t.Fatalf("retry %d: got %+v, want %s", tt.retry, r, tt.want)
		}
	}
	if f := me.view().Found; f == nil || f.ID != "far" {
		t.Fatalf("offered opponent %+v, want far", f)
	}
}

// raid runs find_opponent and attack for att against def and returns the
// attack's reply.
func raid(t *testing.T, att *player, def string) state.Reply {
	t.Helper()
	att.must("find_opponent", `{"retry":5}`)
	if f := att.view().Found; f == nil || f.ID != def {
		t.Fatalf("%s was offered %+v, want %s", att.id, f, def)
	}
	return att.act("attack", `{"opponent_id":"`+def+`"}`)
}

func TestRaidDefenderOffline(t *testing.T) {
	w := newWorld(t)
	def := w.login("defender")
	def.logout()
	att := w.login("attacker")
	att.armUp(10)

	r := raid(t, att, "defender")
	if !r.OK {
		t.Fatalf("attack: %+v", r.Error)
	}
	var res struct {
		RaidID string           `json:"raid_id"`
		Loot   map[string]int64 `json:"loot"`
		DT     int              `json:"defender_trophies"`
	}
	json.Unmarshal(r.Result, &res)
	av := att.view()
	if len(av.Raids) != 1 || len(av.Base.Army) != 0 {
		t.Fatalf("attacker after the raid: raids %d, army %v", len(av.Raids), av.Base.Army)
	}
	pending, err := w.ms.Pending(context.Background(), "defender")
	if err != nil || len(pending) != 1 {
		t.Fatalf("defender's mailbox: %d messages (%v), want 1", len(pending), err)
	}

	def = w.login("defender")
	dv := def.view()
	if len(dv.Raids) != 1 {
		t.Fatalf("defender raids after login = %d, want 1", len(dv.Raids))
	}
	if gold := dv.Base.Res["gold"]; gold != 1000-res.Loot["gold"] {
		t.Errorf("defender gold %d, want %d after losing %d", gold, 1000-res.Loot["gold"], res.Loot["gold"])
	}
	if pending, _ := w.ms.Pending(context.Background(), "defender"); len(pending) != 0 {
		t.Errorf("mail still pending after the save that applied it: %d", len(pending))
	}
	// The replayed battle is the same battle.
	if r2 := att.act("attack", `{"opponent_id":"defender"}`); code(r2) != "no_opponent" {
		t.Errorf("a second attack without a new offer: %+v", r2)
	}
}

func TestRaidDefenderOnline(t *testing.T) {
	w := newWorld(t)
	def := w.login("defender")
	att := w.login("attacker")
	att.armUp(10)
	if r := raid(t, att, "defender"); !r.OK {
		t.Fatalf("attack: %+v", r.Error)
	}
	dv := def.view()
	if len(dv.Raids) != 1 {
		t.Fatalf("online defender's raids = %d, want 1 at once", len(dv.Raids))
	}
	def.logout()
	def = w.login("defender")
	if n := len(def.view().Raids); n != 1 {
		t.Fatalf("defender raids after logout and login = %d, want 1 (applied once)", n)
	}
}

func TestRaidDefenderLogsInDuringRaid(t *testing.T) {
	w := newWorld(t)
	def := w.login("defender")
	def.logout()
	att := w.login("attacker")
	att.armUp(10)
	att.must("find_opponent", `{"retry":5}`)

	w.mail.hold = make(chan struct{})
	att.seq++
	r, _, err := w.store.Apply(att.sess, []state.Action{{Seq: att.seq, Name: "attack", Args: json.RawMessage(`{"opponent_id":"defender"}`)}})
	if err != nil || !r[0].Pending {
		t.Fatalf("attack: %+v %v", r, err)
	}
	// The raid is between its battle and its mail when the defender logs in.
	res, err := w.store.Login(context.Background(), "defender")
	if err != nil {
		t.Fatal(err)
	}
	close(w.mail.hold)
	w.settle()
	sess, _ := w.store.Authenticate(res.Session)
	def = &player{w: w, id: "defender", sess: sess}
	if n := len(def.view().Raids); n != 1 {
		t.Fatalf("defender who logged in mid-raid has %d raids, want 1", n)
	}
	def.logout()
	if n := len(w.login("defender").view().Raids); n != 1 {
		t.Fatalf("after another load: %d raids, want 1", n)
	}
}

// A crash between applying mail and deleting it: the mail comes again at
// the next load and is recognised.
func TestMailAppliesOnce(t *testing.T) {
	w := newWorld(t)
	def := w.login("defender")
	def.logout()
	body, _ := json.Marshal(map[string]any{"raid_id": "x-1", "attacker": "x", "defender": "defender",
		"loot": map[string]int64{"gold": 100}, "defender_trophies": 0, "stars": 1})
	m := state.Mail{ID: "x-1:defense", To: "defender", Kind: state.MailRaidDefense, Body: body}
	for range 2 { // delivered twice
		if err := w.ms.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	w.mail.failDelete.Store(true)
	def = w.login("defender")
	if v := def.view(); len(v.Raids) != 1 || v.Base.Res["gold"] != 900 {
		t.Fatalf("first load: raids %d gold %d, want 1 and 900", len(v.Raids), v.Base.Res["gold"])
	}
	def.logout()
	if pending, _ := w.ms.Pending(context.Background(), "defender"); len(pending) != 1 {
		t.Fatalf("the crash left %d messages, want 1", len(pending))
	}
	w.mail.failDelete.Store(false)
	def = w.login("defender")
	if v := def.view(); len(v.Raids) != 1 || v.Base.Res["gold"] != 900 {
		t.Fatalf("after redelivery: raids %d gold %d, want still 1 and 900", len(v.Raids), v.Base.Res["gold"])
	}
	def.logout()
	if pending, _ := w.ms.Pending(context.Background(), "defender"); len(pending) != 0 {
		t.Fatalf("redelivered mail not deleted: %d left", len(pending))
	}
}

func TestMongoDown(t *testing.T) {
	w := newWorld(t)
	def := w.login("defender")
	def.logout()
	att := w.login("attacker")
	att.armUp(5)
	att.must("find_opponent", `{"retry":5}`)
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelFlush()
	if err := w.events.Flush(flushCtx); err != nil {
		t.Fatalf("flush with MongoDB up: %v", err)
	}
	before := w.events.Stats()

	w.ferret.Close()
	if r := att.act("ping", `{}`); !r.OK {
		t.Fatalf("ping with MongoDB down: %+v", r)
	}
	if r := att.act("collect", `{}`); code(r) == "unavailable" {
		t.Fatalf("collect with MongoDB down: %+v", r)
	}
	r := att.act("attack", `{"opponent_id":"defender"}`)
	if code(r) != "unavailable" {
		t.Fatalf("attack with MongoDB down: %+v, want unavailable", r)
	}
	if got := att.view().Base.Army["militia"]; got != 5 {
		t.Errorf("army after a failed raid = %d, want the 5 militia back", got)
	}
	w.events.Flush(flushCtx)
	after := w.events.Stats()
	if after.DroppedFailed <= before.DroppedFailed {
		t.Errorf("analytics dropped_failed %d → %d, want the undeliverable events counted", before.DroppedFailed, after.DroppedFailed)
	}
}

// An attacker who logs out while its raid is in flight: the raid completes,
// its gains wait as mail, and its next login applies them and answers the
// attack's seq.
func TestAttackerLogsOutMidRaid(t *testing.T) {
	w := newWorld(t)
	w.login("defender").logout()
	att := w.login("attacker")
	att.armUp(10)
	att.must("find_opponent", `{"retry":5}`)

	w.mail.hold = make(chan struct{})
	att.seq++
	attackSeq := att.seq
	if r, _, err := w.store.Apply(att.sess, []state.Action{{Seq: attackSeq, Name: "attack", Args: json.RawMessage(`{"opponent_id":"defender"}`)}}); err != nil || !r[0].Pending {
		t.Fatalf("attack: %+v %v", r, err)
	}
	if err := w.store.Logout(context.Background(), att.sess); err != nil {
		t.Fatalf("logout mid-raid: %v", err)
	}
	close(w.mail.hold)
	w.settle()

	att = w.login("attacker")
	v := att.view()
	if len(v.Raids) != 1 || len(v.Async) == 0 || v.Async[len(v.Async)-1].Seq != attackSeq || !v.Async[len(v.Async)-1].OK {
		t.Fatalf("after the next login: raids %d, async %+v; want the raid applied and seq %d answered", len(v.Raids), v.Async, attackSeq)
	}
	r, _, _ := w.store.Apply(att.sess, []state.Action{{Seq: attackSeq, Name: "attack"}})
	if !r[0].Duplicate || !r[0].OK || r[0].Pending {
		t.Fatalf("resent attack seq: %+v, want the final result as a duplicate", r[0])
	}
}

// BenchmarkRaidLatency measures raids end to end on the embedded stores:
// from the attack's Apply to its result landing (raid lock, defender read
// from S3, battle, mail for both sides, the attacker's side applied).
func BenchmarkRaidLatency(b *testing.B) {
	w := newWorld(b)
	for i := range b.N {
		w.login(fmt.Sprintf("def%d", i)).logout()
	}
	att := w.login("attacker")
	att.must("build", `{"type":"barracks","x":8,"y":8}`)
	att.must("build", `{"type":"army_camp","x":8,"y":30}`)
	w.advance(time.Minute)
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		att.act("collect", `{}`)
		att.must("train_units", `{"building_id":"b6","unit":"militia","count":1}`)
		w.advance(time.Hour)
		att.must("find_opponent", `{"retry":5}`)
		b.StartTimer()
		t0 := time.Now()
		if r := att.act("attack", `{"opponent_id":"`+att.view().Found.ID+`"}`); !r.OK {
			b.Fatalf("attack: %+v", r.Error)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
