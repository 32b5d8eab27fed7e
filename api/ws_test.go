package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	testclock "rampart/internal/testenv/clock"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"rampart/accounts"
	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/internal/testenv"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/push"
	"rampart/state/s3store"
)

// fakeClock is the game clock: time moves only when a test says, and the
// timers it fires are the store's push timers.
type fakeClock = testclock.Clock

type wsEnv struct {
	URL      string
	Store    *state.Store
	Srv      *Server
	Clock    *fakeClock // the game clock
	Accounts *accounts.Accounts
	// AcctClock is the accounts' clock (token expiry, lockout windows),
	// apart from the game clock so a test can move one without the other.
	AcctClock *fakeClock
	Analytics *recordedEvents
}

// envOptions vary the test server.
type envOptions struct {
	mongo    state.Mongo
	s3       func(testing.TB) testenv.S3 // default testenv.EmbeddedS3
	api      func(*Config)               // edits the api config
	store    func(*state.Config)
	accounts func(*accounts.Config)
}

// recordedEvents is the analytics side of the test store: every event,
// for the tests of admin records.
type recordedEvents struct {
	mu     sync.Mutex
	events []state.Event
}

func (r *recordedEvents) Emit(e state.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recordedEvents) kinds(kind string) []state.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []state.Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// newWSEnv runs the api over real HTTP on loopback with a store on the
// embedded S3 server.
func newWSEnv(t testing.TB) *wsEnv {
	t.Helper()
	return newEnv(t, envOptions{})
}

// newWSEnvWith is newWSEnv with a MongoDB side.
func newWSEnvWith(t testing.TB, mongo state.Mongo) *wsEnv {
	t.Helper()
	return newEnv(t, envOptions{mongo: mongo})
}

// testTokenKey signs the test servers' tokens.
var testTokenKey = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t testing.TB, o envOptions) *wsEnv {
	t.Helper()
	if o.s3 == nil {
		o.s3 = testenv.EmbeddedS3
	}
	s3 := o.s3(t)
	blobs := s3store.New(s3store.Config{Endpoint: s3.Endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{})
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	holder := gamedata.NewHolder(gd)
	clk := testclock.New(testclock.Default)
	acctClk := testclock.New(time.Now())
	prof := profiler.New()
	keeper := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 8, QueueLimit: 100, Timeout: 5 * time.Second, MaxTries: 2, Retryable: s3store.Retryable})
	acfg := accounts.Config{TokenKey: testTokenKey, Now: acctClk.Now, PasswordMemoryKiB: 64, PasswordPasses: 1,
		TicketSecret: []byte(testTicketSecret)}
	if o.accounts != nil {
		o.accounts(&acfg)
	}
	accts, err := accounts.New(acfg, state.AccountBlobs{B: blobs}, keeper)
	if err != nil {
		t.Fatal(err)
	}
	events := &recordedEvents{}
	if o.mongo.Analytics == nil {
		o.mongo.Analytics = events
	}
	scfg := state.Config{ServerID: "ws-test", Now: clk.Now, AfterFunc: clk.AfterFunc}
	if o.store != nil {
		o.store(&scfg)
	}
	store := state.NewStore(scfg, state.Deps{Blobs: blobs, S3: keeper, GameData: holder, Accounts: accts,
		Profiler: prof, Log: testenv.Discard, Mongo: o.mongo})
	cfg := Config{Store: store, GameData: holder, Profiler: prof, Log: testenv.Discard, Now: clk.Now, Accounts: accts}
	if o.api != nil {
		o.api(&cfg)
	}
	srv := New(cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &wsEnv{URL: hs.URL, Store: store, Srv: srv, Clock: clk, Accounts: accts, AcctClock: acctClk, Analytics: events}
}

// testTicketSecret is the studio's HS256 secret in the test servers.
const testTicketSecret = "studio-secret-0123456789abcdef0123456789"

// deviceID is the device id a test's player name stands for.
func deviceID(name string) string { return "device-" + name + "-0123456789abcdef" }

// wsClient is a test's end of a socket.
type wsClient struct {
	t testing.TB
	c *websocket.Conn
	e *wsEnv
}

func (e *wsEnv) dial(t testing.TB) *wsClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.URL, "http")+"/api/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c, e: e}
}

func (w *wsClient) send(msg string) {
	w.t.Helper()
	if err := w.write(websocket.TextMessage, []byte(msg)); err != nil {
		w.t.Fatalf("send %s: %v", msg, err)
	}
}

func (w *wsClient) write(typ int, data []byte) error {
	w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return w.c.WriteMessage(typ, data)
}

// hangUp closes the client's side of the socket properly.
func (w *wsClient) hangUp() {
	w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	w.c.Close()
}

// recv reads the next message; a closed socket fails the test.
func (w *wsClient) recv() map[string]any {
	w.t.Helper()
	m, err := w.tryRecv()
	if err != nil {
		w.t.Fatalf("recv: %v", err)
	}
	return m
}

func (w *wsClient) tryRecv() (map[string]any, error) {
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := w.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("server sent non-JSON %q", data)
	}
	return m, nil
}

// expect reads until a message of type typ arrives (events may come
// first) and returns it.
func (w *wsClient) expect(typ string) map[string]any {
	w.t.Helper()
	for range 20 {
		m := w.recv()
		if m["type"] == typ {
			return m
		}
		if m["type"] != "event" {
			w.t.Fatalf("got %v, want a %s message", m, typ)
		}
	}
	w.t.Fatalf("no %s message", typ)
	return nil
}

// login signs name's device in over HTTP (making the account) and logs the
// socket in with the session.
func (w *wsClient) login(name string) string {
	w.t.Helper()
	session := w.e.signIn(w.t, "device", `{"device_id":"`+deviceID(name)+`","create":true}`).Session
	w.send(`{"type":"login","session":"` + session + `"}`)
	m := w.expect("login_ok")
	return m["session"].(string)
}

// result returns the first result of a results message.
func result(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	rs, _ := m["results"].([]any)
	if len(rs) == 0 {
		t.Fatalf("no results in %v", m)
	}
	return rs[0].(map[string]any)
}

// closeStatus is the close code the server sent, or -1.
func closeStatus(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

func TestWSLoginActionsAndSharedSeq(t *testing.T) {
	e := newWSEnv(t)
	w := e.dial(t)
	session := w.login("alice")

	w.send(`{"type":"actions","actions":[{"seq":1,"name":"ping","args":{}}]}`)
	if r := result(t, w.expect("results")); r["ok"] != true || r["duplicate"] == true {
		t.Fatalf("ping over websocket: %v", r)
	}
	// HTTP sees the same seq space.
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/actions", strings.NewReader(`{"actions":[{"seq":1,"name":"ping"},{"seq":2,"name":"ping"}]}`))
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var hr struct {
		Results []state.Reply `json:"results"`
	}
	json.NewDecoder(resp.Body).Decode(&hr)
	resp.Body.Close()
	if len(hr.Results) != 2 || !hr.Results[0].Duplicate || hr.Results[1].Duplicate {
		t.Fatalf("HTTP after websocket seq 1: %+v, want seq 1 duplicate, seq 2 applied", hr.Results)
	}
	w.send(`{"type":"actions","actions":[{"seq":2,"name":"ping"}]}`)
	if r := result(t, w.expect("results")); r["duplicate"] != true {
		t.Fatalf("websocket after HTTP seq 2: %v, want duplicate", r)
	}
	w.send(`{"type":"ping"}`)
	w.expect("pong")
}

func TestWSResumeAndDuplicateAfterReconnect(t *testing.T) {
	e := newWSEnv(t)
	w := e.dial(t)
	session := w.login("bob")
	w.send(`{"type":"actions","actions":[{"seq":5,"name":"ping"}]}`)
	w.expect("results")
	w.hangUp()

	if n := e.Store.OnlineCount(); n != 1 {
		t.Fatalf("online after the socket closed = %d, want 1 (closing is not logging out)", n)
	}
	w2 := e.dial(t)
	w2.send(`{"type":"login","session":"` + session + `"}`)
	if m := w2.expect("login_ok"); m["session"] != session {
		t.Fatalf("resume gave session %v, want the same %s", m["session"], session)
	}
	w2.send(`{"type":"actions","actions":[{"seq":5,"name":"ping"}]}`)
	if r := result(t, w2.expect("results")); r["duplicate"] != true || r["ok"] != true {
		t.Fatalf("resent seq after reconnect: %v, want ok duplicate", r)
	}

	// Logged out by the server (idle), the resume loads afresh from S3,
	// under the same session: the account did not revoke it.
	w2.hangUp()
	e.Clock.Advance(11 * time.Minute)
	e.Store.Sweep(context.Background())
	if n := e.Store.OnlineCount(); n != 0 {
		t.Fatalf("online after the idle sweep = %d, want 0", n)
	}
	w3 := e.dial(t)
	w3.send(`{"type":"login","session":"` + session + `"}`)
	m := w3.expect("login_ok")
	if m["session"] != session {
		t.Fatalf("resume after the idle logout gave session %v, want the same", m["session"])
	}
	if p := m["player"].(map[string]any); p["last_seq"] != float64(5) {
		t.Fatalf("fresh load after logout: last_seq %v, want 5", p["last_seq"])
	}
}

func TestWSTakeoverClosesOldSocket(t *testing.T) {
	e := newWSEnv(t)
	old := e.dial(t)
	oldSession := old.login("carol")
	fresh := e.dial(t)
	fresh.login("carol")

	m := old.recv()
	ev, _ := m["event"].(map[string]any)
	if m["type"] != "event" || ev["kind"] != "replaced" {
		t.Fatalf("old socket got %v, want a replaced event", m)
	}
	if _, err := old.tryRecv(); closeStatus(err) != websocket.CloseNormalClosure {
		t.Fatalf("old socket: got %v, want closed normally", err)
	}
	if got := e.Srv.WSStats().Replaced.Load(); got != 1 {
		t.Errorf("replaced count = %d, want 1", got)
	}
	// The old token is dead; the new socket works.
	resume := e.dial(t)
	resume.send(`{"type":"login","session":"` + oldSession + `"}`)
	if m := resume.expect("error"); m["error"].(map[string]any)["code"] != "unauthorized" {
		t.Fatalf("resume with a replaced session: %v", m)
	}
	fresh.send(`{"type":"actions","actions":[{"seq":1,"name":"ping"}]}`)
	fresh.expect("results")
}

func TestWSPushWhenUpgradeFinishes(t *testing.T) {
	e := newWSEnv(t)
	w := e.dial(t)
	w.login("dana")
	w.send(`{"type":"actions","actions":[{"seq":1,"name":"build","args":{"type":"barracks","x":8,"y":8}}]}`)
	if r := result(t, w.expect("results")); r["ok"] != true {
		t.Fatalf("build: %v", r)
	}
	e.Clock.Advance(24 * time.Hour)
	m := w.recv()
	ev, _ := m["event"].(map[string]any)
	if m["type"] != "event" || ev["kind"] != push.UpgradeDone || ev["type"] != "barracks" || ev["level"] != float64(1) {
		t.Fatalf("after the build time: got %v, want an upgrade_done event for the barracks at level 1", m)
	}
}

func TestWSBadInput(t *testing.T) {
	e := newWSEnv(t)
	tests := []struct {
		name string
		msg  string
		code string
	}{
		{"malformed json", `{"type":`, "bad_request"},
		{"not an object", `[1,2]`, "bad_request"},
		{"no type", `{"player_id":"x"}`, "bad_request"},
		{"unknown type", `{"type":"teleport"}`, "unknown_type"},
		{"actions before login", `{"type":"actions","actions":[{"seq":1,"name":"ping"}]}`, "unauthorized"},
		{"an empty batch before login", `{"type":"actions","actions":[]}`, "unauthorized"},
		{"a bad seq before login", `{"type":"actions","actions":[{"seq":0,"name":"ping"}]}`, "unauthorized"},
		{"bad player id", `{"type":"login","player_id":"no spaces"}`, "bad_request"},
		{"dev door closed", `{"type":"login","player_id":"alice"}`, "not_found"},
		{"garbage session", `{"type":"login","session":"s1.x.y"}`, "unauthorized"},
		{"session of wrong type", `{"type":"login","session":7}`, "bad_request"},
	}
	w := e.dial(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.send(tt.msg)
			m := w.expect("error")
			if got := m["error"].(map[string]any)["code"]; got != tt.code {
				t.Fatalf("got code %v, want %s", got, tt.code)
			}
		})
	}
	// Still usable after every bad message.
	w.send(`{"type":"ping"}`)
	w.expect("pong")

	closes := []struct {
		name string
		send func(*wsClient) error
		want int
	}{
		{"oversized frame", func(w *wsClient) error {
			return w.write(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 70<<10)+`"}`))
		}, websocket.CloseMessageTooBig},
		{"binary frame", func(w *wsClient) error {
			return w.write(websocket.BinaryMessage, []byte{1, 2, 3})
		}, websocket.CloseUnsupportedData},
	}
	for _, tt := range closes {
		t.Run(tt.name, func(t *testing.T) {
			w := e.dial(t)
			tt.send(w)
			_, err := w.tryRecv()
			if got := closeStatus(err); got != tt.want {
				t.Fatalf("got close %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

// TestWSPingAndIdle: an open socket is pinged again and again (the writer
// starts for a ping and exits after it), and one whose client sends nothing
// for the idle timeout is closed with 1001.
func TestWSPingAndIdle(t *testing.T) {
	tests := []struct {
		name      string
		idle      time.Duration
		wantPings int
		wantClose int
	}{
		{"pinged while active", time.Hour, 3, 0},
		{"closed when idle", 150 * time.Millisecond, 0, websocket.CloseGoingAway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{api: func(c *Config) { c.WSPingEvery, c.IdleTimeout = 20*time.Millisecond, tt.idle }})
			w := e.dial(t)
			w.login("pat")
			pings := make(chan struct{}, 16)
			w.c.SetPingHandler(func(string) error {
				select {
				case pings <- struct{}{}:
				default:
				}
				return nil
			})
			read := make(chan error, 1)
			go func() {
				for {
					w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, _, err := w.c.ReadMessage(); err != nil {
						read <- err
						return
					}
				}
			}()
			for i := range tt.wantPings {
				select {
				case <-pings:
				case err := <-read:
					t.Fatalf("ping %d: socket ended first: %v", i+1, err)
				}
			}
			if tt.wantClose == 0 {
				return
			}
			if err := <-read; closeStatus(err) != tt.wantClose {
				t.Fatalf("close %d (%v), want %d", closeStatus(err), err, tt.wantClose)
			}
			if got := e.Store.OnlineCount(); got != 1 {
				t.Errorf("online after the idle close = %d, want 1: closing a socket is not a logout", got)
			}
		})
	}
}

// TestWSTalkingSocketIsNotPinged: a client that sends messages more often
// than the ping interval gets (almost) no pings; once it is quiet it is
// pinged again.
func TestWSTalkingSocketIsNotPinged(t *testing.T) {
	const every = 100 * time.Millisecond
	e := newEnv(t, envOptions{
		api:   func(c *Config) { c.WSPingEvery, c.IdleTimeout = every, time.Hour },
		store: func(c *state.Config) { c.RateLimit, c.RateBurst = 1000, 1000 },
	})
	w := e.dial(t)
	w.login("pat")
	var mu sync.Mutex
	n := 0
	var quietPing chan struct{} // closed at the first ping once the client is quiet
	w.c.SetPingHandler(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		n++
		if quietPing != nil {
			close(quietPing)
			quietPing = nil
		}
		return nil
	})
	// Talk for 12 intervals, a message every 10th of one.
	tick := time.NewTicker(every / 10)
	defer tick.Stop()
	for range 120 {
		<-tick.C
		w.send(`{"type":"ping"}`)
		w.expect("pong")
	}
	tick.Stop()
	pinged := make(chan struct{})
	mu.Lock()
	talking := n
	quietPing = pinged
	mu.Unlock()
	// Pinged every interval, it would have had 12; a stall of the test
	// process may let one or two through.
	if talking > 3 {
		t.Errorf("%d pings in 12 intervals of talking, want at most 3", talking)
	}
	read := make(chan error, 1)
	go func() {
		_, err := w.tryRecv() // handles the ping; the server sends nothing else
		read <- err
	}()
	select {
	case <-pinged:
	case err := <-read:
		t.Fatalf("quiet socket: no ping, the read ended: %v", err)
	}
}

func TestPingPlan(t *testing.T) {
	const every = 30 * time.Second
	tests := []struct {
		quiet time.Duration
		ping  bool
		next  time.Duration
	}{
		{0, false, every},                         // a message just now: fire an interval on
		{time.Second, false, every - time.Second}, // when it will have been quiet an interval
		{every - time.Millisecond, false, time.Millisecond},
		{every, true, every},
		{2 * every, true, every},
	}
	for _, tt := range tests {
		ping, next := pingPlan(tt.quiet, every)
		if ping != tt.ping || next != tt.next {
			t.Errorf("pingPlan(%v, %v) = %v, %v; want %v, %v", tt.quiet, every, ping, next, tt.ping, tt.next)
		}
		// A client gone silent is pinged at the latest an interval after
		// its last message, with an interval and the write timeout left
		// for the pong.
		if first := tt.quiet + next; !ping && first > every {
			t.Errorf("quiet %v: first ping %v after the last message, want at most %v", tt.quiet, first, every)
		}
	}
	if left := pongWait(every) - every; left < every+wsWriteTimeout {
		t.Errorf("pongWait(%v) leaves %v after the first ping, want at least %v", every, left, every+wsWriteTimeout)
	}
}

func TestWSSlowConsumerIsCutOff(t *testing.T) {
	e := newWSEnv(t)
	w := e.dial(t)
	w.login("erin")
	// The client stops reading; events pile up past the socket buffers and
	// the send queue.
	big := push.Event("test", map[string]any{"pad": strings.Repeat("x", 16<<10)})
	for i := 0; i < 5000 && e.Srv.WSStats().SlowClosed.Load() == 0; i++ {
		e.Store.Broadcast(big)
	}
	if got := e.Srv.WSStats().SlowClosed.Load(); got != 1 {
		t.Fatalf("slow consumers cut off = %d, want 1", got)
	}
	var err error
	for err == nil {
		_, err = w.tryRecv()
	}
	if got := closeStatus(err); got != websocket.ClosePolicyViolation && got != -1 {
		t.Errorf("slow client: close %d, want %d (or a reset connection)", got, websocket.ClosePolicyViolation)
	}
	if n := e.Store.OnlineCount(); n != 1 {
		t.Fatalf("online after the cut = %d, want 1: a slow socket is not a logout", n)
	}
}

func FuzzDecodeWSType(f *testing.F) {
	f.Add([]byte(`{"type":"login","player_id":"a"}`))
	f.Add([]byte(`{"type":"actions","actions":[]}`))
	f.Add([]byte(`{"type":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, err := decodeWSType(data)
		if err == nil && typ == "" {
			t.Fatalf("accepted %q with an empty type", data)
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Status != 400) {
			t.Fatalf("error %v is not a 400", err)
		}
	})
}
