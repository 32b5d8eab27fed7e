package actions

import (
	"encoding/json"
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
	a := ResolveRaid("alice-7", "alice", "bob", army, 1000, &def, gd, now)
	b := ResolveRaid("alice-7", "alice", "bob", army, 1000, &def, gd, now)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same raid id, different battles:\n%s\n%s", ja, jb)
	}
	seen := map[string]bool{}
	for _, id := range []string{"r-1", "r-2", "r-3", "r-4", "r-5", "r-6"} {
		r := ResolveRaid(id, "alice", "bob", army, 1000, &def, gd, now)
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
			r := ResolveRaid("x-1", "a", "d", tt.army, 500, tt.def, gd, now)
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

	att := New(gd, now) // storage 2000 at town hall 1
	line = ApplyRaidAttack(&att, gd, &r, now)
	if att.Res["gold"] != 1800 || att.Res["elixir"] != 2000 {
		t.Errorf("attacker after looting: %v, want gold 1800 and elixir capped at 2000", att.Res)
	}
	if line.Loot["elixir"] != 1000 || att.Trophies != 20 || !line.Attack {
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
