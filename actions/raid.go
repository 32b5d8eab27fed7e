package actions

import (
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"rampart/gamedata"
)

// Raid rules. A raid is resolved once, by the server that runs it, into a
// RaidResult; each side then applies it exactly once (the state package
// guarantees the once).
const (
	RaidSeconds    = 180 // a battle lasts at most this many simulated seconds
	MaxLootPct     = 20  // of the defender's stored harvested resources, at 100% destruction
	ShieldPerStar  = 4 * time.Hour
	baseTrophyGain = 12
)

// RaidResult is the outcome of one raid.
type RaidResult struct {
	RaidID      string           `json:"raid_id"`
	Attacker    string           `json:"attacker"`
	Defender    string           `json:"defender"`
	At          int64            `json:"at"`
	Stars       int              `json:"stars"`
	Destruction int              `json:"destruction_pct"`
	Loot        map[string]int64 `json:"loot"`
	// AttackerTrophies and DefenderTrophies are the changes to each side.
	AttackerTrophies int            `json:"attacker_trophies"`
	DefenderTrophies int            `json:"defender_trophies"`
	ShieldUntil      int64          `json:"shield_until,omitempty"` // the defender's new shield, Unix ms
	UnitsSent        map[string]int `json:"units_sent"`
	UnitsLost        int            `json:"units_lost"`
}

// RaidLogEntry is one line of a player's raid history.
type RaidLogEntry struct {
	RaidID   string           `json:"raid_id"`
	Attack   bool             `json:"attack"` // this player attacked
	Opponent string           `json:"opponent"`
	Stars    int              `json:"stars"`
	Loot     map[string]int64 `json:"loot,omitempty"` // gained when attacking, lost when defending
	Trophies int              `json:"trophies"`       // this player's change
	At       int64            `json:"at"`
}

// StartAttack deploys b's whole trained army for a raid: the units leave
// the base now and are returned by RefundAttack only if the raid cannot
// happen.
func StartAttack(b *Base, gd *gamedata.Bundle, now time.Time) (map[string]int, error) {
	CatchUp(b, gd, now)
	army := map[string]int{}
	for u, n := range b.Army {
		if n > 0 {
			army[u] = n
		}
	}
	if len(army) == 0 {
		return nil, &Error{Code: CodeNoArmy, Message: "train units before attacking"}
	}
	b.Army = nil
	return army, nil
}

// RefundAttack returns a deployed army whose raid did not happen.
func RefundAttack(b *Base, army map[string]int) {
	for u, n := range army {
		b.addArmy(u, n)
	}
}

// raidSeed derives the battle's random source from the raid id, so a raid
// replays identically.
func raidSeed(raidID string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(raidID))
	return rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
}

type fighter struct {
	hp, dps int
}

// ResolveRaid fights req's army against def (caught up to now) and
// returns the result. It is a pure function of its arguments: the same
// raid id gives the same battle. The loot is at most what def holds and
// what the attacker has room for (req.Room; nil means no limit).
func ResolveRaid(req *RaidRequest, def *Base, gd *gamedata.Bundle, now time.Time) RaidResult {
	army, attackerTrophies := req.Army, req.AttackerTrophies
	rng := raidSeed(req.RaidID)
	r := RaidResult{RaidID: req.RaidID, Attacker: req.Attacker, Defender: req.Defender, At: now.UnixMilli(),
		Loot: map[string]int64{}, UnitsSent: maps.Clone(army)}

	// Attackers, in a stable order, then shuffled by the raid's seed.
	var units []fighter
	for _, id := range slices.Sorted(maps.Keys(army)) {
		u := gd.Unit(id)
		if u == nil {
			continue
		}
		for range army[id] {
			units = append(units, fighter{hp: u.HP, dps: u.DPS})
		}
	}
	rng.Shuffle(len(units), func(i, j int) { units[i], units[j] = units[j], units[i] })

	// Targets: every finished building; defenses shoot while standing.
	type target struct {
		fighter
		th bool
	}
	var targets []target
	totalHP, thType := 0, gd.TownHall()
	for i := range def.Buildings {
		bl := &def.Buildings[i]
		bt := gd.Building(bl.Type)
		if bt == nil || bl.Level < 1 {
			continue
		}
		lv := bt.Level(bl.Level)
		if lv == nil || lv.HP <= 0 {
			continue
		}
		t := target{fighter: fighter{hp: lv.HP}, th: bt == thType}
		if bt.Kind == gamedata.KindDefense {
			t.dps = lv.DPS
		}
		targets = append(targets, t)
		totalHP += lv.HP
	}
	rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })

	destroyedHP, alive, thDown := 0, len(units), false
	ti, ui := 0, 0 // current target, first living unit
	for sec := 0; sec < RaidSeconds && alive > 0 && ti < len(targets); sec++ {
		attack, defend := 0, 0
		for _, u := range units[ui:] {
			if u.hp > 0 {
				attack += u.dps
			}
		}
		for _, t := range targets[ti:] {
			defend += t.dps
		}
		for attack > 0 && ti < len(targets) {
			t := &targets[ti]
			hit := min(attack, t.hp)
			t.hp -= hit
			attack -= hit
			destroyedHP += hit
			if t.hp == 0 {
				thDown = thDown || t.th
				ti++
			}
		}
		for defend > 0 && ui < len(units) {
			u := &units[ui]
			hit := min(defend, u.hp)
			u.hp -= hit
			defend -= hit
			if u.hp == 0 {
				alive--
				ui++
			}
		}
	}
	r.UnitsLost = len(units) - alive
	if totalHP > 0 {
		r.Destruction = destroyedHP * 100 / totalHP
	}
	if r.Destruction >= 50 {
		r.Stars++
	}
	if thDown {
		r.Stars++
	}
	if r.Destruction == 100 {
		r.Stars++
	}

	for _, res := range gd.Resources {
		if res.Kind != gamedata.Harvested {
			continue
		}
		n := def.Res[res.ID] * int64(r.Destruction) * MaxLootPct / 10000
		if req.Room != nil {
			n = min(n, req.Room[res.ID])
		}
		if n > 0 {
			r.Loot[res.ID] = n
		}
	}

	delta := min(max(baseTrophyGain+(def.Trophies-attackerTrophies)/12, 5), 40)
	if r.Stars > 0 {
		r.AttackerTrophies = max(1, delta*r.Stars/3)
		r.DefenderTrophies = -r.AttackerTrophies
		r.ShieldUntil = now.Add(time.Duration(r.Stars) * ShieldPerStar).UnixMilli()
	} else {
		r.AttackerTrophies = -delta / 2
		r.DefenderTrophies = delta / 2
	}
	return r
}

// ApplyRaidAttack gives the attacker the whole loot (exactly what the
// defender lost: resources are neither created nor destroyed; the loot was
// capped at the attacker's free storage when the attack began) and its
// trophies, and returns its raid log line.
func ApplyRaidAttack(b *Base, gd *gamedata.Bundle, r *RaidResult, now time.Time) RaidLogEntry {
	CatchUp(b, gd, now)
	got := map[string]int64{}
	for _, res := range gd.Resources {
		if n := r.Loot[res.ID]; n > 0 {
			b.Res[res.ID] += n
			got[res.ID] = n
		}
	}
	b.Trophies = max(0, b.Trophies+r.AttackerTrophies)
	return RaidLogEntry{RaidID: r.RaidID, Attack: true, Opponent: r.Defender, Stars: r.Stars, Loot: got, Trophies: r.AttackerTrophies, At: r.At}
}

// ApplyRaidDefense takes the loot from the defender, changes its trophies
// and raises its shield, and returns its raid log line. Called by Defend
// on the base the raid was resolved on, the loot is always there whole;
// the min only guards a caller that breaks that rule.
func ApplyRaidDefense(b *Base, gd *gamedata.Bundle, r *RaidResult, now time.Time) RaidLogEntry {
	CatchUp(b, gd, now)
	lost := map[string]int64{}
	for id, n := range r.Loot {
		take := min(n, b.Res[id])
		if take > 0 {
			b.Res[id] -= take
			lost[id] = take
		}
	}
	b.Trophies = max(0, b.Trophies+r.DefenderTrophies)
	b.ShieldUntil = max(b.ShieldUntil, r.ShieldUntil)
	return RaidLogEntry{RaidID: r.RaidID, Opponent: r.Attacker, Stars: r.Stars, Loot: lost, Trophies: r.DefenderTrophies, At: r.At}
}
