package actions

import (
	"encoding/json"
	"time"

	"rampart/gamedata"
)

// MidGame builds a plausible mid-game base from any game data, for
// benchmarks, fuzzing and load tests: the town hall at a middle level,
// every building type at the count that level allows (walls capped at 8,
// about 40 buildings in all) and at the best level it allows, a few one
// level below; all builders but one busy upgrading; every trainer with a
// queue; half the housing trained; harvesters an hour into production; a
// production boost running; storage 60% full.
func MidGame(gd *gamedata.Bundle, now time.Time) Base {
	ms := now.UnixMilli()
	th := gd.TownHall()
	thLevel := th.MaxLevel()/2 + 1
	b := Base{Res: map[string]int64{}, Trophies: 1200, GD: gd.Version, NextID: 1}
	b.Buildings = make([]Building, 0, 64)
	place := func(bt *gamedata.BuildingType, level int) {
		x, y, ok := freeSpot(&b, gd, bt.W, bt.H)
		if !ok {
			return
		}
		bl := Building{ID: buildingID(b.NextID), Type: bt.ID, Level: level, X: x, Y: y}
		b.NextID++
		if bt.Kind == gamedata.KindHarvester {
			bl.Since = ms - 3_600_000
		}
		b.Buildings = append(b.Buildings, bl)
	}
	place(th, thLevel)
	for i := range gd.Buildings {
		bt := &gd.Buildings[i]
		if bt == th {
			continue
		}
		n := bt.Count(thLevel)
		if bt.Kind == gamedata.KindWall {
			n = min(n, 8)
		}
		for range n {
			best := 0
			for l := 1; l <= bt.MaxLevel(); l++ {
				if b.requirementsMet(bt, bt.Level(l), thLevel) {
					best = l
				}
			}
			if best > 0 {
				place(bt, best)
			}
		}
	}
	// Every third building one level lower; upgrades on some of those.
	t := scan(&b, gd)
	upgrades := t.builders - 1
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		bt := gd.Building(bl.Type)
		if i%3 != 1 || bl.Level < 2 || bt.Kind == gamedata.KindTownHall || bt.Kind == gamedata.KindBuilderHut {
			continue
		}
		bl.Level--
		if lv := bt.Level(bl.Level + 1); upgrades > 0 && lv.TimeS > 0 {
			bl.Done = ms + lv.TimeS*1000/2
			bl.Since = 0
			upgrades--
		}
	}
	t = scan(&b, gd)
	for r, res := range gd.Resources {
		if r == gd.PremiumIndex() {
			b.Res[res.ID] = 1000
		} else {
			b.Res[res.ID] = t.cap[r] * 6 / 10
		}
	}
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		if bt := gd.Building(bl.Type); bt.Kind == gamedata.KindHarvester && bl.Since > 0 {
			bl.Stored = bt.Level(bl.Level).Capacity / 10
		}
	}
	// Half the housing trained with the cheapest unit, a quarter queued.
	var cheapest *gamedata.Unit
	for i := range gd.Units {
		if u := &gd.Units[i]; cheapest == nil || u.Housing < cheapest.Housing {
			cheapest = u
		}
	}
	if cheapest != nil {
		b.addArmy(cheapest.ID, t.housing/2/cheapest.Housing)
		room := t.housing / 4
		for i := range b.Buildings {
			bl := &b.Buildings[i]
			bt := gd.Building(bl.Type)
			if bt.Kind != gamedata.KindTrainer {
				continue
			}
			q := bt.Level(bl.Level).Queue / 2
			for k := range gd.Units {
				u := &gd.Units[k]
				if u.TrainedAt != bt.ID || u.Level > bl.Level || u.Housing > q || u.Housing > room {
					continue
				}
				n := max(1, min(q, room)/u.Housing/2)
				bl.Queue = append(bl.Queue, Training{Unit: u.ID, N: n})
				q -= n * u.Housing
				room -= n * u.Housing
			}
			if len(bl.Queue) > 0 {
				bl.QAt = ms - 1000
			}
		}
	}
	for _, it := range gd.Store {
		if it.Kind == gamedata.ItemBoost {
			b.Boosts = append(b.Boosts, Boost{Res: it.Resource, Factor: it.Factor, Until: ms + it.Seconds*1000/2})
			break
		}
	}
	return b
}

// ScriptStep is one action of a scripted session and the error code it
// must fail with ("" when it must succeed).
type ScriptStep struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
	Code string          `json:"code,omitempty"`
}

// NewPlayerScript is a session for a brand-new player on the committed
// game data, touching every action, with the outcome each step must have.
// Steps may run at any pace up to a few seconds apart: everything that
// takes time is sped up at once. The api owner's end-to-end test sends it
// over HTTP; TestNewPlayerScript runs it here.
func NewPlayerScript() []ScriptStep {
	s := func(name, args, code string) ScriptStep {
		return ScriptStep{Name: name, Args: json.RawMessage(args), Code: code}
	}
	return []ScriptStep{
		s(Ping, `{}`, ""),
		s(Build, `{"type":"barracks","x":8,"y":8}`, ""),                      // b6
		s(SpeedUp, `{"building_id":"b6"}`, ""),                               // 1 gem
		s(Build, `{"type":"army_camp","x":8,"y":30}`, ""),                    // b7
		s(SpeedUp, `{"building_id":"b7"}`, ""),                               // 1 gem
		s(TrainUnits, `{"building_id":"b6","unit":"militia","count":5}`, ""), // 125 elixir
		s(TrainUnits, `{"building_id":"b6","unit":"militia","count":50}`, CodeQueueFull),
		s(SpeedUp, `{"building_id":"b6","kind":"training"}`, ""), // 2 gems
		s(CancelTraining, `{"building_id":"b6","unit":"militia"}`, CodeNotInQueue),
		s(Build, `{"type":"gold_storage","x":34,"y":8}`, ""), // b8
		s(SpeedUp, `{"building_id":"b8"}`, ""),               // 1 gem
		s(BuyItem, `{"item":"gold_small"}`, ""),              // 20 gems → 2500 gold
		s(Build, `{"type":"cannon","x":30,"y":32}`, ""),      // b9
		s(UpgradeBuilding, `{"building_id":"b9"}`, CodeBusy),
		s(CancelUpgrade, `{"building_id":"b9"}`, ""),                      // removed, half refunded
		s(UpgradeBuilding, `{"building_id":"b2"}`, CodeRequirementNotMet), // builder hut 2 needs town hall 4
		s(MoveBuilding, `{"building_id":"b6","x":2,"y":2}`, ""),
		s(MoveBuilding, `{"building_id":"b7","x":20,"y":20}`, CodeOccupied),
		s(Collect, `{"building_id":"b6"}`, CodeWrongBuilding),
		s(Build, `{"type":"wall","x":0,"y":0}`, CodeRequirementNotMet), // no walls at town hall 1
		s(UpgradeBuilding, `{"building_id":"b1"}`, ""),                 // town hall 2
		s(SpeedUp, `{"building_id":"b1"}`, ""),
		s(Build, `{"type":"wall","x":0,"y":0}`, ""), // instant
		s(Build, `{"type":"wall","x":0,"y":0}`, CodeOccupied),
		s(UpgradeBuilding, `{"building_id":"b99"}`, CodeNotFound),
		s(TrainUnits, `{"building_id":"b6","unit":"dragon"}`, CodeNotFound),
		s(BuyItem, `{"item":"gold_large"}`, CodeRequirementNotMet),
		s(Build, `{"type":"cannon"}`, CodeBadArgs),
		s("fly", `{}`, CodeUnknownAction),
	}
}
