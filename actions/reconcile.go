package actions

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"rampart/gamedata"
)

// Reconcile fits a saved base to game data gd, which may have removed or
// changed content the base refers to, and records gd's version in b.GD.
// now starts production for buildings that became harvesters.
// It reports whether anything besides b.GD changed. CatchUp and Apply call
// it whenever b.GD differs from gd.Version, so a hot reload reaches online
// players at their next action and saved players at login.
//
// The rules, in order:
//
//  1. A building whose type no longer exists is removed. Nothing is
//     refunded: the new data cannot say what the old levels cost (keep a
//     type and set its max_count to 0 to stop new builds without taking
//     anything away).
//  2. A level above the type's new highest level is lowered to it, and an
//     upgrade towards a level that no longer exists is cancelled without
//     refund.
//  3. Harvester state is cleared on buildings that are no longer
//     harvesters; a building that became one starts producing at now.
//     Stored production above the new capacity is lost.
//  4. Training queues are cleared on buildings that are no longer
//     trainers; queued runs of units that no longer exist, or are no longer
//     trained there, are dropped without refund. If the unit in training
//     went, the next one starts at now.
//  5. Trained units of types that no longer exist are removed.
//  6. Boosts of resources that no longer exist, or are not harvested, end.
//  7. Resources that no longer exist are removed; every resource in gd is
//     present; non-premium amounts above the new storage capacity are
//     lowered to it; negative amounts (corrupt saves) become 0.
//  8. A base without a town hall gets a level 1 town hall at the first free
//     spot. Buildings left overlapping or outside a smaller grid stay where
//     they are (moving one checks only its new spot), and counts above the
//     new limits are kept: only new builds are refused.
//  9. An army above the new housing capacity is kept; training is refused
//     until it fits again.
func Reconcile(b *Base, gd *gamedata.Bundle, now time.Time) (changed bool) {
	return reconcile(b, gd, now.UnixMilli())
}

func reconcile(b *Base, gd *gamedata.Bundle, now int64) (changed bool) {
	b.GD = gd.Version

	// 1.
	n := len(b.Buildings)
	b.Buildings = slices.DeleteFunc(b.Buildings, func(bl Building) bool { return gd.Building(bl.Type) == nil })
	changed = len(b.Buildings) != n

	maxID := 0
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		bt := gd.Building(bl.Type)
		if id, err := strconv.Atoi(strings.TrimPrefix(bl.ID, "b")); err == nil {
			maxID = max(maxID, id)
		}
		// 2.
		if top := bt.MaxLevel(); bl.Level > top || bl.Level == top && bl.Done > 0 {
			bl.Level, bl.Done = top, 0
			changed = true
		}
		if bl.Level < 0 {
			bl.Level, changed = 0, true
		}
		// 3.
		if bt.Kind != gamedata.KindHarvester {
			if bl.Since != 0 || bl.Stored != 0 {
				bl.Since, bl.Stored, changed = 0, 0, true
			}
		} else {
			if bl.Level >= 1 && bl.Done == 0 && bl.Since == 0 {
				bl.Since, changed = now, true
			}
			if lv := bt.Level(bl.Level); lv != nil && bl.Stored > lv.Capacity {
				bl.Stored, changed = lv.Capacity, true
			}
		}
		// 4.
		if bt.Kind != gamedata.KindTrainer {
			if bl.Queue != nil || bl.QAt != 0 {
				bl.Queue, bl.QAt, changed = nil, 0, true
			}
			continue
		}
		if len(bl.Queue) == 0 {
			continue
		}
		head := bl.Queue[0]
		k := len(bl.Queue)
		bl.Queue = slices.DeleteFunc(bl.Queue, func(q Training) bool {
			u := gd.Unit(q.Unit)
			return u == nil || u.TrainedAt != bt.ID || q.N <= 0
		})
		if len(bl.Queue) != k {
			changed = true
			switch {
			case len(bl.Queue) == 0:
				bl.Queue, bl.QAt = nil, 0
			case bl.Queue[0] != head:
				bl.QAt = now
			}
		}
	}
	if b.NextID <= maxID {
		b.NextID, changed = maxID+1, true
	}

	// 5.
	for id, c := range b.Army {
		if gd.Unit(id) == nil || c <= 0 {
			delete(b.Army, id)
			changed = true
		}
	}
	if b.Army != nil && len(b.Army) == 0 {
		b.Army = nil
	}

	// 6.
	k := len(b.Boosts)
	b.Boosts = slices.DeleteFunc(b.Boosts, func(x Boost) bool {
		i := gd.ResourceIndex(x.Res)
		return i < 0 || gd.Resources[i].Kind != gamedata.Harvested
	})
	if len(b.Boosts) != k {
		changed = true
	}
	if len(b.Boosts) == 0 {
		b.Boosts = nil
	}

	// 8 (before 7: the town hall stores resources).
	if b.count(gd.TownHall().ID) == 0 {
		th := gd.TownHall()
		x, y, ok := freeSpot(b, gd, th.W, th.H)
		if ok {
			b.Buildings = append(b.Buildings, Building{ID: buildingID(b.NextID), Type: th.ID, Level: 1, X: x, Y: y})
			b.NextID++
			changed = true
		}
	}

	// 7.
	if b.Res == nil {
		b.Res = map[string]int64{}
	}
	for id := range b.Res {
		if gd.ResourceIndex(id) < 0 {
			delete(b.Res, id)
			changed = true
		}
	}
	t := scan(b, gd)
	for r, res := range gd.Resources {
		v, ok := b.Res[res.ID]
		nv := max(v, 0)
		if res.Kind != gamedata.Premium {
			nv = min(nv, t.cap[r])
		}
		if !ok || nv != v {
			b.Res[res.ID] = nv
			changed = true
		}
	}
	return changed
}

// freeSpot finds the first position, row by row, where a w×h footprint fits.
func freeSpot(b *Base, gd *gamedata.Bundle, w, h int) (x, y int, ok bool) {
	for y := 0; y+h <= gd.Grid.H; y++ {
		for x := 0; x+w <= gd.Grid.W; x++ {
			if _, free := b.fits(gd, x, y, w, h, -1); free {
				return x, y, true
			}
		}
	}
	return 0, 0, false
}
