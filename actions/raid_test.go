package actions

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"rampart/gamedata"
)

func raidFixture(t *testing.T) (*gamedata.Bundle, time.Time) {
	t.Helper()
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return gd, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
}

func TestResolveRaidIsDeterministic(t *testing.T) {
	gd, now := raidFixture(t)
	def := MidGame(gd, now)
	army := map[string]int{"militia": 40, "archer": 30, "brute": 4}
	req := func(id string) *RaidRequest {
		return &RaidRequest{RaidID: id, Attacker: "alice", Defender: "bob", Army: army, AttackerTrophies: 1000}
	}
	a := ResolveRaid(req("alice-7"), &def, gd, now)
	b := ResolveRaid(req("alice-7"), &def, gd, now)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same raid id, different battles:\n%s\n%s", ja, jb)
	}
	seen := map[string]bool{}
	for _, id := range []string{"r-1", "r-2", "r-3", "r-4", "r-5", "r-6"} {
		r := ResolveRaid(req(id), &def, gd, now)
		j, _ := json.Marshal(struct{ D, L int }{r.Destruction, r.UnitsLost})
		seen[string(j)] = true
	}
	if len(seen) < 2 {
		t.Errorf("six raid ids fought identical battles: the seed is not used")
	}
}

func TestResolveRaidOutcomes(t *testing.T) {
	gd, now := raidFixture(t)
	newbie := New(gd, now)
	mid := MidGame(gd, now)
	tests := []struct {
		name      string
		army      map[string]int
		def       *Base
		minStars  int
		maxStars  int
		attackerW bool // attacker gains trophies
	}{
		{"huge army flattens a new base", map[string]int{"drake": 20}, &newbie, 3, 3, true},
		{"one militia against a mid-game base", map[string]int{"militia": 1}, &mid, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ResolveRaid(&RaidRequest{RaidID: "x-1", Attacker: "a", Defender: "d", Army: tt.army, AttackerTrophies: 500}, tt.def, gd, now)
			if r.Stars < tt.minStars || r.Stars > tt.maxStars {
				t.Fatalf("stars %d (destruction %d%%), want %d..%d", r.Stars, r.Destruction, tt.minStars, tt.maxStars)
			}
			if (r.AttackerTrophies > 0) != tt.attackerW || r.AttackerTrophies != -r.DefenderTrophies && r.Stars > 0 {
				t.Fatalf("trophies attacker %+d defender %+d with %d stars", r.AttackerTrophies, r.DefenderTrophies, r.Stars)
			}
			for res, n := range r.Loot {
				if n > tt.def.Res[res]*MaxLootPct/100 {
					t.Errorf("loot %s %d over %d%% of the %d stored", res, n, MaxLootPct, tt.def.Res[res])
				}
			}
			if _, ok := r.Loot["gems"]; ok {
				t.Errorf("premium currency looted")
			}
			if (r.ShieldUntil > 0) != (r.Stars > 0) {
				t.Errorf("shield %d with %d stars", r.ShieldUntil, r.Stars)
			}
		})
	}
}

func TestApplyRaidSides(t *testing.T) {
	gd, now := raidFixture(t)
	r := RaidResult{RaidID: "a-1", Attacker: "a", Defender: "d", At: now.UnixMilli(), Stars: 2,
		Loot: map[string]int64{"gold": 800, "elixir": 50_000}, AttackerTrophies: 20, DefenderTrophies: -20,
		ShieldUntil: now.Add(8 * time.Hour).UnixMilli()}

	def := New(gd, now) // 1000 gold, 1000 elixir, 0 trophies
	line := ApplyRaidDefense(&def, gd, &r, now)
	if def.Res["gold"] != 200 || def.Res["elixir"] != 0 {
		t.Errorf("defender after losing 800 gold and up to 50000 elixir: %v", def.Res)
	}
	if line.Loot["elixir"] != 1000 || def.Trophies != 0 || def.ShieldUntil != r.ShieldUntil {
		t.Errorf("defender line %+v, trophies %d, shield %d", line, def.Trophies, def.ShieldUntil)
	}

	att := New(gd, now) // 1000 gold, 1000 elixir
	line = ApplyRaidAttack(&att, gd, &r, now)
	if att.Res["gold"] != 1800 || att.Res["elixir"] != 51_000 {
		t.Errorf("attacker after looting: %v, want the whole loot: gold 1800, elixir 51000", att.Res)
	}
	if line.Loot["elixir"] != 50_000 || att.Trophies != 20 || !line.Attack {
		t.Errorf("attacker line %+v, trophies %d", line, att.Trophies)
	}
}

func TestStartAttackAndRefund(t *testing.T) {
	gd, now := raidFixture(t)
	b := New(gd, now)
	if _, err := StartAttack(&b, gd, now); err == nil || err.(*Error).Code != CodeNoArmy {
		t.Fatalf("attack without an army: %v, want %s", err, CodeNoArmy)
	}
	b.Army = map[string]int{"militia": 5, "archer": 2}
	army, err := StartAttack(&b, gd, now)
	if err != nil || army["militia"] != 5 || len(b.Army) != 0 {
		t.Fatalf("deployed %v (err %v), base army left %v", army, err, b.Army)
	}
	RefundAttack(&b, army)
	if b.Army["militia"] != 5 || b.Army["archer"] != 2 {
		t.Fatalf("army after refund %v", b.Army)
	}
}

// TestRaidConservesResources: whatever the bases, Defend takes from the
// defender exactly what ApplyRaidAttack gives the attacker, and the loot
// never exceeds the attacker's free storage at the start of the attack.
func TestRaidConservesResources(t *testing.T) {
	gd, now := raidFixture(t)
	bases := map[string]func() Base{
		"new":      func() Base { return New(gd, now) },
		"mid-game": func() Base { return MidGame(gd, now) },
		"rich": func() Base {
			b := MidGame(gd, now)
			for k := range b.Res {
				b.Res[k] *= 50
			}
			return b
		},
	}
	armies := []map[string]int{{"militia": 1}, {"militia": 40, "archer": 30, "brute": 4}, {"drake": 20}}
	for an, att := range bases {
		for dn, def := range bases {
			for i, army := range armies {
				t.Run(fmt.Sprintf("%s attacks %s with army %d", an, dn, i), func(t *testing.T) {
					a, d := att(), def()
					a.Army = maps.Clone(army)
					offer := &Offer{ID: "d", Until: now.Add(time.Minute).UnixMilli()}
					req, err := BeginAttack(&a, "a", 7, offer, json.RawMessage(`{"opponent_id":"d"}`), gd, now)
					if err != nil {
						t.Fatal(err)
					}
					before := total(&a) + total(&d)
					res, line := Defend(&d, &req, gd, now)
					ApplyRaidAttack(&a, gd, &res, now)
					if after := total(&a) + total(&d); after != before {
						t.Fatalf("resources %d before the raid, %d after (loot %v, defender lost %v)", before, after, res.Loot, line.Loot)
					}
					for k, n := range res.Loot {
						if n > req.Room[k] {
							t.Errorf("loot %s %d over the attacker's free storage %d", k, n, req.Room[k])
						}
						if line.Loot[k] != n {
							t.Errorf("defender lost %s %d, loot says %d", k, line.Loot[k], n)
						}
					}
				})
			}
		}
	}
}

func total(b *Base) int64 {
	var n int64
	for _, v := range b.Res {
		n += v
	}
	return n
}

// TestDispatch: the one dispatch the server, its replay and the load
// generator's prediction share. An asynchronous action answers its Begin
// request and no result; an attack spends the standing offer only when it
// starts; any other action answers Apply's result.
func TestDispatch(t *testing.T) {
	gd, now := raidFixture(t)
	offer := &Offer{ID: "d", Until: now.Add(time.Minute).UnixMilli()}
	tests := []struct {
		name      string
		action    string
		args      string
		offer     *Offer
		army      map[string]int
		wantReq   any // the request's type, nil for none
		wantErr   string
		wantOffer bool // the offer still stands after
	}{
		{"ping is synchronous", Ping, `{}`, offer, nil, nil, "", true},
		{"leaderboard begins", Leaderboard, `{"n":5}`, nil, nil, LeaderboardRequest{}, "", false},
		{"find_opponent begins", FindOpponent, `{}`, nil, nil, OpponentRequest{}, "", false},
		{"attack spends the offer", Attack, `{"opponent_id":"d"}`, offer, map[string]int{"militia": 3}, RaidRequest{}, "", false},
		{"attack with no army keeps it", Attack, `{"opponent_id":"d"}`, offer, nil, nil, CodeNoArmy, true},
		{"attack on another keeps it", Attack, `{"opponent_id":"x"}`, offer, map[string]int{"militia": 3}, nil, CodeNoOpponent, true},
		{"a rule refusal", Collect, `{"building_id":"nope"}`, offer, nil, nil, CodeNotFound, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(gd, now)
			b.Army = maps.Clone(tt.army)
			found := tt.offer
			res, req, err := Dispatch(&b, &found, "a", 7, gd, now, tt.action, json.RawMessage(tt.args))
			if tt.wantErr != "" {
				var ae *Error
				if !errors.As(err, &ae) || ae.Code != tt.wantErr {
					t.Fatalf("got %v, want %s", err, tt.wantErr)
				}
				if res != nil || req != nil {
					t.Errorf("refused, yet result %v, request %v", res, req)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprintf("%T", req), fmt.Sprintf("%T", tt.wantReq); got != want {
				t.Errorf("request %s, want %s", got, want)
			}
			if tt.wantErr == "" && (req == nil) != (res != nil) {
				t.Errorf("result %v with request %v: want exactly one", res, req)
			}
			if (found != nil) != tt.wantOffer {
				t.Errorf("offer after: %v, want standing %v", found, tt.wantOffer)
			}
		})
	}
}
