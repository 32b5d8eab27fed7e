package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/actions"
	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/internal/devstores"
	"rampart/internal/testenv"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/mongostore"
	"rampart/state/s3store"
)

// world is a store on the embedded S3 server and an embedded FerretDB,
// the two speaking their real wire protocols, with a hand-moved clock.
type world struct {
	t       testing.TB
	store   *state.Store
	ms      *mongostore.Store
	mail    *faultyMail
	ferret  *devstores.Mongo
	keeper  *bookkeeper.Keeper
	events  *mongostore.Analytics
	updates *mongostore.Updates
	forget  *faultyUpdates
	blobs   *heldBlobs
	now     *atomic.Int64 // shared by the nodes of a cluster (cluster_test.go)

	mongoDir string        // the embedded MongoDB's data, for mongoBack
	gate     *mongoGate    // between mongo and ferret
	mongo    *mongo.Client // the store's, through gate
}

// faultyMail wraps the real mailbox to hold sends back.
type faultyMail struct {
	state.Mailbox
	hold chan struct{} // when set, Send waits for it to close
}

// faultyUpdates wraps the real write-behind to lose mail deletions, as a
// crash between a save and its deletes would.
type faultyUpdates struct {
	state.Updates
	loseForget atomic.Bool
}

func (f *faultyUpdates) Forget(ids []string) {
	if !f.loseForget.Load() {
		f.Updates.Forget(ids)
	}
}

// heldBlobs wraps the real S3 blobs; holdPut makes the next Put of one key
// wait until release is closed, closing reached when it is held.
type heldBlobs struct {
	state.Blobs
	mu      sync.Mutex
	key     string
	reached chan struct{}
	release chan struct{}
}

func (h *heldBlobs) holdPut(key string) (reached, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.key, h.reached, h.release = key, make(chan struct{}), make(chan struct{})
	return h.reached, h.release
}

func (h *heldBlobs) Put(ctx context.Context, key string, data []byte, cond state.Cond) (string, error) {
	h.mu.Lock()
	held := h.key == key
	reached, release := h.reached, h.release
	if held {
		h.key = ""
	}
	h.mu.Unlock()
	if held {
		close(reached)
		select {
		case <-release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return h.Blobs.Put(ctx, key, data, cond)
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

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldWith(t, 8)
}

// newWorldWith is newWorld with the mongo keeper's concurrency.
func newWorldWith(t testing.TB, mongoConcurrency int) *world {
	t.Helper()
	w := &world{t: t, now: new(atomic.Int64)}
	w.now.Store(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(w.now.Load()) }

	s3 := testenv.EmbeddedS3(t)
	w.blobs = &heldBlobs{Blobs: s3store.New(s3store.Config{Endpoint: s3.Endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{})}
	w.mongoDir = t.TempDir()
	ferret, err := devstores.StartMongo(w.mongoDir, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w.ferret = ferret
	t.Cleanup(func() { ferret.Close() })
	var uri string
	w.gate, uri = startMongoGate(t, ferret.URI)
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w.mongo = client
	t.Cleanup(func() { client.Disconnect(context.Background()) })

	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	prof := profiler.New()
	s3k := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 8, QueueLimit: 100, Timeout: 5 * time.Second, MaxTries: 2, Retryable: s3store.Retryable})
	w.keeper = bookkeeper.New(bookkeeper.Config{Name: "mongo", Concurrency: mongoConcurrency, QueueLimit: 1000, Timeout: 2 * time.Second, MaxTries: 1, Retryable: mongostore.Retryable})
	w.ms, err = mongostore.Open(context.Background(), client, "rampart", w.keeper, testenv.Discard, mongostore.WithNow(now))
	if err != nil {
		t.Fatal(err)
	}
	w.mail = &faultyMail{Mailbox: w.ms}
	w.events = mongostore.NewAnalytics(w.ms, mongostore.AnalyticsConfig{})
	w.updates = mongostore.NewUpdates(w.ms, mongostore.UpdatesConfig{})
	w.forget = &faultyUpdates{Updates: w.updates}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.events.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	w.store = state.NewStore(state.Config{ServerID: "social", Now: now}, state.Deps{Blobs: w.blobs, S3: s3k,
		GameData: gamedata.NewHolder(gd), Accounts: state.DevAccounts(t, w.blobs, now),
		Profiler: prof, Log: testenv.Discard,
		Mongo: state.Mongo{Index: w.ms, Updates: w.forget, Mail: w.mail, Analytics: w.events}})
	return w
}

func (w *world) advance(d time.Duration) { w.now.Add(d.Milliseconds()) }

// mongoBack starts MongoDB again (after w.ferret.Close) on the data it
// had, behind the address the store knows, and waits until the store's
// client reaches it: at most 30 s, each try blocking in the driver's
// server selection.
func (w *world) mongoBack() {
	w.t.Helper()
	ferret, err := devstores.StartMongo(w.mongoDir, testenv.Discard)
	if err != nil {
		w.t.Fatalf("restart MongoDB: %v", err)
	}
	w.t.Cleanup(func() { ferret.Close() })
	w.ferret = ferret
	w.gate.retarget(w.t, ferret.URI)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for err = w.mongo.Ping(ctx, nil); err != nil; err = w.mongo.Ping(ctx, nil) {
		if ctx.Err() != nil {
			w.t.Fatalf("MongoDB restarted, but the store's client still fails after 30 s: %v", err)
		}
	}
}

// settle waits for the asynchronous actions and mailbox reads, then
// writes the index entries and mail deletes they queued.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.store.WaitAsync(ctx); err != nil {
		w.t.Fatal(err)
	}
	w.updates.Flush(ctx) // with MongoDB down it fails; what it drops is counted
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
	res, err := w.store.DevLogin(context.Background(), id)
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
	if err := p.w.store.Logout(context.Background(), p.sess, 0); err != nil {
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

// offlineRaid signs "defender" in and out (its base saved, offline) and
// "attacker" in with n militia: the opening of a raid on an offline base.
func (w *world) offlineRaid(n int) (att *player) {
	w.login("defender").logout()
	att = w.login("attacker")
	att.armUp(n)
	return att
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

// gold is a player's gold as the store has it now.
func (p *player) gold() int64 { return p.view().Base.Res["gold"] }

// raidResult decodes an attack's reply.
func raidResult(t *testing.T, r state.Reply) actions.RaidResult {
	t.Helper()
	if !r.OK {
		t.Fatalf("attack: %+v", r.Error)
	}
	var res actions.RaidResult
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// An offline defender's side is settled on its saved object: nothing waits
// in its mailbox, its next login sees the raid, and the attacker got
// exactly what the defender lost.
func TestRaidDefenderOffline(t *testing.T) {
	w := newWorld(t)
	att := w.offlineRaid(10)
	attGold := att.gold()

	res := raidResult(t, raid(t, att, "defender"))
	av := att.view()
	if len(av.Raids) != 1 || len(av.Base.Army) != 0 {
		t.Fatalf("attacker after the raid: raids %d, army %v", len(av.Raids), av.Base.Army)
	}
	if got, want := av.Base.Res["gold"], attGold+res.Loot["gold"]; got != want {
		t.Errorf("attacker gold %d, want %d + loot %d", got, attGold, res.Loot["gold"])
	}
	if pending, err := w.ms.Pending(context.Background(), "defender"); err != nil || len(pending) != 0 {
		t.Fatalf("defender's mailbox: %d messages (%v), want none: the raid settled on its object", len(pending), err)
	}
	def := w.login("defender")
	dv := def.view()
	if len(dv.Raids) != 1 {
		t.Fatalf("defender raids after login = %d, want 1", len(dv.Raids))
	}
	if gold := dv.Base.Res["gold"]; gold != 1000-res.Loot["gold"] {
		t.Errorf("defender gold %d, want %d after losing %d", gold, 1000-res.Loot["gold"], res.Loot["gold"])
	}
	if r2 := att.act("attack", `{"opponent_id":"defender"}`); code(r2) != actions.CodeNoOpponent {
		t.Errorf("a second attack without a new offer: %+v", r2)
	}
	// The battle is a function of the raid id: resolving the same request
	// on the same base gives the same result.
	if a := attacks(av); len(a) != 1 || a[0].Seq != att.seq-1 {
		t.Errorf("attacker's attack answers %+v, want one, for the attack's seq %d", a, att.seq-1)
	}
}

func TestRaidDefenderOnline(t *testing.T) {
	w := newWorld(t)
	def := w.login("defender")
	att := w.login("attacker")
	att.armUp(10)
	before := def.gold() + att.gold()
	res := raidResult(t, raid(t, att, "defender"))
	dv := def.view()
	if len(dv.Raids) != 1 {
		t.Fatalf("online defender's raids = %d, want 1 at once", len(dv.Raids))
	}
	if after := def.gold() + att.gold(); after != before {
		t.Fatalf("gold of both sides %d before, %d after a raid looting %d", before, after, res.Loot["gold"])
	}
	if a := attacks(att.view()); len(a) != 1 {
		t.Fatalf("attacker's attack answers = %d, want 1 for one attack", len(a))
	}
	def.logout()
	def = w.login("defender")
	if n := len(def.view().Raids); n != 1 {
		t.Fatalf("defender raids after logout and login = %d, want 1 (applied once)", n)
	}
}

// The defender logs in between the raid's read of its object and the
// write back: the write loses, the raid looks again, finds the defender
// online and settles on the live base. Applied once, nothing created.
func TestRaidDefenderLogsInDuringRaid(t *testing.T) {
	w := newWorld(t)
	att := w.offlineRaid(10)
	att.must("find_opponent", `{"retry":5}`)
	attGold := att.gold()

	reached, release := w.blobs.holdPut(state.Key("defender"))
	att.seq++
	r, _, err := w.store.Apply(att.sess, []state.Action{{Seq: att.seq, Name: "attack", Args: json.RawMessage(`{"opponent_id":"defender"}`)}})
	if err != nil || !r[0].Pending {
		t.Fatalf("attack: %+v %v", r, err)
	}
	<-reached // the raid has read the object and holds its write
	def := w.login("defender")
	close(release)
	w.settle()
	res := raidResult(t, att.view().asyncReply(t, att.seq))
	if n := len(def.view().Raids); n != 1 {
		t.Fatalf("defender who logged in mid-raid has %d raids, want 1", n)
	}
	if got, want := def.gold()+att.gold(), 1000+attGold; got != want {
		t.Fatalf("gold of both sides %d, want %d (loot %d moved, none created)", got, want, res.Loot["gold"])
	}
	def.logout()
	if n := len(w.login("defender").view().Raids); n != 1 {
		t.Fatalf("after another load: %d raids, want 1", n)
	}
}

// attacks are the attack answers in the player's async list.
func attacks(v view) []state.AsyncResult {
	var out []state.AsyncResult
	for _, a := range v.Async {
		if a.Name == actions.Attack {
			out = append(out, a)
		}
	}
	return out
}

// asyncReply is the answer to seq in the player's async list.
func (v view) asyncReply(t *testing.T, seq int64) state.Reply {
	t.Helper()
	for _, a := range v.Async {
		if a.Seq == seq {
			return state.Reply{Seq: a.Seq, OK: a.OK, Result: a.Result, Error: a.Error}
		}
	}
	t.Fatalf("no async result for seq %d in %+v", seq, v.Async)
	return state.Reply{}
}

// A crash between applying mail and deleting it: the mail comes again at
// a later load that reads the mailbox, and is recognised.
func TestMailAppliesOnce(t *testing.T) {
	w := newWorld(t)
	away := func(p *player) { // logs out with a raid's result outstanding
		t.Helper()
		if err := w.store.SetRaidsOut(p.sess, 1); err != nil {
			t.Fatal(err)
		}
		p.logout()
	}
	away(w.login("x"))
	body, _ := json.Marshal(actions.RaidResult{RaidID: "x-1", Attacker: "x", Defender: "d",
		Loot: map[string]int64{"gold": 100}, Stars: 1})
	m := state.Mail{ID: "x-1:attack", To: "x", Kind: state.MailRaidAttack, Body: body}
	for range 2 { // sent twice
		if err := w.ms.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	w.forget.loseForget.Store(true)
	att := w.login("x")
	if v := att.view(); len(v.Raids) != 1 || v.Base.Res["gold"] != 1100 || len(v.Async) != 1 {
		t.Fatalf("first load: raids %d gold %d async %d, want 1, 1100 and 1", len(v.Raids), v.Base.Res["gold"], len(v.Async))
	}
	away(att)
	if pending, _ := w.ms.Pending(context.Background(), "x"); len(pending) != 1 {
		t.Fatalf("the crash left %d messages, want 1", len(pending))
	}
	w.forget.loseForget.Store(false)
	att = w.login("x")
	if v := att.view(); len(v.Raids) != 1 || v.Base.Res["gold"] != 1100 {
		t.Fatalf("after redelivery: raids %d gold %d, want still 1 and 1100", len(v.Raids), v.Base.Res["gold"])
	}
	att.logout()
	if pending, _ := w.ms.Pending(context.Background(), "x"); len(pending) != 0 {
		t.Fatalf("redelivered mail not deleted: %d left", len(pending))
	}
}

// MongoDB stops: play goes on with its real codes, raids answer
// unavailable with the army refunded, analytics drops are counted, and
// players still sign in and out (sign-in does not wait on MongoDB). It
// comes back: raids, leaderboard, index and analytics work again, and
// players sign in and out with their progress.
func TestMongoDown(t *testing.T) {
	w := newWorld(t)
	att := w.offlineRaid(5)
	att.must("find_opponent", `{"retry":5}`)
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelFlush()
	if err := w.events.Flush(flushCtx); err != nil {
		t.Fatalf("flush with MongoDB up: %v", err)
	}
	before := w.events.Stats()

	w.ferret.Close()
	tests := []struct {
		name, args string
		code       string
	}{
		{"ping", `{}`, ""},
		{"collect", `{}`, ""},
		{"attack", `{"opponent_id":"defender"}`, actions.CodeUnavailable},
		{"leaderboard", `{}`, actions.CodeUnavailable},
	}
	for _, tt := range tests {
		if r := att.act(tt.name, tt.args); code(r) != tt.code {
			t.Errorf("%s with MongoDB down: %+v, want code %q", tt.name, r, tt.code)
		}
	}
	if got := att.view().Base.Army["militia"]; got != 5 {
		t.Errorf("army after a failed raid = %d, want the 5 militia back", got)
	}
	newcomer := w.login("newcomer")
	if r := newcomer.act("ping", `{}`); !r.OK {
		t.Errorf("newcomer's ping with MongoDB down: %+v", r)
	}
	if err := w.store.Logout(context.Background(), newcomer.sess, 0); err != nil {
		t.Errorf("logout with MongoDB down: %v", err)
	}
	w.events.Flush(flushCtx)
	after := w.events.Stats()
	if after.DroppedFailed <= before.DroppedFailed {
		t.Errorf("analytics dropped_failed %d → %d, want the undeliverable events counted", before.DroppedFailed, after.DroppedFailed)
	}

	// MongoDB comes back on its data: what needs it works again, and
	// players sign in and out, their progress kept across the outage.
	w.mongoBack()
	if r := att.act("leaderboard", `{}`); !r.OK {
		t.Errorf("leaderboard with MongoDB back: %+v, want ok", r)
	}
	att.must("find_opponent", `{"retry":5}`)
	attackSeq := att.seq + 1
	if r := att.act("attack", `{"opponent_id":"defender"}`); !r.OK {
		t.Errorf("attack with MongoDB back: %+v, want ok", r)
	}
	att.logout()
	att = w.login("attacker")
	if a := attacks(att.view()); len(a) != 2 || a[1].Seq != attackSeq || !a[1].OK {
		t.Errorf("attacker's attacks after signing in again: %+v, want the refused one and seq %d ok", a, attackSeq)
	}
	att.logout()
	newcomer = w.login("newcomer")
	if newcomer.seq != 1 {
		t.Errorf("newcomer's last_seq on signing in again: %d, want 1 (the ping made while MongoDB was down)", newcomer.seq)
	}
	newcomer.must("ping", `{}`)
	newcomer.logout()
	w.login("latecomer").logout()
	top, err := w.ms.Top(context.Background(), 100)
	if err != nil || !slices.ContainsFunc(top, func(s state.Summary) bool { return s.ID == "latecomer" }) {
		t.Errorf("index with MongoDB back: %v (%v), want the latecomer's new entry", top, err)
	}
	if err := w.events.Flush(flushCtx); err != nil {
		t.Errorf("analytics flush with MongoDB back: %v", err)
	}
	if st := w.events.Stats(); st.Inserted <= after.Inserted {
		t.Errorf("analytics inserted %d → %d with MongoDB back, want the new events stored", after.Inserted, st.Inserted)
	}
}

// An attacker who logs out while its raid is in flight: the raid completes,
// its gains wait as mail, and its next login applies them and answers the
// attack's seq.
func TestAttackerLogsOutMidRaid(t *testing.T) {
	w := newWorld(t)
	att := w.offlineRaid(10)
	att.must("find_opponent", `{"retry":5}`)

	reached, release := w.blobs.holdPut(state.Key("defender"))
	att.seq++
	attackSeq := att.seq
	if r, _, err := w.store.Apply(att.sess, []state.Action{{Seq: attackSeq, Name: "attack", Args: json.RawMessage(`{"opponent_id":"defender"}`)}}); err != nil || !r[0].Pending {
		t.Fatalf("attack: %+v %v", r, err)
	}
	<-reached
	if err := w.store.Logout(context.Background(), att.sess, 0); err != nil {
		t.Fatalf("logout mid-raid: %v", err)
	}
	close(release)
	w.settle()
	if pending, err := w.ms.Pending(context.Background(), "attacker"); err != nil || len(pending) != 1 {
		t.Fatalf("offline attacker's mailbox: %d (%v), want its raid", len(pending), err)
	}

	att = w.login("attacker")
	v := att.view()
	if a := attacks(v); len(v.Raids) != 1 || len(a) != 1 || a[0].Seq != attackSeq || !a[0].OK {
		t.Fatalf("after the next login: raids %d, attack answers %+v; want the raid applied and seq %d answered once", len(v.Raids), a, attackSeq)
	}
	r, _, _ := w.store.Apply(att.sess, []state.Action{{Seq: attackSeq, Name: "attack"}})
	if !r[0].Duplicate || !r[0].OK || r[0].Pending {
		t.Fatalf("resent attack seq: %+v, want the final result as a duplicate", r[0])
	}
}

// Twenty raids at once through a mongo keeper of concurrency 2: every one
// finishes (no slot is held while waiting for another), and each attacker
// has one answer.
func TestConcurrentRaidsNarrowKeeper(t *testing.T) {
	w := newWorldWith(t, 2)
	const n = 20
	atts := make([]*player, n)
	for i := range n {
		w.login(fmt.Sprintf("def%02d", i)).logout()
		atts[i] = w.login(fmt.Sprintf("att%02d", i))
		atts[i].armUp(5)
	}
	for i, a := range atts {
		a.must("find_opponent", `{"retry":5}`)
		a.seq++
		// Point each attacker at its own defender, whatever was offered.
		if err := w.store.SetOffer(a.sess, fmt.Sprintf("def%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i, a := range atts {
		wg.Go(func() {
			r, _, err := w.store.Apply(a.sess, []state.Action{{Seq: a.seq, Name: "attack",
				Args: json.RawMessage(fmt.Sprintf(`{"opponent_id":"def%02d"}`, i))}})
			if err != nil || !r[0].Pending {
				t.Errorf("attack %d: %+v %v", i, r, err)
			}
		})
	}
	wg.Wait()
	w.settle()
	for _, a := range atts {
		if got := attacks(a.view()); len(got) != 1 || !got[0].OK {
			t.Errorf("%s: attack answers %+v, want one successful raid", a.id, got)
		}
	}
}

// 100 sign-ins of new players from 32 goroutines on a fresh store: all
// succeed, and the index ends up with every one of them.
func TestSignInBurst(t *testing.T) {
	w := newWorld(t)
	const n, workers = 100, 32
	ids := make(chan string, n)
	for i := range n {
		ids <- fmt.Sprintf("burst%03d", i)
	}
	close(ids)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range workers {
		wg.Go(func() {
			for id := range ids {
				if _, err := w.store.DevLogin(context.Background(), id); err != nil {
					failed.Add(1)
					t.Errorf("login %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	w.settle()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d sign-ins failed", failed.Load(), n)
	}
	if got := w.store.OnlineCount(); got != n {
		t.Errorf("online %d, want %d", got, n)
	}
	top, err := w.ms.Top(context.Background(), 1000)
	if err != nil || len(top) != n {
		t.Fatalf("index has %d players (%v), want %d", len(top), err, n)
	}
}

// Raids against defenders who spend at the same moment (a town hall
// upgrade costing all their gold): resources are conserved over all
// players. The loot is exactly what the defender lost, and a defender
// never pays both the loot and an upgrade it could no longer afford.
func TestRaidsConserveResourcesUnderConcurrentSpending(t *testing.T) {
	const n = 8
	w := newWorld(t)
	cost := thUpgradeCost(t)
	type pair struct{ att, def *player }
	pairs := make([]pair, n)
	var before int64
	for i := range n {
		pairs[i].def = w.login(fmt.Sprintf("spender%d", i))
		pairs[i].att = w.login(fmt.Sprintf("raider%d", i))
		pairs[i].att.armUp(20)
	}
	for _, p := range pairs { // armUp moves the clock: offers and balances after it
		if err := w.store.SetOffer(p.att.sess, p.def.id); err != nil {
			t.Fatal(err)
		}
		before += p.def.gold() + p.att.gold()
	}
	var wg sync.WaitGroup
	spent := make([]int64, n)
	for i, p := range pairs {
		p.att.seq++
		p.def.seq++
		wg.Go(func() {
			r, _, err := p.att.w.store.Apply(p.att.sess, []state.Action{{Seq: p.att.seq, Name: "attack",
				Args: json.RawMessage(`{"opponent_id":"` + p.def.id + `"}`)}})
			if err != nil || !r[0].Pending {
				t.Errorf("attack %d: %+v %v", i, r, err)
			}
		})
		wg.Go(func() {
			r, _, err := p.def.w.store.Apply(p.def.sess, []state.Action{{Seq: p.def.seq, Name: "upgrade_building",
				Args: json.RawMessage(`{"building_id":"b1"}`)}})
			if err == nil && r[0].OK {
				spent[i] = cost
			}
		})
	}
	wg.Wait()
	w.settle()
	var after, totalSpent int64
	for i, p := range pairs {
		if r := p.att.view().asyncReply(t, p.att.seq); !r.OK {
			t.Errorf("raid %d: %+v", i, r.Error)
		}
		after += p.def.gold() + p.att.gold()
		totalSpent += spent[i]
	}
	if after+totalSpent != before {
		t.Fatalf("gold over all players: %d before, %d after + %d spent = %d: resources were %s",
			before, after, totalSpent, after+totalSpent, map[bool]string{true: "created", false: "destroyed"}[after+totalSpent > before])
	}
}

func thUpgradeCost(t *testing.T) int64 {
	t.Helper()
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return gd.TownHall().Level(2).Cost["gold"]
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
