package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"rampart/actions"
	"rampart/gamedata"
	"rampart/internal/testenv/fixture"
)

// httpPlayer plays over HTTP with its own seq counter.
type httpPlayer struct {
	t       *testing.T
	base    string
	session string
	seq     int64
}

// signInReply is a sign-in's answer as a client reads it.
type testSignIn struct {
	Session  string          `json:"session"`
	Refresh  string          `json:"refresh"`
	PlayerID string          `json:"player_id"`
	Created  bool            `json:"created"`
	Player   json.RawMessage `json:"player"`
}

// signIn posts body to /api/v1/auth/<kind> and wants a 200.
func (e *wsEnv) signIn(t testing.TB, kind, body string) testSignIn {
	t.Helper()
	var r testSignIn
	if code, _ := e.post(t, "/api/v1/auth/"+kind, "", body, &r); code != 200 {
		t.Fatalf("sign in %s %s: status %d", kind, body, code)
	}
	return r
}

// post sends body with an optional bearer token and decodes a 200 answer
// into out; it returns the status and the error code of a failure.
func (e *wsEnv) post(t testing.TB, path, token, body string, out any) (int, string) {
	t.Helper()
	code, ec, _ := e.call(t, "POST", path, token, body, nil, out)
	return code, ec
}

// call is one request: status, error code (failures) and the response.
func (e *wsEnv) call(t testing.TB, method, path, token, body string, header map[string]string, out any) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		var eb struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" {
			t.Fatalf("%s %s: status %d with body %q: not an API.md error", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode, eb.Error.Code, resp
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, data)
		}
	}
	return resp.StatusCode, "", resp
}

// httpLogin signs name's device in over HTTP, making the account.
func (e *wsEnv) httpLogin(t *testing.T, name string) *httpPlayer {
	t.Helper()
	r := e.signIn(t, "device", `{"device_id":"`+deviceID(name)+`","create":true}`)
	return &httpPlayer{t: t, base: e.URL, session: r.Session}
}

func (p *httpPlayer) do(method, path, body string, out any) {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		p.t.Fatal(err)
	}
}

// act sends one action and returns its reply.
func (p *httpPlayer) act(name, args string) (ok bool, code string, result map[string]any) {
	p.t.Helper()
	p.seq++
	var ar struct {
		Results []struct {
			OK     bool           `json:"ok"`
			Result map[string]any `json:"result"`
			Error  *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"results"`
	}
	p.do("POST", "/api/v1/actions", fmt.Sprintf(`{"actions":[{"seq":%d,"name":%q,"args":%s}]}`, p.seq, name, args), &ar)
	r := ar.Results[0]
	if r.Error != nil {
		code = r.Error.Code
	}
	return r.OK, code, r.Result
}

type playerView struct {
	Base struct {
		Res       map[string]int64 `json:"res"`
		Army      map[string]int   `json:"army"`
		Buildings []struct {
			ID    string `json:"id"`
			Type  string `json:"t"`
			Level int    `json:"lv"`
		} `json:"bld"`
	} `json:"base"`
}

func (p *httpPlayer) view() playerView {
	p.t.Helper()
	var v struct {
		Player playerView `json:"player"`
	}
	p.do("GET", "/api/v1/player", "", &v)
	return v.Player
}

// TestScriptedSessionOverHTTP: a new player builds, waits, collects,
// trains and buys, with time moved by the injected clock.
func TestScriptedSessionOverHTTP(t *testing.T) {
	e := newWSEnv(t)
	p := e.httpLogin(t, "scripted")
	steps := []struct {
		name, action, args string
		wait               time.Duration // before the action
		code               string        // "" for success
	}{
		{"nothing harvested yet", actions.Collect, `{"building_id":"b4"}`, 0, "nothing_to_collect"},
		{"build barracks", actions.Build, `{"type":"barracks","x":8,"y":8}`, 0, ""},
		{"build army camp", actions.Build, `{"type":"army_camp","x":8,"y":30}`, 0, ""},
		{"both builders busy", actions.Build, `{"type":"cannon","x":30,"y":32}`, 0, "no_free_builder"},
		{"upgrade town hall", actions.UpgradeBuilding, `{"building_id":"b1"}`, 2 * time.Hour, ""},
		{"collect two hours of gold", actions.Collect, `{"building_id":"b4"}`, time.Minute, ""},
		{"buy gold", actions.BuyItem, `{"item":"gold_small"}`, 0, ""},
		{"train in the built barracks", actions.TrainUnits, `{"building_id":"b6","unit":"militia","count":3}`, 0, ""},
	}
	gemsBefore := p.view().Base.Res["gems"]
	for _, st := range steps {
		e.Clock.Advance(st.wait)
		ok, code, _ := p.act(st.action, st.args)
		if ok != (st.code == "") || code != st.code {
			t.Fatalf("%s: got ok=%v code %q, want code %q", st.name, ok, code, st.code)
		}
	}
	e.Clock.Advance(time.Hour)
	v := p.view()
	if v.Base.Army["militia"] != 3 {
		t.Errorf("army after training = %v, want 3 militia", v.Base.Army)
	}
	levels := map[string]int{}
	for _, b := range v.Base.Buildings {
		levels[b.ID] = b.Level
	}
	if levels["b6"] != 1 || levels["b7"] != 1 {
		t.Errorf("barracks and camp levels = %d, %d, want 1 (built while we waited)", levels["b6"], levels["b7"])
	}
	if v.Base.Res["gems"] >= gemsBefore {
		t.Errorf("gems %d after buying, want fewer than %d", v.Base.Res["gems"], gemsBefore)
	}
}

// TestNewPlayerScriptOverHTTP plays the actions package's scripted new
// player over HTTP: every step must answer as the rules say.
func TestNewPlayerScriptOverHTTP(t *testing.T) {
	e := newWSEnv(t)
	p := e.httpLogin(t, "script2")
	for i, st := range fixture.NewPlayerScript() {
		ok, code, _ := p.act(st.Name, string(st.Args))
		if ok != (st.Code == "") || code != st.Code {
			t.Fatalf("step %d %s %s: got ok=%v code %q, want %q", i, st.Name, st.Args, ok, code, st.Code)
		}
	}
}

// TestActionsServerTimeIsTheApplyMoment checks that an actions reply's
// server_time is the moment the batch ran at (every timer in its results
// counts from it), not the moment the reply was written after the journal
// sync: the API's clock here runs an hour apart from the store's.
func TestActionsServerTimeIsTheApplyMoment(t *testing.T) {
	var e *wsEnv
	e = newEnv(t, envOptions{api: func(c *Config) {
		c.Now = func() time.Time { return e.Clock.Now().Add(time.Hour) }
	}})
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, kind string
		x          int
	}{
		{"a barracks", "barracks", 8},
		{"a cannon, a minute later", "cannon", 12},
	}
	p := e.httpLogin(t, "clockwatcher")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Clock.Advance(time.Minute)
			applied := e.Clock.Now().UnixMilli()
			p.seq++
			var ar struct {
				Results []struct {
					OK     bool `json:"ok"`
					Result struct {
						Done int64 `json:"done"`
					} `json:"result"`
					Error json.RawMessage `json:"error"`
				} `json:"results"`
				ServerTime int64 `json:"server_time"`
			}
			p.do("POST", "/api/v1/actions", fmt.Sprintf(`{"actions":[{"seq":%d,"name":"build","args":{"type":%q,"x":%d,"y":8}}]}`,
				p.seq, tt.kind, tt.x), &ar)
			if len(ar.Results) != 1 || !ar.Results[0].OK {
				t.Fatalf("build: %+v (%s)", ar, ar.Results[0].Error)
			}
			if ar.ServerTime != applied {
				t.Errorf("server_time %d, want the store's moment %d (the API's clock says %d)", ar.ServerTime, applied, applied+time.Hour.Milliseconds())
			}
			if want := ar.ServerTime + gd.Building(tt.kind).Level(1).TimeS*1000; ar.Results[0].Result.Done != want {
				t.Errorf("done %d, want server_time + build time = %d", ar.Results[0].Result.Done, want)
			}
		})
	}
}
