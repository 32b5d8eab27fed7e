package actions

import (
	"time"

	"rampart/gamedata"
)

// MidGame builds a plausible mid-game base from any game data, for this
// package's benchmarks, fuzzing and tests: the town hall at a middle level,
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
