package game_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"rampart/gamedata"
	"rampart/internal/testenv"
	"rampart/web/game"
)

// browser starts headless Chromium with a fresh profile, in the
// background; ready waits for it and records every console error and
// uncaught exception of the page from then on.
func browser(t *testing.T) (ctx context.Context, ready func() *consoleLog) {
	t.Helper()
	ctx = testenv.Chromium(t, 120*time.Second, chromedp.WindowSize(1280, 800))
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }() // starts the browser
	return ctx, func() *consoleLog {
		if err := <-started; err != nil {
			t.Fatalf("start %s: %v", testenv.ChromiumPath, err)
		}
		return listenConsole(ctx)
	}
}

// listenConsole records the page's console from now on.
func listenConsole(ctx context.Context) *consoleLog {
	log := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			log.add(m)
		}
	}()
	return log
}

// consoleLog keeps the page's console errors and exceptions.
type consoleLog struct {
	mu     sync.Mutex
	errors []string
	all    []string
}

// expectedMissing are routes API.md names that this server may not have
// yet: the client tolerates their 404, which Chromium logs as a network
// error (not a JavaScript one). The favicon is asked for by the browser
// itself when a test opens a file that is not a page.
var expectedMissing = []string{"/api/v1/auth/device", "/api/v1/auth/refresh", "/api/v1/account", "/api/v1/account/link", "/favicon.ico"}

func (c *consoleLog) add(m chromedp.ConsoleMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, m.String()+" "+m.URL)
	if m.Type != chromedp.ConsoleError && !m.IsException() {
		return
	}
	if m.Source == "network" {
		for _, p := range expectedMissing {
			if strings.HasSuffix(m.URL, p) && strings.Contains(m.Text, "404") {
				return
			}
		}
	}
	text := m.String()
	if m.Exception != nil && m.Exception.Exception != nil {
		text += " " + m.Exception.Exception.Description
	}
	c.errors = append(c.errors, fmt.Sprintf("%s (%s:%d)", text, m.URL, m.Line))
}

func (c *consoleLog) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errors {
		t.Errorf("browser console: %s", e)
	}
	c.errors = nil
}

// session is the test's side of the game page.
type session struct {
	t   *testing.T
	ctx context.Context
	url string
	log *consoleLog
}

func (s *session) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		s.log.check(s.t)
		s.t.Fatalf("%s: %v", what, err)
	}
}

// click clicks the element css selects, as a user would (mouse events at
// its centre), once it is visible and enabled.
func (s *session) click(css string) {
	s.t.Helper()
	s.do("click "+css, chromedp.WaitVisible(chromedp.CSS(css)), chromedp.WaitEnabled(chromedp.CSS(css)), chromedp.Click(chromedp.CSS(css)))
}

// waitJS waits until the page expression is truthy.
func (s *session) waitJS(what, expr string, within time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		s.log.check(s.t)
		state, _ := chromedp.Run(s.ctx, chromedp.Evaluate[string](`JSON.stringify({status: window.rampart && rampart.net.status, base: window.rampart && rampart.app.player && rampart.app.player.base, toasts: document.querySelector('#toasts').innerText})`))
		s.t.Fatalf("waiting for %s (%s): %v\npage: %s", what, expr, err, state)
	}
}

func eval[T any](s *session, expr string) T {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		s.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// tile is where tile x, y's centre is on the page.
func (s *session) tile(x, y int) (float64, float64) {
	s.t.Helper()
	p := eval[struct{ X, Y float64 }](s, fmt.Sprintf(`rampart.view.tileToClient(%d, %d)`, x, y))
	return p.X, p.Y
}

func (s *session) clickTile(x, y int) {
	s.t.Helper()
	px, py := s.tile(x, y)
	s.do(fmt.Sprintf("click tile %d,%d", x, y), chromedp.MouseClickXY(px, py))
}

func (s *session) tapTile(x, y int) {
	s.t.Helper()
	px, py := s.tile(x, y)
	s.do(fmt.Sprintf("tap tile %d,%d", x, y), chromedp.TapXY(px, py))
}

func (s *session) screenshot(name string) {
	s.t.Helper()
	if os.Getenv("RAMPART_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "screenshots", name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// place builds typ at x, y from the build menu by clicks and returns the
// new building's id once the page has it.
func place(s *session, typ string, x, y int) string {
	s.t.Helper()
	s.click(`#toolbar [data-open=build]`)
	s.click(fmt.Sprintf(`[data-build=%s]`, typ))
	s.clickTile(x+1, y+1)
	s.waitJS(typ+" ghost", fmt.Sprintf(`rampart.view.ghost.x === %d && rampart.view.ghost.y === %d`, x, y), 2*time.Second)
	s.click(`#place-ok`)
	where := fmt.Sprintf(`rampart.app.player.base.bld.find(b => b.t === %q && b.x === %d && b.y === %d)`, typ, x, y)
	s.waitJS(typ+" placed", where, 5*time.Second)
	return eval[string](s, where+`.id`)
}

// bld is the page's copy of building id's JSON field, as JS.
func bld(id, field string) string {
	return fmt.Sprintf(`((rampart.app.player.base.bld.find(b => b.id === %q) || {})[%q] || 0)`, id, field)
}

// player is GET /api/v1/player with a session.
type player struct {
	ID      string `json:"id"`
	LastSeq int64  `json:"last_seq"`
	Base    struct {
		Res      map[string]int64 `json:"res"`
		Trophies int              `json:"trophies"`
		Army     map[string]int   `json:"army"`
		Bld      []struct {
			ID   string `json:"id"`
			Type string `json:"t"`
			Lv   int    `json:"lv"`
			X    int    `json:"x"`
			Y    int    `json:"y"`
			Done int64  `json:"done"`
		} `json:"bld"`
	} `json:"base"`
	Raids []struct {
		Attack   bool   `json:"attack"`
		Opponent string `json:"opponent"`
	} `json:"raids"`
}

func call(t *testing.T, method, url, session string, body any, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e bytes.Buffer
		e.ReadFrom(resp.Body)
		t.Fatalf("%s %s: status %d: %s", method, url, resp.StatusCode, e.String())
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
}

// signIn signs a player in over HTTP: the device route when the server has
// it, else the development door.
func signIn(t *testing.T, base, id string) string {
	t.Helper()
	sess, _ := signInAs(t, base, id)
	return sess
}

// signInAs is signIn that also answers the player id: the account's
// (assigned by the server) on the device route, id itself on the door.
func signInAs(t *testing.T, base, id string) (session, playerID string) {
	t.Helper()
	var reply struct {
		Session  string `json:"session"`
		PlayerID string `json:"player_id"`
	}
	data, _ := json.Marshal(map[string]any{"device_id": id, "create": true})
	resp, err := http.Post(base+"/api/v1/auth/device", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		return reply.Session, reply.PlayerID
	}
	resp.Body.Close()
	call(t, "POST", base+"/api/v1/login", "", map[string]string{"player_id": id}, &reply)
	return reply.Session, id
}

// devLoginFlag is --dev-login when this rampart has it (API.md: the
// development door needs it), nothing on a tree where the door is open.
func devLoginFlag(t *testing.T) []string {
	out, _ := exec.Command(testenv.RampartBinary(t), "serve", "-h").CombinedOutput()
	if bytes.Contains(out, []byte("-dev-login")) {
		return []string{"--dev-login"}
	}
	return nil
}

// makeOpponent creates a raidable player over HTTP: signed in, a cannon
// built, logged out so that it is indexed for matchmaking.
func makeOpponent(t *testing.T, base string) string {
	t.Helper()
	id := fmt.Sprintf("opponent-%d", time.Now().UnixNano())
	sess := signIn(t, base, id)
	var res struct {
		Results []struct {
			OK    bool            `json:"ok"`
			Error json.RawMessage `json:"error"`
		} `json:"results"`
	}
	call(t, "POST", base+"/api/v1/actions", sess, map[string]any{"actions": []map[string]any{
		{"seq": 1, "name": "build", "args": map[string]any{"type": "cannon", "x": 30, "y": 32}},
		{"seq": 2, "name": "speed_up", "args": map[string]any{"building_id": "b6"}},
	}}, &res)
	for i, r := range res.Results {
		if !r.OK {
			t.Fatalf("opponent action %d failed: %s", i+1, r.Error)
		}
	}
	var p struct {
		Player player `json:"player"`
	}
	call(t, "GET", base+"/api/v1/player", sess, nil, &p)
	call(t, "POST", base+"/api/v1/logout", sess, map[string]any{}, nil)
	return p.Player.ID
}

// renameItem swaps in game data where store item id is called name: the
// file is rewritten and the server told to reload it.
func renameItem(t *testing.T, base, file, id, name string) {
	t.Helper()
	embedded, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	var gd gamedata.Bundle // fresh from JSON: Compile validates it anew
	if err := json.Unmarshal(embedded.Raw(), &gd); err != nil {
		t.Fatal(err)
	}
	for i := range gd.Store {
		if gd.Store[i].ID == id {
			gd.Store[i].Name = name
		}
	}
	data, err := gamedata.Compile(&gd)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	call(t, "POST", base+"/debug/gamedata/reload", "", map[string]any{}, nil)
}

// raidFrom signs attacker in, gives it five militia and raids target
// (searching again until target is the one offered), over the WebSocket
// so that asynchronous results arrive as events.
func raidFrom(t *testing.T, base, attacker, target string) (attackerID string) {
	t.Helper()
	sess, attackerID := signInAs(t, base, attacker)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// outcome is what a result and an async_result event both carry.
	type outcome struct {
		Seq    int64           `json:"seq"`
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	type msg struct {
		Type    string `json:"type"`
		Results []struct {
			outcome
			Pending bool `json:"pending"`
		} `json:"results"`
		Event struct {
			outcome
			Kind string `json:"kind"`
		} `json:"event"`
		Error json.RawMessage `json:"error"`
	}
	read := func() msg {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m msg
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("raider socket: %v", err)
		}
		if m.Type == "error" {
			t.Fatalf("raider socket error: %s", m.Error)
		}
		return m
	}
	if err := c.WriteJSON(map[string]string{"type": "login", "session": sess}); err != nil {
		t.Fatal(err)
	}
	for read().Type != "login_ok" {
	}
	seq := int64(0)
	// act sends one action and returns its final result.
	act := func(name string, args map[string]any) json.RawMessage {
		t.Helper()
		seq++
		if err := c.WriteJSON(map[string]any{"type": "actions", "actions": []map[string]any{{"seq": seq, "name": name, "args": args}}}); err != nil {
			t.Fatal(err)
		}
		for {
			m := read()
			var o outcome
			switch {
			case m.Type == "results" && len(m.Results) == 1 && m.Results[0].Seq == seq:
				if o = m.Results[0].outcome; o.OK && m.Results[0].Pending {
					continue // the outcome comes as an event
				}
			case m.Type == "event" && m.Event.Kind == "async_result" && m.Event.Seq == seq:
				o = m.Event.outcome
			default:
				continue
			}
			if !o.OK {
				t.Fatalf("raider %s %v: %s", name, args, o.Error)
			}
			return o.Result
		}
	}
	act("build", map[string]any{"type": "barracks", "x": 8, "y": 8})
	act("speed_up", map[string]any{"building_id": "b6"})
	act("build", map[string]any{"type": "army_camp", "x": 8, "y": 30})
	act("speed_up", map[string]any{"building_id": "b7"})
	act("train_units", map[string]any{"building_id": "b6", "unit": "militia", "count": 5})
	act("speed_up", map[string]any{"building_id": "b6", "kind": "training"})
	for i := 0; ; i++ {
		var found struct {
			Opponent struct {
				ID string `json:"id"`
			} `json:"opponent"`
		}
		if err := json.Unmarshal(act("find_opponent", map[string]any{}), &found); err != nil {
			t.Fatal(err)
		}
		if found.Opponent.ID == target {
			break
		}
		if i == 20 {
			t.Fatalf("raider: %s never offered in %d searches", target, i)
		}
	}
	act("attack", map[string]any{"opponent_id": target})
	return attackerID
}

// pinch spreads two touch points around cx, cy from gap from to gap to.
func pinch(cx, cy, from, to float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		points := func(gap float64) []*input.TouchPoint {
			id0, id1 := 0.0, 1.0
			return []*input.TouchPoint{{X: cx - gap/2, Y: cy, ID: &id0}, {X: cx + gap/2, Y: cy, ID: &id1}}
		}
		steps := []input.DispatchTouchEventParams{{Type: input.DispatchTouchEventTypeTouchStart, TouchPoints: points(from)}}
		for i := 1; i <= 6; i++ {
			steps = append(steps, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchMove, TouchPoints: points(from + (to-from)*float64(i)/6)})
		}
		steps = append(steps, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
		for _, p := range steps {
			if _, err := chromedp.Call(ctx, input.DispatchTouchEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestPlayInBrowser plays a whole session against a real server by clicks
// and taps: sign-in, building, upgrading, speeding up, collecting,
// training, the store, a raid, the leaderboard, a reload, and a cut
// connection with an action made while offline.
func TestPlayInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a browser")
	}
	ctx, ready := browser(t)
	// The server serves game data from a file, so the test can change it
	// while the page is open.
	gdFile := filepath.Join(t.TempDir(), "bundle.json")
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gdFile, gd.Raw(), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testenv.StartRampart(t, nil, append(devLoginFlag(t), "--gamedata-file", gdFile)...)
	opponent := makeOpponent(t, p.URL)
	log := ready()
	s := &session{t: t, ctx: ctx, url: p.URL, log: log}
	t0 := time.Now()

	// Sign in: a device id is made and kept, the socket is online.
	s.do("open the game", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(p.URL+"/"))
	s.waitJS("signed in", `document.querySelector('#app').dataset.state === 'ready' && rampart.net.status === 'online'`, 15*time.Second)
	device := eval[string](s, `localStorage.getItem('rampart.device')`)
	if len(device) < 22 || strings.Trim(device, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		t.Errorf("device id %q: want 22+ characters of [A-Za-z0-9_-]", device)
	}
	me := eval[string](s, `rampart.app.player.id`)
	s.screenshot("desktop-base")

	// Upgrade the town hall (gold mines are limited to one at level 1) and
	// speed it up.
	s.clickTile(21, 21)
	s.click(`#panel[data-kind=building] [data-act=upgrade_building]`)
	s.waitJS("town hall upgrading", bld("b1", "done")+` > 0`, 5*time.Second)
	s.click(`[data-building=b1] [data-act=speed_up]`)
	s.waitJS("town hall 2", bld("b1", "lv")+` === 2`, 5*time.Second)

	// Place a barracks at 8,8 and let it build (10 s) while the session
	// goes on: the server's upgrade_done push will say when it is done.
	place(s, "barracks", 8, 8)
	barracks := eval[string](s, `rampart.app.player.base.bld.find(b => b.t === 'barracks').id`)

	// Place a gold mine from the build menu at 8,30.
	s.click(`#toolbar [data-open=build]`)
	s.screenshot("desktop-build-menu")
	s.click(`[data-build=gold_mine]`)
	s.waitJS("placing", `!document.querySelector('#placebar').hidden`, 2*time.Second)
	s.clickTile(9, 31)
	s.waitJS("ghost at 8,30", `rampart.view.ghost.x === 8 && rampart.view.ghost.y === 30`, 2*time.Second)
	s.click(`#place-ok`)
	s.waitJS("gold mine placed", `rampart.app.player.base.bld.some(b => b.t === 'gold_mine' && b.x === 8 && b.y === 30)`, 5*time.Second)
	mine := eval[string](s, `rampart.app.player.base.bld.find(b => b.t === 'gold_mine' && b.x === 8).id`)
	s.waitJS("its panel", fmt.Sprintf(`document.querySelector('[data-building=%s] [data-act=speed_up]')`, mine), 3*time.Second)
	s.click(fmt.Sprintf(`[data-building=%s] [data-act=speed_up]`, mine))
	s.waitJS("gold mine built", bld(mine, "lv")+` === 1 && !`+bld(mine, "done"), 5*time.Second)
	s.click(fmt.Sprintf(`[data-building=%s] [data-act=upgrade_building]`, mine))
	s.waitJS("gold mine upgrading", bld(mine, "done")+` > 0`, 5*time.Second)
	s.screenshot("desktop-upgrading")
	s.click(fmt.Sprintf(`[data-building=%s] [data-act=speed_up]`, mine))
	s.waitJS("gold mine 2", bld(mine, "lv")+` === 2`, 5*time.Second)

	// Move it by dragging (it is selected): three tiles right.
	fx, fy := s.tile(9, 31)
	tx, ty := s.tile(12, 31)
	s.do("drag the gold mine", chromedp.DragAndDropXY(fx, fy, tx, ty, 8))
	s.waitJS("gold mine moved", bld(mine, "x")+` === 11`, 5*time.Second)

	// A move onto the town hall is sent, refused by the server (its code
	// shown in words) and the building snaps back.
	fx, fy = s.tile(12, 31)
	tx, ty = s.tile(22, 22)
	s.do("drag onto the town hall", chromedp.DragAndDropXY(fx, fy, tx, ty, 8))
	s.waitJS("refusal shown", `document.querySelector('#toasts').innerText.includes('Something is already in that spot. (occupied)')`, 3*time.Second)
	s.waitJS("snapped back", `!rampart.view.pending.size`, 3*time.Second)
	if x := eval[int](s, bld(mine, "x")); x != 11 {
		t.Errorf("after a refused move the gold mine is at x=%d, want 11", x)
	}

	// The store: elixir for the army. First the game data changes under
	// the open page: the pushed gamedata event makes it fetch the new
	// bundle, and the store shows the new name.
	s.click(`#toolbar [data-open=store]`)
	renameItem(t, p.URL, gdFile, "gold_small", "Pouch of Gold (new)")
	s.waitJS("new game data shown", `document.querySelector('#panel-body').innerText.includes('Pouch of Gold (new)')`, 5*time.Second)
	elixir := eval[int](s, `rampart.app.player.base.res.elixir`)
	s.click(`[data-item=elixir_small]`)
	s.waitJS("elixir bought", fmt.Sprintf(`rampart.app.player.base.res.elixir > %d`, elixir), 5*time.Second)

	// An army camp, sped up.
	camp := place(s, "army_camp", 8, 36)
	s.click(fmt.Sprintf(`[data-building=%s] [data-act=speed_up]`, camp))
	s.waitJS("army camp built", bld(camp, "lv")+` === 1`, 5*time.Second)

	// The barracks finished on its own: the server pushed upgrade_done.
	s.waitJS("upgrade_done pushed for the barracks", fmt.Sprintf(`rampart.net.events.some(e => e.kind === 'upgrade_done' && e.building_id === %q)`, barracks), 12*time.Second)
	s.waitJS("barracks built", bld(barracks, "lv")+` === 1`, 3*time.Second)

	// Train five militia, cancel one, speed up the rest.
	s.clickTile(9, 9)
	s.click(`[data-train5=militia]`)
	s.waitJS("militia queued", fmt.Sprintf(`(rampart.app.player.base.bld.find(b => b.id === %q).q || []).reduce((a, q) => a + q.n, 0) === 5`, barracks), 5*time.Second)
	s.click(`[data-cancel-unit=militia]`)
	s.waitJS("one cancelled", fmt.Sprintf(`(rampart.app.player.base.bld.find(b => b.id === %q).q || []).reduce((a, q) => a + q.n, 0) === 4`, barracks), 5*time.Second)
	s.screenshot("desktop-training")
	s.click(`[data-act=speed_up_training]`)
	s.waitJS("militia trained", `(rampart.app.player.base.army || {}).militia === 4`, 5*time.Second)

	// Collect from the first gold mine once it holds a coin.
	s.clickTile(15, 25)
	s.waitJS("gold to collect", `Number(document.querySelector('[data-ready=b4]').textContent) >= 1`, 25*time.Second)
	gold := eval[int](s, `rampart.app.player.base.res.gold`)
	s.click(`[data-building=b4] [data-act=collect]`)
	s.waitJS("gold collected", fmt.Sprintf(`rampart.app.player.base.res.gold > %d`, gold), 5*time.Second)

	// Tapping the elixir collector's bubble collects without opening it.
	s.click(`#panel-close`)
	s.waitJS("elixir bubble", `rampart.view.bubbleToClient('b5')`, 25*time.Second)
	elixir = eval[int](s, `rampart.app.player.base.res.elixir`)
	bub := eval[struct{ X, Y float64 }](s, `rampart.view.bubbleToClient('b5')`)
	s.do("click the bubble", chromedp.MouseClickXY(bub.X, bub.Y))
	s.waitJS("elixir collected", fmt.Sprintf(`rampart.app.player.base.res.elixir > %d && document.querySelector('#panel').hidden`, elixir), 5*time.Second)

	// Raid the opponent: find (searching wider if need be), preview, attack.
	s.click(`#toolbar [data-open=raid]`)
	s.click(`[data-act=find_opponent]`)
	for i := 0; ; i++ {
		s.waitJS("search answered", `['found', 'none'].includes(document.querySelector('[data-raid]').dataset.raid)`, 10*time.Second)
		if eval[string](s, `document.querySelector('[data-raid]').dataset.raid`) == "found" {
			break
		}
		if i == 5 {
			t.Fatalf("no opponent after %d wider searches", i)
		}
		s.click(`[data-act=find_wider]`)
	}
	if got := eval[string](s, `document.querySelector('#opponent').closest('[data-raid]').querySelector('h3').textContent`); !strings.Contains(got, opponent) {
		t.Errorf("opponent shown %q, want %s", got, opponent)
	}
	s.screenshot("desktop-opponent")
	s.click(`[data-act=attack]`)
	s.waitJS("raid result", `document.querySelector('#raid-result')`, 15*time.Second)
	s.screenshot("desktop-raid-result")
	s.click(`#toolbar [data-open=log]`)
	s.waitJS("raid log", `document.querySelector('#raidlog') && document.querySelector('#raidlog').innerText.includes('You raided')`, 5*time.Second)
	s.click(`#toolbar [data-open=ranks]`)
	s.waitJS("rank", `document.querySelector('#my-rank') && document.querySelector('#my-rank').textContent.startsWith('#')`, 10*time.Second)
	s.screenshot("desktop-leaderboard")

	// Someone raids this player while the page is open: the raided push
	// tells the page, and the log lists it.
	raider := fmt.Sprintf("raider-%d", time.Now().UnixNano())
	raider = raidFrom(t, p.URL, raider, me) // the raider's player id from here on
	s.waitJS("raided pushed", `rampart.net.events.some(e => e.kind === 'raided')`, 10*time.Second)
	s.click(`#toolbar [data-open=log]`) // from the leaderboard to the log
	s.waitJS("raid on us logged", `!document.querySelector('#panel').hidden && document.querySelector('#raidlog').innerText.includes('raided you')`, 5*time.Second)
	s.screenshot("desktop-raid-log")

	// Reload: still the same player, no new sign-in.
	s.do("reload", chromedp.Reload())
	s.waitJS("signed in after reload", `document.querySelector('#app').dataset.state === 'ready' && rampart.net.status === 'online'`, 10*time.Second)
	if got := eval[string](s, `rampart.app.player.id`); got != me {
		t.Errorf("after reload player %s, want %s", got, me)
	}

	// A stored session the server no longer takes (expired, forged, from
	// before a restart) makes the page sign in again, as the same player.
	s.do("spoil the session", chromedp.Evaluate[chromedp.Void](`localStorage.setItem('rampart.session', 'expired')`), chromedp.Reload())
	s.waitJS("signed in again", `document.querySelector('#app').dataset.state === 'ready' && rampart.net.status === 'online' && localStorage.getItem('rampart.session') !== 'expired'`, 10*time.Second)
	if got := eval[string](s, `rampart.app.player.id`); got != me {
		t.Errorf("after a spoilt session player %s, want %s", got, me)
	}

	// Cut the socket, buy while offline, and watch the action go through
	// once after the reconnect.
	sess := eval[string](s, `localStorage.getItem('rampart.session')`)
	var before struct {
		Player player `json:"player"`
	}
	call(t, "GET", p.URL+"/api/v1/player", sess, nil, &before)
	s.click(`#toolbar [data-open=store]`)
	s.click(`#debug-toggle`)
	s.click(`#debug-cut`)
	s.waitJS("reconnecting shown", `document.querySelector('#status').dataset.status === 'reconnecting' && document.querySelector('#status').textContent.includes('Reconnecting')`, 2*time.Second)
	s.click(`[data-item=gold_small]`)
	s.waitJS("queued while offline", `rampart.net.status === 'reconnecting' && document.querySelector('#inflight').textContent.match(/\d/)`, 2*time.Second)
	s.screenshot("desktop-reconnecting")
	s.waitJS("reconnected and acknowledged", `rampart.net.status === 'online' && rampart.net.inFlight().length === 0 && rampart.app.player.base.res.gems === `+fmt.Sprint(before.Player.Base.Res["gems"]-20), 10*time.Second)
	var after struct {
		Player player `json:"player"`
	}
	sess = eval[string](s, `localStorage.getItem('rampart.session')`)
	call(t, "GET", p.URL+"/api/v1/player", sess, nil, &after)
	if got, want := after.Player.Base.Res["gems"], before.Player.Base.Res["gems"]-20; got != want {
		t.Errorf("gems after the offline purchase = %d, want %d (applied exactly once)", got, want)
	}
	if got, want := after.Player.LastSeq, before.Player.LastSeq+1; got != want {
		t.Errorf("server last_seq = %d, want %d: one new action", got, want)
	}
	if got := eval[int](s, `rampart.net.lastSeq`); int64(got) != after.Player.LastSeq {
		t.Errorf("client seq %d, server last_seq %d", got, after.Player.LastSeq)
	}

	// Lose a reply: the action was applied, its reply dropped, the socket
	// cut. The resend after the reconnect must get the stored result
	// (duplicate) and apply nothing again.
	before = after
	after = struct {
		Player player `json:"player"`
	}{} // fresh maps: decoding into after's would change before's too
	s.click(`#debug-lose`)
	s.click(`[data-item=gold_boost]`)
	s.waitJS("resent and answered as a duplicate", `rampart.net.duplicates >= 1 && rampart.net.status === 'online' && rampart.net.inFlight().length === 0`, 10*time.Second)
	s.waitJS("the page shows the server's gems", `rampart.app.player.base.res.gems === `+fmt.Sprint(before.Player.Base.Res["gems"]-50), 5*time.Second)
	call(t, "GET", p.URL+"/api/v1/player", sess, nil, &after)
	if got, want := after.Player.Base.Res["gems"], before.Player.Base.Res["gems"]-50; got != want {
		t.Errorf("gems after the lost reply = %d, want %d (applied exactly once)", got, want)
	}
	if got, want := after.Player.LastSeq, before.Player.LastSeq+1; got != want {
		t.Errorf("server last_seq after the lost reply = %d, want %d", got, want)
	}

	// Place a cannon and cancel its construction: it is removed, half of
	// its gold comes back.
	gold = eval[int](s, `rampart.app.player.base.res.gold`)
	s.click(`#toolbar [data-open=build]`)
	s.click(`[data-build=cannon]`)
	s.clickTile(31, 33)
	s.waitJS("cannon ghost", `rampart.view.ghost.x === 30 && rampart.view.ghost.y === 32`, 2*time.Second)
	s.click(`#place-ok`)
	s.waitJS("cannon placed", `rampart.app.player.base.bld.some(b => b.t === 'cannon')`, 5*time.Second)
	s.click(`#panel[data-kind=building] [data-act=cancel_upgrade]`)
	s.waitJS("cannon removed", fmt.Sprintf(`!rampart.app.player.base.bld.some(b => b.t === 'cannon') && rampart.app.player.base.res.gold === %d`, gold-250+125), 5*time.Second)
	call(t, "GET", p.URL+"/api/v1/player", sess, nil, &after)

	// The whole session, checked against the server's state.
	count := map[string]int{}
	for _, b := range after.Player.Base.Bld {
		count[b.Type]++
		if b.Done != 0 {
			t.Errorf("building %s (%s) still busy", b.ID, b.Type)
		}
		if b.ID == mine && (b.Lv != 2 || b.X != 11 || b.Y != 30) {
			t.Errorf("gold mine %s: level %d at %d,%d, want level 2 at 11,30", mine, b.Lv, b.X, b.Y)
		}
	}
	for typ, want := range map[string]int{"town_hall": 1, "gold_mine": 2, "barracks": 1, "army_camp": 1} {
		if count[typ] != want {
			t.Errorf("server base has %d %s, want %d", count[typ], typ, want)
		}
	}
	type raidLine struct {
		Attack   bool
		Opponent string
	}
	var raids []raidLine
	for _, r := range after.Player.Raids {
		raids = append(raids, raidLine{r.Attack, r.Opponent})
	}
	if want := []raidLine{{true, opponent}, {false, raider}}; !slices.Equal(raids, want) {
		t.Errorf("server raid log %+v, want %+v", raids, want)
	}
	if n := after.Player.Base.Army["militia"]; n != 0 {
		t.Errorf("army after the raid: %d militia, want 0 (all deployed)", n)
	}

	// Link an email (typed): either linked, or the route is not there yet.
	s.click(`#toolbar [data-open=account]`)
	s.do("type the email", chromedp.SendKeys(chromedp.CSS(`#link-form [name=email]`), "player@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#link-form [name=password]`), "correct horse battery"))
	s.click(`#link-form button[type=submit]`)
	s.waitJS("link answered", `['Email linked', 'not available on this server yet'].some(t => document.querySelector('#link-msg').textContent.includes(t))`, 5*time.Second)

	// Wheel zooms in around the cursor; dragging empty ground pans.
	scale := eval[float64](s, `rampart.view.cam.scale`)
	cx, cy := s.tile(22, 12)
	// deltaX 0 would be left out of the command, and Chromium wants both.
	wheel := func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 0.01, -400 }
	s.do("wheel", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, cx, cy, wheel))
	s.waitJS("zoomed in", fmt.Sprintf(`rampart.view.cam.scale > %f`, scale*1.5), 2*time.Second)
	camX := eval[float64](s, `rampart.view.cam.x`)
	s.do("pan", chromedp.DragAndDropXY(cx, cy, cx+200, cy, 6))
	s.waitJS("panned", fmt.Sprintf(`rampart.view.cam.x < %f`, camX-2), 2*time.Second)

	// A phone: 390×844 with touch. Tap a building, open the build menu.
	s.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch), chromedp.Reload())
	s.waitJS("signed in on the phone", `document.querySelector('#app').dataset.state === 'ready' && rampart.net.status === 'online'`, 10*time.Second)
	s.screenshot("phone-base")
	s.tapTile(21, 21)
	s.waitJS("town hall panel by touch", `document.querySelector('[data-building=b1]')`, 3*time.Second)
	s.screenshot("phone-building")
	s.do("open build menu", chromedp.Tap(chromedp.CSS(`#toolbar [data-open=build]`)))
	s.waitJS("build menu", `document.querySelector('[data-build=cannon]')`, 3*time.Second)
	s.screenshot("phone-build-menu")
	s.do("close the menu", chromedp.Tap(chromedp.CSS(`#panel-close`)))

	// Pinch with two fingers zooms in.
	scale = eval[float64](s, `rampart.view.cam.scale`)
	s.do("pinch", pinch(195, 420, 40, 140))
	s.waitJS("pinched in", fmt.Sprintf(`rampart.view.cam.scale > %f`, scale*2), 2*time.Second)
	s.screenshot("phone-zoomed")

	// Signing in elsewhere replaces this page's session: it says so and
	// stops instead of fighting for the player.
	signIn(t, p.URL, device)
	s.waitJS("replaced", `rampart.net.status === 'replaced' && !document.querySelector('#overlay').hidden`, 5*time.Second)

	log.check(t)
	t.Logf("scripted session took %s", time.Since(t0).Round(time.Millisecond))
}

// TestRulesMatchServer checks that the prices the client shows are the
// server's: rules.js's speed-up price against gamedata's, in the browser.
func TestRulesMatchServer(t *testing.T) {
	ctx, ready := browser(t)
	srv := httptest.NewServer(game.Handler())
	defer srv.Close()
	log := ready()
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	ms := []int64{-5, 0, 1, 999, 1000, 1001, 30_000, 59_999, 60_000, 60_001, 61_000, 600_000, 3_599_000,
		3_600_000, 3_600_001, 7_200_000, 43_200_000, 86_400_000, 86_401_000, 300_000_000, 604_800_000, 604_801_000, 2_000_000_000}
	arg, _ := json.Marshal(ms)
	expr := fmt.Sprintf(`import('/game/js/rules.js').then(m => JSON.stringify(%s.map(x => new m.Rules(%s).speedUpCost(x))))`, arg, gd.Raw())
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/game/style.css")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	var prices []int64
	if err := json.Unmarshal([]byte(got), &prices); err != nil {
		t.Fatalf("decode %q: %v", got, err)
	}
	for i, m := range ms {
		if want := gd.SpeedUpCost(m); prices[i] != want {
			t.Errorf("speed-up price for %d ms: client %d, server %d", m, prices[i], want)
		}
	}
	log.check(t)
}
