package actions

import (
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"rampart/gamedata"
)

// Base is a player's whole game state. The state package saves it as the
// player document's "base" field. All times are Unix milliseconds; every
// time-based effect is stored as the moment it happens, never as a ticking
// counter, so CatchUp can resolve any amount of elapsed time at once.
//
// Apply and CatchUp change a Base in place; take a Clone to keep a
// snapshot.
type Base struct {
	// Res holds every resource's amount by resource id.
	Res map[string]int64 `json:"res"`
	// Buildings in the order they were placed.
	Buildings []Building `json:"bld"`
	// Army counts trained units by unit id.
	Army map[string]int `json:"army,omitempty"`
	// Boosts are active production boosts.
	Boosts []Boost `json:"boosts,omitempty"`
	// Trophies and ShieldUntil are for raids (a later issue).
	Trophies    int   `json:"trophies"`
	ShieldUntil int64 `json:"shield_until,omitempty"`
	// NextID numbers the next building ("b<NextID>").
	NextID int `json:"next_id"`
	// GD is the game data version this base was last reconciled with.
	GD string `json:"gd"`
}

// Building is one placed building.
type Building struct {
	ID    string `json:"id"`
	Type  string `json:"t"`
	Level int    `json:"lv"` // 0 while under construction
	X     int    `json:"x"`
	Y     int    `json:"y"`
	// Done is when the running upgrade to Level+1 (or the construction
	// to level 1) finishes; 0 when none runs.
	Done int64 `json:"done,omitempty"`
	// Harvesters: production accrues from Since (0 while not producing:
	// under construction or upgrade); Stored is what was produced before
	// Since and not yet collected.
	Since  int64 `json:"since,omitempty"`
	Stored int64 `json:"stored,omitempty"`
	// Trainers: the training queue and when its head unit started.
	Queue []Training `json:"q,omitempty"`
	QAt   int64      `json:"qat,omitempty"`
}

// Training is a run of identical units in a trainer's queue.
type Training struct {
	Unit string `json:"u"`
	N    int    `json:"n"`
}

// Boost multiplies a resource's production by Factor until Until.
type Boost struct {
	Res    string `json:"res"`
	Factor int64  `json:"x"`
	Until  int64  `json:"until"`
}

// New returns a new player's base: the game data's initial state at now.
func New(gd *gamedata.Bundle, now time.Time) Base {
	ms := now.UnixMilli()
	in := &gd.Initial
	b := Base{
		Res:      make(map[string]int64, len(gd.Resources)),
		Trophies: in.Trophies,
		GD:       gd.Version,
	}
	for _, r := range gd.Resources {
		b.Res[r.ID] = in.Resources[r.ID]
	}
	b.Buildings = make([]Building, 0, len(in.Buildings)+8)
	for _, p := range in.Buildings {
		b.NextID++
		bl := Building{ID: buildingID(b.NextID), Type: p.Type, Level: p.Level, X: p.X, Y: p.Y}
		if gd.Building(p.Type).Kind == gamedata.KindHarvester {
			bl.Since = ms
		}
		b.Buildings = append(b.Buildings, bl)
	}
	b.NextID++
	return b
}

func buildingID(n int) string {
	if n > 0 && n < len(smallIDs) {
		return smallIDs[n]
	}
	return "b" + strconv.Itoa(n)
}

// smallIDs are the building ids most bases use, allocated once and shared
// (read-only) so that building and decoding do not allocate them.
var smallIDs = func() (ids [1024]string) {
	for n := 1; n < len(ids); n++ {
		ids[n] = "b" + strconv.Itoa(n)
	}
	return ids
}()

// Clone returns a deep copy of b.
func (b *Base) Clone() Base {
	c := *b
	c.Res = maps.Clone(b.Res)
	c.Army = maps.Clone(b.Army)
	c.Boosts = slices.Clone(b.Boosts)
	c.Buildings = slices.Clone(b.Buildings)
	for i := range c.Buildings {
		if q := c.Buildings[i].Queue; q != nil {
			c.Buildings[i].Queue = slices.Clone(q)
		}
	}
	return c
}

// find returns the index of building id, or -1. It does not allocate.
func (b *Base) find(id string) int {
	for i := range b.Buildings {
		if b.Buildings[i].ID == id {
			return i
		}
	}
	return -1
}

// totals are the numbers derived from all buildings at once.
type totals struct {
	th       int // town hall level
	cap      [gamedata.MaxResources]int64
	builders int
	busy     int
	housing  int // army camp space
}

// scan derives totals from b's buildings. A building counts once it has
// reached level 1; one under upgrade keeps its current level's effect.
func scan(b *Base, gd *gamedata.Bundle) totals {
	var t totals
	th := gd.TownHall()
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		if bl.Done > 0 {
			t.busy++
		}
		if bl.Level < 1 {
			continue
		}
		bt := gd.Building(bl.Type)
		if bt == nil {
			continue
		}
		lv := bt.Level(bl.Level)
		if lv == nil {
			continue
		}
		switch bt.Kind {
		case gamedata.KindTownHall:
			if bt == th {
				t.th = max(t.th, bl.Level)
			}
			addStorage(&t, lv, gd)
		case gamedata.KindStorage:
			addStorage(&t, lv, gd)
		case gamedata.KindBuilderHut:
			t.builders += lv.Builders
		case gamedata.KindArmyCamp:
			t.housing += lv.Housing
		}
	}
	return t
}

func addStorage(t *totals, lv *gamedata.Level, gd *gamedata.Bundle) {
	for r := range gd.Resources {
		t.cap[r] += lv.StorageOf(r)
	}
}

// capacity is how much of resource index r fits; premium is unlimited.
func (t *totals) capacity(gd *gamedata.Bundle, r int) int64 {
	if r == gd.PremiumIndex() {
		return 1<<62 - 1
	}
	return t.cap[r]
}

// hasLevel reports whether some building of type typ has reached level.
func (b *Base) hasLevel(typ string, level int) bool {
	for i := range b.Buildings {
		if bl := &b.Buildings[i]; bl.Type == typ && bl.Level >= level {
			return true
		}
	}
	return false
}

func (b *Base) count(typ string) int {
	n := 0
	for i := range b.Buildings {
		if b.Buildings[i].Type == typ {
			n++
		}
	}
	return n
}

// requirementsMet checks a level's town hall and building prerequisites.
func (b *Base) requirementsMet(bt *gamedata.BuildingType, lv *gamedata.Level, th int) bool {
	if bt.Kind != gamedata.KindTownHall && lv.TownHall > th {
		return false
	}
	for _, r := range lv.Requires {
		if !b.hasLevel(r.Building, r.Level) {
			return false
		}
	}
	return true
}

func (b *Base) canPay(costs []gamedata.Amount, times int64) bool {
	for _, a := range costs {
		if b.Res[a.ID] < a.N*times {
			return false
		}
	}
	return true
}

func (b *Base) pay(costs []gamedata.Amount, times int64) {
	for _, a := range costs {
		b.Res[a.ID] -= a.N * times
	}
}

// fits reports whether a w×h footprint at (x, y) is inside the grid and
// overlaps no building other than skip (an index, or -1).
func (b *Base) fits(gd *gamedata.Bundle, x, y, w, h, skip int) (inside, free bool) {
	if x < 0 || y < 0 || x > gd.Grid.W-w || y > gd.Grid.H-h {
		return false, false
	}
	for i := range b.Buildings {
		if i == skip {
			continue
		}
		o := &b.Buildings[i]
		ot := gd.Building(o.Type)
		if ot == nil {
			continue
		}
		if x < o.X+ot.W && o.X < x+w && y < o.Y+ot.H && o.Y < y+h {
			return true, false
		}
	}
	return true, true
}

// boostFactor is the production multiplier for resource id now. CatchUp
// has removed expired boosts, so any boost present is running.
func (b *Base) boostFactor(res string) int64 {
	for _, x := range b.Boosts {
		if x.Res == res {
			return x.Factor
		}
	}
	return 1
}

// available is what harvester bl holds at now: Stored plus production
// since Since, capped by the harvester's capacity.
func available(bl *Building, bt *gamedata.BuildingType, factor, now int64) int64 {
	lv := bt.Level(bl.Level)
	if lv == nil {
		return bl.Stored
	}
	s := bl.Stored
	if bl.Since > 0 && now > bl.Since && s < lv.Capacity {
		s += produced(lv.Rate*factor, now-bl.Since, lv.Capacity-s)
	}
	return min(s, lv.Capacity)
}

// produced is perHour×ms/1h, at most limit, without overflow.
func produced(perHour, ms, limit int64) int64 {
	const hour = 3_600_000
	hi, lo := bits.Mul64(uint64(perHour), uint64(ms))
	if hi >= hour {
		return limit
	}
	q, _ := bits.Div64(hi, lo, hour)
	if q > uint64(limit) {
		return limit
	}
	return int64(q)
}

// materialize moves production up to t into Stored, so the rate can change
// at t.
func (b *Base) materialize(bl *Building, bt *gamedata.BuildingType, t int64) {
	if bl.Since == 0 {
		return
	}
	bl.Stored = available(bl, bt, b.boostFactor(bt.Resource), t)
	if t > bl.Since {
		bl.Since = t
	}
}

// finishUpgrade completes bl's running upgrade at t.
func (b *Base) finishUpgrade(bl *Building, gd *gamedata.Bundle, t int64) {
	bl.Level++
	bl.Done = 0
	if bt := gd.Building(bl.Type); bt != nil && bt.Kind == gamedata.KindHarvester {
		bl.Since = t
	}
}

// unitMs is a unit's training time in ms (1 for a unit the game data no
// longer has, which Reconcile removes).
func unitMs(gd *gamedata.Bundle, id string) int64 {
	if u := gd.Unit(id); u != nil {
		return u.TimeS * 1000
	}
	return 1
}

// advanceQueue moves units whose training finished by now into the army.
func (b *Base) advanceQueue(bl *Building, gd *gamedata.Bundle, now int64) {
	for len(bl.Queue) > 0 {
		head := &bl.Queue[0]
		t := unitMs(gd, head.Unit)
		if now-bl.QAt < t {
			return
		}
		k := min(int64(head.N), (now-bl.QAt)/t)
		b.addArmy(head.Unit, int(k))
		head.N -= int(k)
		bl.QAt += k * t
		if head.N > 0 {
			return
		}
		bl.Queue = bl.Queue[1:]
	}
	bl.Queue, bl.QAt = nil, 0
}

func (b *Base) addArmy(unit string, n int) {
	if n == 0 {
		return
	}
	if b.Army == nil {
		b.Army = map[string]int{}
	}
	b.Army[unit] += n
}

// queueDone is when bl's whole queue finishes (0 when empty).
func queueDone(bl *Building, gd *gamedata.Bundle) int64 {
	if len(bl.Queue) == 0 {
		return 0
	}
	t := bl.QAt
	for _, q := range bl.Queue {
		t += int64(q.N) * unitMs(gd, q.Unit)
	}
	return t
}

// CatchUp resolves every time-based effect up to now: upgrades finishing,
// boosts ending, production accruing, training queues advancing. It is
// idempotent and path-independent: catching up to t1 and then to t2 gives
// the same base as catching up to t2 once, so it may run whenever the base
// is observed (login, GET /player) or acted on (Apply runs it first). A base
// last reconciled with another game data version is reconciled first.
func CatchUp(b *Base, gd *gamedata.Bundle, now time.Time) {
	ms := now.UnixMilli()
	if b.GD != gd.Version {
		reconcile(b, gd, ms)
	}
	b.catchUp(gd, ms)
}

func (b *Base) catchUp(gd *gamedata.Bundle, now int64) {
	// Upgrades and boost ends change production rates, so they are
	// applied in time order, each at its own moment. Ties: upgrades
	// first, then by position.
	for {
		at, bi, xi := int64(0), -1, -1
		for i := range b.Buildings {
			if d := b.Buildings[i].Done; d > 0 && d <= now && (bi < 0 || d < at) {
				at, bi = d, i
			}
		}
		for i, x := range b.Boosts {
			if x.Until <= now && (bi < 0 && xi < 0 || x.Until < at) {
				at, bi, xi = x.Until, -1, i
			}
		}
		switch {
		case bi >= 0:
			b.finishUpgrade(&b.Buildings[bi], gd, at)
			continue
		case xi >= 0:
			res := b.Boosts[xi].Res
			for i := range b.Buildings {
				bl := &b.Buildings[i]
				if bt := gd.Building(bl.Type); bt != nil && bt.Kind == gamedata.KindHarvester && bt.Resource == res {
					b.materialize(bl, bt, at)
				}
			}
			b.Boosts = slices.Delete(b.Boosts, xi, xi+1)
			if len(b.Boosts) == 0 {
				b.Boosts = nil
			}
			continue
		}
		break
	}
	// Training depends on nothing above: housing was reserved when the
	// units were queued.
	for i := range b.Buildings {
		if bl := &b.Buildings[i]; len(bl.Queue) > 0 {
			b.advanceQueue(bl, gd, now)
		}
	}
}

// nextEvent is the earliest moment a time-based effect happens (0: none).
func (b *Base) nextEvent(gd *gamedata.Bundle) int64 {
	var at int64
	earlier := func(t int64) {
		if t > 0 && (at == 0 || t < at) {
			at = t
		}
	}
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		earlier(bl.Done)
		if len(bl.Queue) > 0 {
			earlier(bl.QAt + unitMs(gd, bl.Queue[0].Unit))
		}
	}
	for _, x := range b.Boosts {
		earlier(x.Until)
	}
	return at
}

// NextEvent is the earliest moment an upgrade finishes, a unit finishes
// training or a boost ends: when a pushed update (or a timer) is due. ok
// is false when nothing is running. Harvesters filling up are not events:
// production is resolved when collected.
func NextEvent(b *Base, gd *gamedata.Bundle) (at time.Time, ok bool) {
	t := b.nextEvent(gd)
	if t == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(t), true
}
