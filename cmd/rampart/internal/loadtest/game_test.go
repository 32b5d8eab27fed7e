package loadtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/bundle.json is a snapshot of the compiled game data
// (gamedata/bundle.json) for the planner tests; the integration test
// checks the planners against a real server's rules.
func testGameData(t *testing.T) *gameData {
	t.Helper()
	b, err := os.ReadFile("testdata/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	gd, err := parseGameData(b)
	if err != nil {
		t.Fatal(err)
	}
	return gd
}

// initialPlayer is a player whose model holds the bundle's initial base,
// read at now.
func initialPlayer(t *testing.T, gd *gameData, seed uint64) *player {
	t.Helper()
	var raw struct {
		Initial struct {
			Resources map[string]int64 `json:"resources"`
			Buildings []struct {
				Type  string `json:"type"`
				Level int    `json:"level"`
				X, Y  int
			} `json:"buildings"`
		} `json:"initial"`
	}
	b, _ := os.ReadFile("testdata/bundle.json")
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	var bld []map[string]any
	for i, ib := range raw.Initial.Buildings {
		m := map[string]any{"id": fmt.Sprintf("b%d", i+1), "t": ib.Type, "lv": ib.Level, "x": ib.X, "y": ib.Y}
		if gd.building[ib.Type].Kind == "harvester" {
			m["since"] = now - 3_600_000 // an hour of production waiting
		}
		bld = append(bld, m)
	}
	p := &player{id: "t", rng: rand.New(rand.NewPCG(seed, 0)), m: model{gd: gd}}
	p.m.load(p, "test", mustJSON(t, map[string]any{"id": "t", "last_seq": 0,
		"base": map[string]any{"res": raw.Initial.Resources, "bld": bld, "gd": gd.Version}}), mustJSON(t, map[string]any{"server_time": now}), false)
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSpeedUpCost(t *testing.T) {
	gd := testGameData(t)
	for _, tc := range []struct{ ms, want int64 }{
		{0, 0}, {-5, 0}, {1, 1}, {30_000, 1}, {60_000, 1}, {61_000, 2}, {3_600_000, 20},
		{86_400_000, 260}, {604_800_000, 1000}, {2 * 604_800_000, 2000},
	} {
		if got := gd.speedUpCost(tc.ms); got != tc.want {
			t.Errorf("speedUpCost(%d): got %d, want %d", tc.ms, got, tc.want)
		}
	}
}

// Every planner, from the initial base, writes a move whose arguments are
// JSON naming things that exist.
func TestPlanners(t *testing.T) {
	gd := testGameData(t)
	for _, tc := range []struct {
		name  string
		plan  func(*player, *planned) bool
		want  string
		never bool // no valid move exists in the initial base
	}{
		{"collect", planCollect, "collect", false},
		{"upgrade", planUpgrade, "upgrade_building", false},
		{"build", planBuild, "build", false},
		{"move", planMove, "move_building", false},
		{"buy", planBuy, "buy_item", false},
		{"train", planTrain, "train_units", true},         // no barracks yet
		{"cancel training", planCancelTraining, "", true}, // nothing queued
		{"cancel upgrade", planCancelUpgrade, "", true},   // nothing upgrading
		{"speed up", planSpeedUp, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				p := initialPlayer(t, gd, seed)
				var a planned
				ok := tc.plan(p, &a)
				if ok == tc.never {
					t.Fatalf("seed %d: planned %v, want %v", seed, ok, !tc.never)
				}
				if !ok {
					continue
				}
				var args map[string]any
				if a.name != tc.want || json.Unmarshal(a.args, &args) != nil {
					t.Fatalf("seed %d: got %s %s, want %s with JSON args", seed, a.name, a.args, tc.want)
				}
				if id, ok := args["building_id"].(string); ok && p.m.find(id) < 0 {
					t.Errorf("seed %d: %s names building %s, which does not exist", seed, a.name, id)
				}
				if typ, ok := args["type"].(string); ok {
					bt := gd.building[typ]
					if bt == nil || !p.m.fits(int(args["x"].(float64)), int(args["y"].(float64)), bt.W, bt.H, -1) {
						t.Errorf("seed %d: build %s does not fit", seed, a.args)
					}
				}
			}
		})
	}
}

// A built barracks makes training possible, and acknowledged results
// move the model and the expectations the way the rules move the base.
func TestModelFollowsResults(t *testing.T) {
	gd := testGameData(t)
	p := initialPlayer(t, gd, 1)
	m := &p.m
	gems := m.res[gd.premium]

	build := &planned{name: "build", args: []byte(`{"type":"barracks","x":2,"y":2}`)}
	m.applied(p, build, &result{ok: true, raw: []byte(`{"building_id":"b9","done":0}`)})
	if i := m.find("b9"); i < 0 || m.bld[i].Lv != 1 {
		t.Fatalf("after build: buildings %+v, want b9 at level 1", m.bld)
	}
	var a planned
	if planTrain(p, &a) {
		t.Fatalf("planned %s %s without an army camp to house the units", a.name, a.args)
	}
	camp := &planned{name: "build", args: []byte(`{"type":"army_camp","x":6,"y":2}`)}
	m.applied(p, camp, &result{ok: true, raw: []byte(`{"building_id":"b10","done":1}`)}) // done long ago
	if !planTrain(p, &a) {
		t.Fatal("no training planned with a barracks and an army camp")
	}
	train := &planned{name: "train_units", args: []byte(`{"building_id":"b9","unit":"militia","count":3}`)}
	m.applied(p, train, &result{ok: true, raw: []byte(`{"done":1}`)})
	if got := m.exp.units["militia"]; got != 3 {
		t.Errorf("expected militia %d, want 3", got)
	}
	buy := &planned{name: "buy_item", args: []byte(`{"item":"gold_small"}`)}
	m.applied(p, buy, &result{ok: true, raw: []byte(`{"spent":20,"gained":{"gold":2500}}`)})
	if m.exp.premium != gems-20 || m.res[gd.premium] != gems-20 {
		t.Errorf("premium expected %d, model %d; want %d", m.exp.premium, m.res[gd.premium], gems-20)
	}
}

// A state read that lost acknowledged effects is reported; one that shows
// them is not.
func TestModelCheck(t *testing.T) {
	gd := testGameData(t)
	state := func(gems int64, militia int, extra bool) []byte {
		bld := []map[string]any{{"id": "b1", "t": "town_hall", "lv": 1, "x": 20, "y": 20},
			{"id": "b2", "t": "barracks", "lv": 1, "x": 2, "y": 2, "q": []map[string]any{{"u": "militia", "n": militia}}}}
		if extra {
			bld = append(bld, map[string]any{"id": "b3", "t": "cannon", "lv": 0, "x": 9, "y": 9, "done": 1})
		}
		return mustJSON(t, map[string]any{"last_seq": 1, "base": map[string]any{
			"res": map[string]int64{"gold": 10, gd.premium: gems}, "bld": bld, "gd": gd.Version}})
	}
	for _, tc := range []struct {
		name string
		read []byte
		want []string
	}{
		{"all reflected", state(80, 5, true), nil},
		{"units lost", state(80, 2, true), []string{"2 militia"}},
		{"premium twice", state(60, 5, true), []string{"is 60", "leave 80"}},
		{"building lost", state(80, 5, false), []string{"building b3 is gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &player{m: model{gd: gd}}
			p.m.load(p, "first", state(100, 2, false), nil, false)
			p.m.applied(p, &planned{name: "train_units", args: []byte(`{"building_id":"b2","unit":"militia","count":3}`)}, &result{ok: true})
			p.m.applied(p, &planned{name: "speed_up", args: []byte(`{"building_id":"b1"}`)}, &result{ok: true, raw: []byte(`{"spent":20}`)})
			p.m.applied(p, &planned{name: "build", args: []byte(`{"type":"cannon","x":9,"y":9}`)}, &result{ok: true, raw: []byte(`{"building_id":"b3","done":1}`)})
			p.m.load(p, "again", tc.read, nil, false)
			got := strings.Join(p.led.problems, "\n")
			if len(tc.want) == 0 && got != "" {
				t.Errorf("problems %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q, want one mentioning %q", got, w)
				}
			}
			// A read after a lost reply is not checked, only adopted.
			p.led.problems = nil
			p.m.load(p, "doubtful", state(1, 1, false), nil, true)
			if len(p.led.problems) != 0 {
				t.Errorf("doubtful read: problems %q, want none", p.led.problems)
			}
		})
	}
}
