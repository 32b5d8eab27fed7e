package gamedata

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with the game data, located by file and field.
type Problem struct {
	File    string `json:"file"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.File + ": " + p.Message
	}
	return p.File + ": " + p.Field + ": " + p.Message
}

// Problems is every problem found in one build or parse; it is the error
// Build and Parse return when the data is invalid.
type Problems []Problem

func (ps Problems) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d game data problem(s):", len(ps))
	for _, p := range ps {
		sb.WriteString("\n  ")
		sb.WriteString(p.String())
	}
	return sb.String()
}

// Limits that keep arithmetic in int64 far from overflow and content sane.
const (
	maxAmount  = 1_000_000_000_000 // any single cost, capacity or grant
	maxSeconds = 30 * 24 * 3600    // any single duration
	maxGrid    = 200
	maxLevels  = 50
	maxTH      = 50
)

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// checker accumulates problems.
type checker struct{ ps Problems }

func (c *checker) add(file, field, format string, args ...any) {
	c.ps = append(c.ps, Problem{File: file, Field: strings.TrimSuffix(field, "."), Message: fmt.Sprintf(format, args...)})
}

// validate checks b, builds its indices and precomputed fields, and
// returns every problem found. Each entity's src/at must be set.
func validate(b *Bundle) Problems {
	c := &checker{}
	gfile := b.files.game

	// Resources.
	b.resIdx = map[string]int{}
	b.premium = -1
	if len(b.Resources) == 0 {
		c.add(b.files.resources, "", "no resources defined")
	}
	if len(b.Resources) > MaxResources {
		c.add(b.files.resources, "", "%d resources defined, at most %d allowed", len(b.Resources), MaxResources)
	}
	nHarvested := 0
	for i := range b.Resources {
		r := &b.Resources[i]
		checkID(c, r.src, r.at, r.ID)
		if _, dup := b.resIdx[r.ID]; dup {
			c.add(r.src, r.at+"id", "duplicate resource %q", r.ID)
		}
		if i < MaxResources {
			b.resIdx[r.ID] = i
		}
		switch r.Kind {
		case Harvested:
			nHarvested++
		case Premium:
			if b.premium >= 0 {
				c.add(r.src, r.at+"kind", "a second premium currency (%q already is one)", b.Resources[b.premium].ID)
			} else {
				b.premium = i
			}
		default:
			c.add(r.src, r.at+"kind", "unknown kind %q (want %q or %q)", r.Kind, Harvested, Premium)
		}
	}
	if b.premium < 0 {
		c.add(b.files.resources, "", "no premium currency (a resource of kind %q)", Premium)
		b.premium = 0 // keep going with an index that exists or fails safely below
	}
	if nHarvested == 0 {
		c.add(b.files.resources, "", "no harvested resource")
	}
	isPremium := func(id string) bool {
		i, ok := b.resIdx[id]
		return ok && b.Resources[i].Kind == Premium
	}

	// Grid and rules.
	if b.Grid.W < 10 || b.Grid.W > maxGrid || b.Grid.H < 10 || b.Grid.H > maxGrid {
		c.add(gfile, "grid", "size %dx%d outside 10..%d", b.Grid.W, b.Grid.H, maxGrid)
	}
	rl := &b.Rules
	if rl.CancelRefundPct < 0 || rl.CancelRefundPct > 100 {
		c.add(gfile, "rules.cancel_refund_pct", "%d outside 0..100", rl.CancelRefundPct)
	}
	if rl.TrainingRefundPct < 0 || rl.TrainingRefundPct > 100 {
		c.add(gfile, "rules.training_refund_pct", "%d outside 0..100", rl.TrainingRefundPct)
	}
	if rl.MaxTrain < 1 || rl.MaxTrain > 10000 {
		c.add(gfile, "rules.max_train", "%d outside 1..10000", rl.MaxTrain)
	}
	if len(rl.SpeedUp) < 2 {
		c.add(gfile, "rules.speed_up", "needs at least 2 points")
	} else {
		if rl.SpeedUp[0] != (SpeedUpPoint{}) {
			c.add(gfile, "rules.speed_up[0]", "must be {\"s\": 0, \"cost\": 0}")
		}
		for i := 1; i < len(rl.SpeedUp); i++ {
			p, q := rl.SpeedUp[i-1], rl.SpeedUp[i]
			f := fmt.Sprintf("rules.speed_up[%d]", i)
			if q.Seconds <= p.Seconds || q.Seconds > maxSeconds {
				c.add(gfile, f+".s", "%d must grow (previous %d) and stay within %d", q.Seconds, p.Seconds, maxSeconds)
			}
			if q.Cost < p.Cost || q.Cost > maxAmount {
				c.add(gfile, f+".cost", "%d must not shrink (previous %d)", q.Cost, p.Cost)
			}
		}
		if last := rl.SpeedUp[len(rl.SpeedUp)-1]; last.Cost == 0 {
			c.add(gfile, "rules.speed_up", "costs are all zero")
		}
	}

	checkCost := func(src, field string, cost map[string]int64, allowZero bool) []Amount {
		var out []Amount
		for _, id := range sortedKeys(cost) {
			n := cost[id]
			ri, ok := b.resIdx[id]
			switch {
			case !ok:
				c.add(src, field+"."+id, "unknown resource %q", id)
				continue
			case n < 0:
				c.add(src, field+"."+id, "negative amount %d", n)
				continue
			case n > maxAmount:
				c.add(src, field+"."+id, "amount %d above %d", n, int64(maxAmount))
				continue
			case n == 0:
				continue // a zero entry is allowed and means nothing
			}
			out = append(out, Amount{Res: ri, ID: id, N: n})
		}
		slices.SortFunc(out, func(a, b Amount) int { return a.Res - b.Res })
		if len(out) == 0 && !allowZero {
			c.add(src, field, "must cost something")
		}
		return out
	}

	// Buildings: identity and kind.
	b.bldIdx = map[string]*BuildingType{}
	for i := range b.Buildings {
		t := &b.Buildings[i]
		t.idx, t.res = i, -1
		checkID(c, t.src, t.at, t.ID)
		if _, dup := b.bldIdx[t.ID]; dup {
			c.add(t.src, t.at+"id", "duplicate building type %q", t.ID)
			continue
		}
		b.bldIdx[t.ID] = t
		if t.Kind == KindTownHall {
			if b.townHall != nil {
				c.add(t.src, t.at+"kind", "a second town hall (%q already is one)", b.townHall.ID)
			} else {
				b.townHall = t
			}
		}
	}
	if b.townHall == nil {
		c.add(b.files.buildings, "", "no building of kind %q", KindTownHall)
	}
	thMax := 0
	if b.townHall != nil {
		thMax = len(b.townHall.Levels)
		if thMax < 1 || thMax > maxTH {
			c.add(b.townHall.src, b.townHall.at+"levels", "town hall has %d levels, want 1..%d", thMax, maxTH)
			thMax = max(1, min(thMax, maxTH))
		}
	}

	// Buildings: levels, one type at a time.
	kinds := map[string]int{}
	for i := range b.Buildings {
		t := &b.Buildings[i]
		checkBuilding(c, b, t, thMax, checkCost, isPremium)
		kinds[t.Kind]++
	}
	for _, k := range []string{KindBuilderHut, KindStorage, KindHarvester} {
		if kinds[k] == 0 {
			c.add(b.files.buildings, "", "no building of kind %q", k)
		}
	}

	// Units.
	b.unitIdx = map[string]*Unit{}
	trains := map[string]int{}
	for i := range b.Units {
		u := &b.Units[i]
		checkID(c, u.src, u.at, u.ID)
		if _, dup := b.unitIdx[u.ID]; dup {
			c.add(u.src, u.at+"id", "duplicate unit %q", u.ID)
		}
		b.unitIdx[u.ID] = u
		if u.Housing < 1 || u.Housing > 1000 {
			c.add(u.src, u.at+"housing", "%d outside 1..1000", u.Housing)
		}
		if u.TimeS < 1 || u.TimeS > maxSeconds {
			c.add(u.src, u.at+"time_s", "%d outside 1..%d", u.TimeS, maxSeconds)
		}
		if u.HP <= 0 {
			c.add(u.src, u.at+"hp", "must be positive")
		}
		if u.DPS < 0 {
			c.add(u.src, u.at+"dps", "negative")
		}
		u.cost = checkCost(u.src, u.at+"cost", u.Cost, false)
		for _, a := range u.cost {
			if a.Res == b.premium {
				c.add(u.src, u.at+"cost."+a.ID, "units cannot cost the premium currency")
			}
		}
		tr := b.bldIdx[u.TrainedAt]
		switch {
		case tr == nil:
			c.add(u.src, u.at+"trained_at", "unknown building type %q", u.TrainedAt)
		case tr.Kind != KindTrainer:
			c.add(u.src, u.at+"trained_at", "%q is a %s, not a %s", u.TrainedAt, tr.Kind, KindTrainer)
		case u.Level < 1 || u.Level > len(tr.Levels):
			c.add(u.src, u.at+"level", "%s has no level %d (it has %d)", u.TrainedAt, u.Level, len(tr.Levels))
		default:
			trains[u.TrainedAt]++
			if q := tr.Levels[len(tr.Levels)-1].Queue; q < u.Housing {
				c.add(u.src, u.at+"housing", "%d does not fit in %s's largest queue (%d): unreachable", u.Housing, tr.ID, q)
			}
		}
	}
	for i := range b.Buildings {
		if t := &b.Buildings[i]; t.Kind == KindTrainer && trains[t.ID] == 0 {
			c.add(t.src, t.at+"kind", "trainer %q trains no unit: unreachable content", t.ID)
		}
	}
	if len(b.Units) > 0 && kinds[KindArmyCamp] == 0 {
		c.add(b.files.buildings, "", "units defined but no building of kind %q to house them", KindArmyCamp)
	}

	// Store.
	b.itemIdx = map[string]*Item{}
	for i := range b.Store {
		it := &b.Store[i]
		it.res = -1
		checkID(c, it.src, it.at, it.ID)
		if _, dup := b.itemIdx[it.ID]; dup {
			c.add(it.src, it.at+"id", "duplicate store item %q", it.ID)
		}
		b.itemIdx[it.ID] = it
		if it.Price < 1 || it.Price > maxAmount {
			c.add(it.src, it.at+"price", "%d outside 1..%d", it.Price, int64(maxAmount))
		}
		if it.TownHall < 0 || it.TownHall > thMax {
			c.add(it.src, it.at+"th", "town hall level %d does not exist (max %d): unreachable", it.TownHall, thMax)
		}
		switch it.Kind {
		case ItemResources:
			it.gives = checkCost(it.src, it.at+"gives", it.Gives, false)
			for _, a := range it.gives {
				if a.Res == b.premium {
					c.add(it.src, it.at+"gives."+a.ID, "the store cannot sell the premium currency for itself")
				}
			}
		case ItemBoost:
			ri, ok := b.resIdx[it.Resource]
			switch {
			case !ok:
				c.add(it.src, it.at+"resource", "unknown resource %q", it.Resource)
			case b.Resources[ri].Kind != Harvested:
				c.add(it.src, it.at+"resource", "%q is not harvested", it.Resource)
			default:
				it.res = ri
			}
			if it.Factor < 2 || it.Factor > 10 {
				c.add(it.src, it.at+"factor", "%d outside 2..10", it.Factor)
			}
			if it.Seconds < 1 || it.Seconds > maxSeconds {
				c.add(it.src, it.at+"seconds", "%d outside 1..%d", it.Seconds, maxSeconds)
			}
		case ItemSpeedUp:
			if it.Target != TargetBuild && it.Target != TargetTraining {
				c.add(it.src, it.at+"target", "unknown target %q (want %q or %q)", it.Target, TargetBuild, TargetTraining)
			}
			if it.Seconds < 1 || it.Seconds > maxSeconds {
				c.add(it.src, it.at+"seconds", "%d outside 1..%d", it.Seconds, maxSeconds)
			}
		default:
			c.add(it.src, it.at+"kind", "unknown kind %q", it.Kind)
		}
	}

	if b.townHall != nil {
		crossCheck(c, b, gfile)
	}
	return c.ps
}

func checkID(c *checker, src, at, id string) {
	if !idPattern.MatchString(id) {
		c.add(src, at+"id", "%q is not a valid id (lower case letters, digits and _, starting with a letter, at most 32)", id)
	}
}

func checkBuilding(c *checker, b *Bundle, t *BuildingType, thMax int,
	checkCost func(string, string, map[string]int64, bool) []Amount, isPremium func(string) bool) {
	src, at := t.src, t.at
	switch t.Kind {
	case KindTownHall, KindBuilderHut, KindHarvester, KindStorage, KindTrainer, KindArmyCamp, KindDefense, KindWall:
	default:
		c.add(src, at+"kind", "unknown kind %q", t.Kind)
	}
	if t.W < 1 || t.H < 1 || t.W > b.Grid.W || t.H > b.Grid.H {
		c.add(src, at+"w", "footprint %dx%d does not fit the %dx%d grid", t.W, t.H, b.Grid.W, b.Grid.H)
	}
	if t.Kind == KindHarvester {
		ri, ok := b.resIdx[t.Resource]
		switch {
		case !ok:
			c.add(src, at+"resource", "unknown resource %q", t.Resource)
		case b.Resources[ri].Kind != Harvested:
			c.add(src, at+"resource", "%q is not a harvested resource", t.Resource)
		default:
			t.res = ri
		}
	} else if t.Resource != "" {
		c.add(src, at+"resource", "only harvesters produce a resource")
	}
	if len(t.MaxCount) != thMax {
		c.add(src, at+"max_count", "has %d entries, want one per town hall level (%d)", len(t.MaxCount), thMax)
	}
	for i, n := range t.MaxCount {
		f := fmt.Sprintf("%smax_count[%d]", at, i)
		if n < 0 || n > 500 {
			c.add(src, f, "%d outside 0..500", n)
		}
		if i > 0 && n < t.MaxCount[i-1] {
			c.add(src, f, "%d is below the previous town hall level's %d: counts must not shrink", n, t.MaxCount[i-1])
		}
		if t.Kind == KindTownHall && n != 1 {
			c.add(src, f, "a player has exactly one town hall")
		}
	}
	if len(t.MaxCount) > 0 && t.MaxCount[len(t.MaxCount)-1] == 0 {
		c.add(src, at+"max_count", "zero at every town hall level: unreachable content")
	}
	if len(t.Levels) == 0 || len(t.Levels) > maxLevels {
		c.add(src, at+"levels", "has %d levels, want 1..%d", len(t.Levels), maxLevels)
	}
	var value int64
	for i := range t.Levels {
		l := &t.Levels[i]
		f := fmt.Sprintf("%slevels[%d].", at, i)
		if l.Level != i+1 {
			c.add(src, f+"level", "is %d, want %d: levels must be listed 1, 2, 3... without gaps", l.Level, i+1)
		}
		l.cost = checkCost(src, f+"cost", l.Cost, true)
		if l.TimeS < 0 || l.TimeS > maxSeconds {
			c.add(src, f+"time_s", "%d outside 0..%d", l.TimeS, maxSeconds)
		}
		if t.Kind == KindTownHall {
			if l.TownHall != 0 {
				c.add(src, f+"th", "the town hall's own levels have no town hall requirement")
			}
		} else if l.TownHall < 1 || l.TownHall > thMax {
			c.add(src, f+"th", "town hall level %d does not exist (1..%d): unreachable", l.TownHall, thMax)
		}
		if l.HP <= 0 {
			c.add(src, f+"hp", "must be positive")
		}
		for j, r := range l.Requires {
			rf := fmt.Sprintf("%srequires[%d]", f, j)
			rt := b.bldIdx[r.Building]
			switch {
			case rt == nil:
				c.add(src, rf+".building", "unknown building type %q", r.Building)
			case rt == t:
				c.add(src, rf+".building", "a building cannot require itself (levels already require the one below)")
			case r.Level < 1 || r.Level > len(rt.Levels):
				c.add(src, rf+".level", "%s has no level %d (it has %d)", r.Building, r.Level, len(rt.Levels))
			}
		}
		for _, id := range sortedKeys(l.Storage) {
			n := l.Storage[id]
			ri, ok := b.resIdx[id]
			switch {
			case !ok:
				c.add(src, f+"storage."+id, "unknown resource %q", id)
			case isPremium(id):
				c.add(src, f+"storage."+id, "the premium currency has no storage cap")
			case n < 0 || n > maxAmount:
				c.add(src, f+"storage."+id, "%d outside 0..%d", n, int64(maxAmount))
			default:
				l.storage[ri] = n
			}
		}
		if len(l.Storage) > 0 && t.Kind != KindStorage && t.Kind != KindTownHall {
			c.add(src, f+"storage", "only storages and the town hall store resources")
		}
		if t.Kind == KindStorage && len(l.Storage) == 0 {
			c.add(src, f+"storage", "a storage must store something")
		}
		stat := func(name string, v int64, want bool) {
			switch {
			case want && (v <= 0 || v > maxAmount):
				c.add(src, f+name, "%d outside 1..%d", v, int64(maxAmount))
			case !want && v != 0:
				c.add(src, f+name, "not used by a %s", t.Kind)
			}
		}
		stat("rate", l.Rate, t.Kind == KindHarvester)
		stat("capacity", l.Capacity, t.Kind == KindHarvester)
		stat("housing", int64(l.Housing), t.Kind == KindArmyCamp)
		stat("queue", int64(l.Queue), t.Kind == KindTrainer)
		stat("builders", int64(l.Builders), t.Kind == KindBuilderHut)
		stat("dps", int64(l.DPS), t.Kind == KindDefense)
		stat("range", int64(l.Range), t.Kind == KindDefense)
		for _, a := range l.cost {
			if a.Res != b.premium {
				value += a.N
			}
		}
		l.value = value

		if i == 0 {
			continue
		}
		p := &t.Levels[i-1]
		for _, a := range l.cost {
			if prev, ok := p.Cost[a.ID]; ok && a.N < prev {
				c.add(src, f+"cost."+a.ID, "%d is below level %d's %d: costs must grow", a.N, i, prev)
			}
		}
		if l.TimeS < p.TimeS {
			c.add(src, f+"time_s", "%d is below level %d's %d: times must grow", l.TimeS, i, p.TimeS)
		}
		if t.Kind != KindTownHall && l.TownHall < p.TownHall {
			c.add(src, f+"th", "%d is below level %d's %d", l.TownHall, i, p.TownHall)
		}
		if l.HP <= p.HP {
			c.add(src, f+"hp", "%d must be above level %d's %d", l.HP, i, p.HP)
		}
		grow := func(name string, v, pv int64) {
			if v < pv {
				c.add(src, f+name, "%d is below level %d's %d: must not shrink", v, i, pv)
			}
		}
		grow("rate", l.Rate, p.Rate)
		grow("capacity", l.Capacity, p.Capacity)
		grow("housing", int64(l.Housing), int64(p.Housing))
		grow("queue", int64(l.Queue), int64(p.Queue))
		grow("builders", int64(l.Builders), int64(p.Builders))
		grow("dps", int64(l.DPS), int64(p.DPS))
		for r := range MaxResources {
			if l.storage[r] < p.storage[r] {
				c.add(src, f+"storage."+b.Resources[r].ID, "%d is below level %d's %d: must not shrink", l.storage[r], i, p.storage[r])
			}
		}
	}
}

// node is one building level in the prerequisite graph.
type node struct{ t, l int }

// crossCheck runs the checks that span entities: prerequisite cycles,
// reachability, storage capacity against costs, the initial base.
func crossCheck(c *checker, b *Bundle, gfile string) {
	th := b.townHall
	thMax := len(th.Levels)

	// Prerequisite graph over (building, level). Edges: a level needs the
	// level below, the town hall level it names, the first town hall level
	// at which the type may be owned at all (level 1), and its requires.
	// Problems reported above (bad levels, unknown references) leave
	// edges out rather than stopping: every problem is reported at once.
	valid := func(n node) bool { return n.l >= 1 && n.l <= len(b.Buildings[n.t].Levels) }
	edges := func(n node) []node {
		t := &b.Buildings[n.t]
		var out []node
		if n.l > 1 {
			out = append(out, node{n.t, n.l - 1})
		}
		l := &t.Levels[n.l-1]
		if t != th {
			if m := (node{th.idx, l.TownHall}); valid(m) {
				out = append(out, m)
			}
			if n.l == 1 {
				for i, cnt := range t.MaxCount {
					if cnt > 0 {
						out = append(out, node{th.idx, i + 1})
						break
					}
				}
			}
		}
		for _, r := range l.Requires {
			if rt := b.bldIdx[r.Building]; rt != nil {
				if m := (node{rt.idx, r.Level}); valid(m) {
					out = append(out, m)
				}
			}
		}
		return out
	}
	const (
		white = iota
		grey
		black
	)
	color := map[node]int{}
	effTH := map[node]int{} // lowest town hall level at which the level can be reached
	var stack []node
	cyclic := false
	var visit func(n node) int
	visit = func(n node) int {
		switch color[n] {
		case grey:
			i := slices.Index(stack, n)
			var parts []string
			for _, m := range append(stack[i:], n) {
				parts = append(parts, fmt.Sprintf("%s level %d", b.Buildings[m.t].ID, m.l))
			}
			t := &b.Buildings[n.t]
			c.add(t.src, fmt.Sprintf("%slevels[%d].requires", t.at, n.l-1), "prerequisite cycle: %s", strings.Join(parts, " → "))
			cyclic = true
			return math.MaxInt
		case black:
			return effTH[n]
		}
		color[n] = grey
		stack = append(stack, n)
		e := 0
		if n.t == th.idx {
			e = n.l
		}
		for _, m := range edges(n) {
			if v := visit(m); v > e {
				e = v
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		effTH[n] = e
		return e
	}
	for i := range b.Buildings {
		for l := range b.Buildings[i].Levels {
			visit(node{i, l + 1})
		}
	}
	if cyclic {
		return
	}
	for i := range b.Buildings {
		t := &b.Buildings[i]
		for l := range t.Levels {
			if e := effTH[node{i, l + 1}]; e > thMax {
				c.add(t.src, fmt.Sprintf("%slevels[%d]", t.at, l), "needs town hall level %d, which does not exist: unreachable", e)
			}
		}
	}

	// Most of each resource a player can store at each town hall level:
	// every storage type at its allowed count and best allowed level.
	capAt := make([][MaxResources]int64, thMax+1)
	for lv := 1; lv <= thMax; lv++ {
		for i := range b.Buildings {
			t := &b.Buildings[i]
			n := t.Count(lv)
			best := 0
			for l := range t.Levels {
				if effTH[node{i, l + 1}] <= lv {
					best = l + 1
				}
			}
			if t == th {
				n, best = 1, lv
			}
			if n == 0 || best == 0 {
				continue
			}
			for r := range MaxResources {
				capAt[lv][r] += int64(n) * t.Levels[best-1].storage[r]
			}
		}
	}
	needCap := func(src, field string, costs []Amount, lv int, what string) {
		for _, a := range costs {
			if a.Res == b.premium {
				continue
			}
			if cp := capAt[lv][a.Res]; a.N > cp {
				c.add(src, field+"."+a.ID, "%s costs %d, but at town hall level %d a player can store at most %d %s", what, a.N, lv, cp, a.ID)
			}
		}
	}
	for i := range b.Buildings {
		t := &b.Buildings[i]
		for l := range t.Levels {
			lv := effTH[node{i, l + 1}]
			if t == th {
				if l == 0 {
					continue // never paid: every player starts with one
				}
				lv = l // upgraded from the level below
			}
			needCap(t.src, fmt.Sprintf("%slevels[%d].cost", t.at, l), t.Levels[l].cost, lv, fmt.Sprintf("level %d", l+1))
		}
	}
	for i := range b.Units {
		u := &b.Units[i]
		tr := b.bldIdx[u.TrainedAt]
		if tr == nil || !valid(node{tr.idx, u.Level}) {
			continue
		}
		needCap(u.src, u.at+"cost", u.cost, effTH[node{tr.idx, u.Level}], "one unit")
	}
	for i := range b.Store {
		it := &b.Store[i]
		for _, a := range it.gives {
			if cp := capAt[thMax][a.Res]; a.N > cp {
				c.add(it.src, it.at+"gives."+a.ID, "%d never fits: at most %d %s can be stored: unreachable", a.N, cp, a.ID)
			}
		}
	}
	for ri, r := range b.Resources {
		if r.Kind != Harvested {
			continue
		}
		produced := false
		for i := range b.Buildings {
			produced = produced || b.Buildings[i].res == ri
		}
		if !produced {
			c.add(r.src, r.at+"kind", "no harvester produces %q", r.ID)
		}
		if capAt[thMax][ri] == 0 {
			c.add(r.src, r.at+"kind", "nothing stores %q", r.ID)
		}
	}
	maxHousing := 0
	for i := range b.Buildings {
		if t := &b.Buildings[i]; t.Kind == KindArmyCamp && len(t.Levels) > 0 {
			maxHousing += t.Count(thMax) * t.Levels[len(t.Levels)-1].Housing
		}
	}
	for i := range b.Units {
		if u := &b.Units[i]; u.Housing > maxHousing {
			c.add(u.src, u.at+"housing", "%d is more than all army camps hold (%d): unreachable", u.Housing, maxHousing)
		}
	}
	checkInitial(c, b, gfile)
}

func checkInitial(c *checker, b *Bundle, gfile string) {
	in := &b.Initial
	thLevel := 0
	var cp [MaxResources]int64
	counts := map[string]int{}
	type rect struct{ x, y, w, h int }
	var placed []rect
	for i, p := range in.Buildings {
		f := fmt.Sprintf("initial.buildings[%d]", i)
		t := b.bldIdx[p.Type]
		if t == nil {
			c.add(gfile, f+".type", "unknown building type %q", p.Type)
			continue
		}
		if p.Level < 1 || p.Level > len(t.Levels) {
			c.add(gfile, f+".level", "%s has no level %d", p.Type, p.Level)
			continue
		}
		if p.X < 0 || p.Y < 0 || p.X+t.W > b.Grid.W || p.Y+t.H > b.Grid.H {
			c.add(gfile, f, "%s at (%d,%d) is outside the grid", p.Type, p.X, p.Y)
		}
		r := rect{p.X, p.Y, t.W, t.H}
		for j, q := range placed {
			if r.x < q.x+q.w && q.x < r.x+r.w && r.y < q.y+q.h && q.y < r.y+r.h {
				c.add(gfile, f, "overlaps initial.buildings[%d]", j)
			}
		}
		placed = append(placed, r)
		counts[p.Type]++
		if t.Kind == KindTownHall {
			thLevel = p.Level
		}
		for r := range MaxResources {
			cp[r] += t.Levels[p.Level-1].storage[r]
		}
	}
	if counts[b.townHall.ID] != 1 {
		c.add(gfile, "initial.buildings", "must hold exactly one %s, has %d", b.townHall.ID, counts[b.townHall.ID])
		return
	}
	for i, p := range in.Buildings {
		t := b.bldIdx[p.Type]
		if t == nil || p.Level < 1 || p.Level > len(t.Levels) || t.Kind == KindTownHall {
			continue
		}
		if need := t.Levels[p.Level-1].TownHall; need > thLevel {
			c.add(gfile, fmt.Sprintf("initial.buildings[%d].level", i), "%s level %d needs town hall level %d", p.Type, p.Level, need)
		}
	}
	for _, id := range sortedKeys(counts) {
		if n, lim := counts[id], b.bldIdx[id].Count(thLevel); n > lim {
			c.add(gfile, "initial.buildings", "%d %s, at most %d allowed at town hall level %d", n, id, lim, thLevel)
		}
	}
	for _, id := range sortedKeys(in.Resources) {
		n := in.Resources[id]
		ri, ok := b.resIdx[id]
		switch {
		case !ok:
			c.add(gfile, "initial.resources."+id, "unknown resource %q", id)
		case n < 0:
			c.add(gfile, "initial.resources."+id, "negative amount %d", n)
		case b.Resources[ri].Kind != Premium && n > cp[ri]:
			c.add(gfile, "initial.resources."+id, "%d is above the initial storage capacity %d", n, cp[ri])
		}
	}
	if in.Trophies < 0 {
		c.add(gfile, "initial.trophies", "negative")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeProblem turns a JSON decoding error into a located problem.
func decodeProblem(file string, data []byte, err error) Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset)
		return Problem{File: file, Field: "line " + strconv.Itoa(line) + ":" + strconv.Itoa(col), Message: "invalid JSON: " + se.Error()}
	case errors.As(err, &te):
		return Problem{File: file, Field: te.Field, Message: fmt.Sprintf("got JSON %s, want %s", te.Value, te.Type)}
	}
	// Unknown fields and the like carry their name in the message.
	return Problem{File: file, Message: strings.TrimPrefix(err.Error(), "json: ")}
}

func lineCol(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
