package loadtest

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"strconv"
	"time"
)

// model is a player's base as last read, kept just well enough to choose
// moves that should be valid (ACTIONS.md): it is replaced on every state
// read, nudged by each acknowledged result in between, and advanced on the
// local clock (upgrades finishing, training queues emptying). A refused
// move means it drifted, and asks for a re-read.
//
// It also carries the expectations the ledger holds state reads against
// beyond last_seq: premium currency only moves when an acknowledged action
// spends it, units in army plus queues only change by acknowledged training
// and cancelling, and every building an acknowledged build created exists
// until an acknowledged cancel removes it. None of these depend on time.
//
// Owned by whichever worker holds the player.
type model struct {
	gd     *gameData // nil: the server has no game data we can read
	loaded bool
	offset int64 // server clock minus local clock, ms, from the last read

	res    map[string]int64
	bld    []mBuilding
	army   map[string]int
	boosts []mBoost
	baseGD string // game data version the base was reconciled with
	// found is the opponent the last find_opponent offered, until foundAt
	// (server ms), from the last state read.
	found   string
	foundAt int64

	// expectations, valid while exp.ok
	exp expectations
}

type mBuilding struct {
	ID     string      `json:"id"`
	T      string      `json:"t"`
	Lv     int         `json:"lv"`
	X      int         `json:"x"`
	Y      int         `json:"y"`
	Done   int64       `json:"done"`
	Since  int64       `json:"since"`
	Stored int64       `json:"stored"`
	Q      []mTraining `json:"q"`
	QAt    int64       `json:"qat"`
}

type mTraining struct {
	U string `json:"u"`
	N int    `json:"n"`
}

type mBoost struct {
	Res   string `json:"res"`
	X     int64  `json:"x"`
	Until int64  `json:"until"`
}

type expectations struct {
	ok        bool
	premium   int64
	units     map[string]int  // army + queued, by unit
	buildings map[string]bool // ids that must exist
}

// now is the server's clock as this player estimates it, in ms.
func (m *model) now() int64 { return time.Now().UnixMilli() + m.offset }

// load replaces the model with the player object read from the server and,
// when every reply since the last read is known (!doubtful), holds the read
// against the expectations first.
func (m *model) load(p *player, where string, raw, body []byte, doubtful bool) {
	if st := field(body, "server_time"); st != nil {
		if ms, err := strconv.ParseInt(string(st), 10, 64); err == nil {
			m.offset = ms - time.Now().UnixMilli()
		}
	}
	if m.gd == nil {
		return
	}
	var doc struct {
		Base struct {
			Res    map[string]int64 `json:"res"`
			Bld    []mBuilding      `json:"bld"`
			Army   map[string]int   `json:"army"`
			Boosts []mBoost         `json:"boosts"`
			GD     string           `json:"gd"`
		} `json:"base"`
		Found *struct {
			ID    string `json:"id"`
			Until int64  `json:"until"`
		} `json:"found"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		p.led.problem("%s: player JSON: %v", where, err)
		return
	}
	b := &doc.Base
	m.res, m.bld, m.army, m.boosts, m.baseGD = b.Res, b.Bld, b.Army, b.Boosts, b.GD
	m.found, m.foundAt = "", 0
	if doc.Found != nil {
		m.found, m.foundAt = doc.Found.ID, doc.Found.Until
	}
	if m.res == nil {
		m.res = map[string]int64{}
	}
	m.loaded = true

	got := m.expectations()
	if m.exp.ok && !doubtful && m.baseGD == m.gd.Version {
		m.check(p, where, &got)
	}
	m.exp = got
}

// expectations derives what later reads must show from the current model.
func (m *model) expectations() expectations {
	e := expectations{ok: true, premium: m.res[m.gd.premium], units: maps.Clone(m.army), buildings: map[string]bool{}}
	if e.units == nil {
		e.units = map[string]int{}
	}
	for i := range m.bld {
		b := &m.bld[i]
		e.buildings[b.ID] = true
		for _, q := range b.Q {
			e.units[q.U] += q.N
		}
	}
	return e
}

func (m *model) check(p *player, where string, got *expectations) {
	want := &m.exp
	if got.premium != want.premium {
		p.led.problem("%s: %s is %d, acknowledged actions leave %d", where, m.gd.premium, got.premium, want.premium)
	}
	for u, n := range want.units {
		if got.units[u] != n {
			p.led.problem("%s: %d %s in army and queues, acknowledged actions leave %d", where, got.units[u], u, n)
		}
	}
	for u, n := range got.units {
		if _, ok := want.units[u]; !ok && n != 0 {
			p.led.problem("%s: %d %s in army and queues, acknowledged actions leave 0", where, n, u)
		}
	}
	for id := range want.buildings {
		if !got.buildings[id] {
			p.led.problem("%s: building %s is gone, though no acknowledged action removed it", where, id)
		}
	}
}

// catchUp advances the model to now on the local clock: upgrades finish,
// training queues move into the army, boosts end.
func (m *model) catchUp(now int64) {
	for i := range m.bld {
		b := &m.bld[i]
		if b.Done > 0 && b.Done <= now {
			b.Lv++
			b.Done = 0
			if bt := m.gd.building[b.T]; bt != nil && bt.Kind == "harvester" {
				b.Since = now
			}
		}
		for len(b.Q) > 0 {
			u := m.gd.unit[b.Q[0].U]
			ms := int64(1)
			if u != nil {
				ms = max(u.TimeS*1000, 1)
			}
			if now-b.QAt < ms {
				break
			}
			k := min(int64(b.Q[0].N), (now-b.QAt)/ms)
			m.addArmy(b.Q[0].U, int(k))
			b.Q[0].N -= int(k)
			b.QAt += k * ms
			if b.Q[0].N == 0 {
				b.Q = b.Q[1:]
			}
		}
	}
	kept := m.boosts[:0]
	for _, x := range m.boosts {
		if x.Until > now {
			kept = append(kept, x)
		}
	}
	m.boosts = kept
}

func (m *model) addArmy(u string, n int) {
	if n == 0 {
		return
	}
	if m.army == nil {
		m.army = map[string]int{}
	}
	m.army[u] += n
}

// totals are derived from all buildings, as the rules derive them.
type totals struct {
	th       int
	cap      map[string]int64
	builders int
	busy     int
	housing  int // army camp space
	used     int // housing taken by the army and every queue
}

func (m *model) totals() totals {
	t := totals{cap: map[string]int64{}}
	for i := range m.bld {
		b := &m.bld[i]
		if b.Done > 0 {
			t.busy++
		}
		bt := m.gd.building[b.T]
		if bt == nil {
			continue
		}
		for _, q := range b.Q {
			if u := m.gd.unit[q.U]; u != nil {
				t.used += q.N * u.Housing
			}
		}
		lv := bt.level(b.Lv)
		if lv == nil {
			continue
		}
		switch bt.Kind {
		case "town_hall":
			t.th = max(t.th, b.Lv)
			addCap(t.cap, lv.Storage)
		case "storage":
			addCap(t.cap, lv.Storage)
		case "builder_hut":
			t.builders += lv.Builders
		case "army_camp":
			t.housing += lv.Housing
		}
	}
	for id, n := range m.army {
		if u := m.gd.unit[id]; u != nil {
			t.used += n * u.Housing
		}
	}
	return t
}

func addCap(c, s map[string]int64) {
	for k, v := range s {
		c[k] += v
	}
}

// capacity is how much of res fits; premium currency has no cap.
func (m *model) capacity(t *totals, res string) int64 {
	if res == m.gd.premium {
		return 1<<62 - 1
	}
	return t.cap[res]
}

func (m *model) canPay(cost map[string]int64, times int64) bool {
	for r, n := range cost {
		if m.res[r] < n*times {
			return false
		}
	}
	return true
}

func (m *model) pay(cost map[string]int64, times int64) {
	for r, n := range cost {
		m.res[r] -= n * times
	}
}

func (m *model) count(typ string) int {
	n := 0
	for i := range m.bld {
		if m.bld[i].T == typ {
			n++
		}
	}
	return n
}

func (m *model) requirementsMet(bt *gdBuilding, lv *gdLevel, th int) bool {
	if bt.Kind != "town_hall" && lv.TH > th {
		return false
	}
	for _, r := range lv.Requires {
		ok := false
		for i := range m.bld {
			if m.bld[i].T == r.Building && m.bld[i].Lv >= r.Level {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// fits reports whether a w×h footprint at (x, y) is on the grid and clear
// of every building but skip.
func (m *model) fits(x, y, w, h, skip int) bool {
	if x < 0 || y < 0 || x > m.gd.Grid.W-w || y > m.gd.Grid.H-h {
		return false
	}
	for i := range m.bld {
		if i == skip {
			continue
		}
		o := &m.bld[i]
		ot := m.gd.building[o.T]
		if ot == nil {
			continue
		}
		if x < o.X+ot.W && o.X < x+w && y < o.Y+ot.H && o.Y < y+h {
			return false
		}
	}
	return true
}

// spot finds a free place for a w×h footprint by a few random tries.
func (m *model) spot(r *rand.Rand, w, h, skip int) (int, int, bool) {
	for range 24 {
		x, y := r.IntN(m.gd.Grid.W-w+1), r.IntN(m.gd.Grid.H-h+1)
		if m.fits(x, y, w, h, skip) {
			return x, y, true
		}
	}
	return 0, 0, false
}

func (m *model) find(id string) int {
	for i := range m.bld {
		if m.bld[i].ID == id {
			return i
		}
	}
	return -1
}

func (m *model) boost(res string) int64 {
	for _, x := range m.boosts {
		if x.Res == res {
			return x.X
		}
	}
	return 1
}

// available estimates what harvester b holds at now.
func (m *model) available(b *mBuilding, bt *gdBuilding, now int64) int64 {
	lv := bt.level(b.Lv)
	if lv == nil {
		return b.Stored
	}
	s := b.Stored
	if b.Since > 0 && now > b.Since && s < lv.Capacity {
		s += lv.Rate * m.boost(bt.Resource) * (now - b.Since) / 3_600_000
	}
	return min(s, lv.Capacity)
}

// ready prepares the model for planning: it must be loaded and caught up.
func (m *model) ready() (int64, bool) {
	if m.gd == nil || !m.loaded {
		return 0, false
	}
	now := m.now()
	m.catchUp(now)
	return now, true
}

// Argument writers. Ids and type names come from the server and the game
// data, so they are escaped like anything else.

func argsBuilding(a []byte, id string) []byte {
	a = append(a, `{"building_id":`...)
	a = appendString(a, id)
	return append(a, '}')
}

// pick returns a random index below n, or -1 when n is 0.
func pick(r *rand.Rand, n int) int {
	if n == 0 {
		return -1
	}
	return r.IntN(n)
}

// The planners. Each chooses among the moves the model says are valid
// now, writes it into a and reports whether there was one. cand is
// scratch, reused by each planner call of one player.

func planCollect(p *player, a *planned) bool {
	m := &p.m
	now, ok := m.ready()
	if !ok {
		return false
	}
	t := m.totals()
	cand := p.cand[:0]
	for i := range m.bld {
		b := &m.bld[i]
		bt := m.gd.building[b.T]
		if bt == nil || bt.Kind != "harvester" || b.Lv < 1 {
			continue
		}
		if m.available(b, bt, now) >= 1 && m.res[bt.Resource] < m.capacity(&t, bt.Resource) {
			cand = append(cand, i)
		}
	}
	p.cand = cand
	i := pick(p.rng, len(cand))
	if i < 0 {
		return false
	}
	a.name = "collect"
	if p.rng.IntN(4) == 0 {
		a.args = append(a.args, "{}"...) // everything at once
	} else {
		a.args = argsBuilding(a.args, m.bld[cand[i]].ID)
	}
	return true
}

func planUpgrade(p *player, a *planned) bool {
	m := &p.m
	if _, ok := m.ready(); !ok {
		return false
	}
	t := m.totals()
	cand := p.cand[:0]
	for i := range m.bld {
		b := &m.bld[i]
		bt := m.gd.building[b.T]
		if bt == nil || b.Done > 0 || b.Lv < 1 {
			continue
		}
		lv := bt.level(b.Lv + 1)
		if lv == nil || !m.requirementsMet(bt, lv, t.th) || !m.canPay(lv.Cost, 1) {
			continue
		}
		if lv.TimeS > 0 && t.busy >= t.builders {
			continue
		}
		cand = append(cand, i)
	}
	return p.onCandidate(a, cand, "upgrade_building")
}

func planBuild(p *player, a *planned) bool { return planBuildOf(p, a, "") }

// planBuildOf places a new building of type only (any type when only is
// empty) that the town hall allows and the player can pay for.
func planBuildOf(p *player, a *planned, only string) bool {
	m := &p.m
	if _, ok := m.ready(); !ok {
		return false
	}
	t := m.totals()
	cand := p.cand[:0]
	for i, bt := range m.gd.Buildings {
		if only != "" && bt.ID != only {
			continue
		}
		lv := bt.level(1)
		if m.count(bt.ID) >= bt.count(t.th) || !m.requirementsMet(bt, lv, t.th) || !m.canPay(lv.Cost, 1) {
			continue
		}
		if lv.TimeS > 0 && t.busy >= t.builders {
			continue
		}
		cand = append(cand, i)
	}
	p.cand = cand
	i := pick(p.rng, len(cand))
	if i < 0 {
		return false
	}
	bt := m.gd.Buildings[cand[i]]
	x, y, ok := m.spot(p.rng, bt.W, bt.H, -1)
	if !ok {
		return false
	}
	a.name = "build"
	a.args = append(a.args, `{"type":`...)
	a.args = appendString(a.args, bt.ID)
	a.args = append(a.args, `,"x":`...)
	a.args = strconv.AppendInt(a.args, int64(x), 10)
	a.args = append(a.args, `,"y":`...)
	a.args = strconv.AppendInt(a.args, int64(y), 10)
	a.args = append(a.args, '}')
	return true
}

// planPrepareRaid takes the next step towards an army, as a player who
// wants to raid soon does: a barracks and an army camp, sped up with gems,
// then units, sped up too. A player with an army leaves the rest to
// find_opponent and attack.
func planPrepareRaid(p *player, a *planned) bool {
	m := &p.m
	if _, ok := m.ready(); !ok {
		return false
	}
	if m.armySize() > 0 {
		return false
	}
	for _, typ := range []string{"barracks", "army_camp"} {
		if m.count(typ) == 0 { // builders busy: speed something up to free one
			return planBuildOf(p, a, typ) || planSpeedUp(p, a)
		}
	}
	return planSpeedUpRaiders(p, a) || planTrain(p, a)
}

// planSpeedUpRaiders speeds up a barracks or army camp being built, or a
// barracks' training queue: the raid preparation's waits.
func planSpeedUpRaiders(p *player, a *planned) bool {
	m := &p.m
	now, _ := m.ready()
	gems := m.res[m.gd.premium]
	cand := p.cand[:0]
	for i := range m.bld {
		b := &m.bld[i]
		if b.T != "barracks" && b.T != "army_camp" {
			continue
		}
		if b.Done > now+2000 && m.gd.speedUpCost(b.Done-now) <= gems ||
			b.Done == 0 && len(b.Q) > 0 && m.queueDone(b) > now+2000 && m.gd.speedUpCost(m.queueDone(b)-now) <= gems {
			cand = append(cand, i)
		}
	}
	return p.onCandidate(a, cand, "speed_up")
}

func planMove(p *player, a *planned) bool {
	m := &p.m
	if _, ok := m.ready(); !ok || len(m.bld) == 0 {
		return false
	}
	i := p.rng.IntN(len(m.bld))
	bt := m.gd.building[m.bld[i].T]
	if bt == nil {
		return false
	}
	x, y, ok := m.spot(p.rng, bt.W, bt.H, i)
	if !ok {
		return false
	}
	a.name = "move_building"
	a.args = append(a.args, `{"building_id":`...)
	a.args = appendString(a.args, m.bld[i].ID)
	a.args = append(a.args, `,"x":`...)
	a.args = strconv.AppendInt(a.args, int64(x), 10)
	a.args = append(a.args, `,"y":`...)
	a.args = strconv.AppendInt(a.args, int64(y), 10)
	a.args = append(a.args, '}')
	return true
}

func argsTrain(a []byte, id, unit string, n int) []byte {
	a = append(a, `{"building_id":`...)
	a = appendString(a, id)
	a = append(a, `,"unit":`...)
	a = appendString(a, unit)
	a = append(a, `,"count":`...)
	a = strconv.AppendInt(a, int64(n), 10)
	return append(a, '}')
}

func planTrain(p *player, a *planned) bool {
	m := &p.m
	if _, ok := m.ready(); !ok {
		return false
	}
	t := m.totals()
	n := 1 + p.rng.IntN(3)
	type choice struct{ b, u int }
	var cands [16]choice
	cand := cands[:0]
	for i := range m.bld {
		b := &m.bld[i]
		bt := m.gd.building[b.T]
		if bt == nil || bt.Kind != "trainer" || b.Lv < 1 {
			continue
		}
		lv := bt.level(b.Lv)
		queued := 0
		for _, q := range b.Q {
			if u := m.gd.unit[q.U]; u != nil {
				queued += q.N * u.Housing
			}
		}
		for j, u := range m.gd.Units {
			space := n * u.Housing
			if u.TrainedAt != bt.ID || u.Level > b.Lv || lv == nil || queued+space > lv.Queue ||
				t.used+space > t.housing || !m.canPay(u.Cost, int64(n)) {
				continue
			}
			if len(cand) < cap(cands) {
				cand = append(cand, choice{i, j})
			}
		}
	}
	if len(cand) == 0 {
		return false
	}
	c := cand[p.rng.IntN(len(cand))]
	a.name = "train_units"
	a.args = argsTrain(a.args, m.bld[c.b].ID, m.gd.Units[c.u].ID, n)
	return true
}

func planCancelTraining(p *player, a *planned) bool {
	m := &p.m
	if _, ok := m.ready(); !ok {
		return false
	}
	cand := p.cand[:0]
	for i := range m.bld {
		if len(m.bld[i].Q) > 0 {
			cand = append(cand, i)
		}
	}
	p.cand = cand
	i := pick(p.rng, len(cand))
	if i < 0 {
		return false
	}
	b := &m.bld[cand[i]]
	q := b.Q[p.rng.IntN(len(b.Q))]
	a.name = "cancel_training"
	a.args = argsTrain(a.args, b.ID, q.U, 1+p.rng.IntN(q.N))
	return true
}

func planCancelUpgrade(p *player, a *planned) bool {
	m := &p.m
	now, ok := m.ready()
	if !ok {
		return false
	}
	cand := p.cand[:0]
	for i := range m.bld {
		// Not in the last seconds: it might finish before we arrive.
		if m.bld[i].Done > now+2000 {
			cand = append(cand, i)
		}
	}
	return p.onCandidate(a, cand, "cancel_upgrade")
}

func planSpeedUp(p *player, a *planned) bool {
	m := &p.m
	now, ok := m.ready()
	if !ok {
		return false
	}
	gems := m.res[m.gd.premium]
	cand := p.cand[:0]
	for i := range m.bld {
		b := &m.bld[i]
		if b.Done > now+2000 && m.gd.speedUpCost(b.Done-now) <= gems {
			cand = append(cand, i)
		} else if b.Done == 0 && len(b.Q) > 0 && m.gd.speedUpCost(m.queueDone(b)-now) <= gems && m.queueDone(b) > now+2000 {
			cand = append(cand, i)
		}
	}
	return p.onCandidate(a, cand, "speed_up")
}

func (m *model) queueDone(b *mBuilding) int64 {
	t := b.QAt
	for _, q := range b.Q {
		if u := m.gd.unit[q.U]; u != nil {
			t += int64(q.N) * max(u.TimeS*1000, 1)
		}
	}
	return t
}

func planBuy(p *player, a *planned) bool {
	m := &p.m
	now, ok := m.ready()
	if !ok {
		return false
	}
	t := m.totals()
	gems := m.res[m.gd.premium]
	cand := p.cand[:0]
	for i, it := range m.gd.Store {
		if it.TH > t.th || it.Price > gems {
			continue
		}
		switch it.Kind {
		case "resources":
			fits := true
			for r, n := range it.Gives {
				if m.res[r]+n > m.capacity(&t, r) {
					fits = false
				}
			}
			if !fits {
				continue
			}
		case "speed_up":
			running := false
			for j := range m.bld {
				b := &m.bld[j]
				if it.Target == "build" && b.Done > now+2000 || it.Target == "training" && len(b.Q) > 0 {
					running = true
				}
			}
			if !running {
				continue
			}
		case "boost":
			has := false
			for j := range m.bld {
				if bt := m.gd.building[m.bld[j].T]; bt != nil && bt.Kind == "harvester" && bt.Resource == it.Resource {
					has = true
				}
			}
			if !has {
				continue
			}
		default:
			continue
		}
		cand = append(cand, i)
	}
	p.cand = cand
	i := pick(p.rng, len(cand))
	if i < 0 {
		return false
	}
	a.name = "buy_item"
	a.args = append(a.args, `{"item":`...)
	a.args = appendString(a.args, m.gd.Store[cand[i]].ID)
	a.args = append(a.args, '}')
	return true
}

// applied nudges the model by an acknowledged success, so the next moves
// are chosen from the state the server now has.
func (m *model) applied(p *player, a *planned, r *result) {
	now, ok := m.ready()
	if !ok {
		return
	}
	switch a.name {
	case "find_opponent":
		p.needRefresh = true // the offer lands in the player's state
		return
	case "attack":
		// The units left; the loot lands later: re-read, and derive the
		// expectations afresh from that read.
		m.army, m.found = nil, ""
		m.exp.ok = false
		p.needRefresh = true
		return
	case "build":
		var args struct {
			Type string `json:"type"`
			X, Y int
		}
		json.Unmarshal(a.args, &args)
		bt := m.gd.building[args.Type]
		if bt == nil {
			return
		}
		m.pay(bt.level(1).Cost, 1)
		nb := mBuilding{ID: string(unquote(field(r.raw, "building_id"))), T: bt.ID, X: args.X, Y: args.Y, Done: intField(r.raw, "done")}
		if nb.Done == 0 {
			nb.Lv = 1
			if bt.Kind == "harvester" {
				nb.Since = now
			}
		}
		m.bld = append(m.bld, nb)
		m.exp.buildings[nb.ID] = true
		m.exp.premium -= bt.level(1).Cost[m.gd.premium]
	case "upgrade_building":
		i := m.find(argString(a.args, "building_id"))
		if i < 0 {
			return
		}
		b := &m.bld[i]
		bt := m.gd.building[b.T]
		if lv := bt.level(b.Lv + 1); lv != nil {
			m.pay(lv.Cost, 1)
			m.exp.premium -= lv.Cost[m.gd.premium]
		}
		if bt.Kind == "harvester" {
			b.Stored = m.available(b, bt, now)
		}
		if done := intField(r.raw, "done"); done > 0 {
			b.Done = done
			if bt.Kind == "harvester" {
				b.Since = 0
			}
		} else {
			b.Lv++
		}
	case "cancel_upgrade":
		i := m.find(argString(a.args, "building_id"))
		if i < 0 {
			return
		}
		addAmounts(m.res, field(r.raw, "refund"))
		if string(field(r.raw, "removed")) == "true" {
			delete(m.exp.buildings, m.bld[i].ID)
			m.bld = append(m.bld[:i], m.bld[i+1:]...)
			return
		}
		m.bld[i].Done = 0
		if bt := m.gd.building[m.bld[i].T]; bt != nil && bt.Kind == "harvester" {
			m.bld[i].Since = now
		}
	case "speed_up":
		spent := intField(r.raw, "spent")
		m.res[m.gd.premium] -= spent
		m.exp.premium -= spent
		i := m.find(argString(a.args, "building_id"))
		if i < 0 {
			return
		}
		b := &m.bld[i]
		if b.Done > 0 {
			b.Lv++
			b.Done = 0
			if bt := m.gd.building[b.T]; bt != nil && bt.Kind == "harvester" {
				b.Since = now
			}
		} else {
			for _, q := range b.Q {
				m.addArmy(q.U, q.N)
			}
			b.Q, b.QAt = nil, 0
		}
	case "collect":
		addAmounts(m.res, field(r.raw, "collected"))
		id := argString(a.args, "building_id")
		for i := range m.bld {
			b := &m.bld[i]
			if bt := m.gd.building[b.T]; bt != nil && bt.Kind == "harvester" && b.Lv >= 1 && (id == "" || id == b.ID) {
				b.Stored = 0
				if b.Since > 0 {
					b.Since = now
				}
			}
		}
	case "train_units":
		var args struct {
			BuildingID string `json:"building_id"`
			Unit       string `json:"unit"`
			Count      int    `json:"count"`
		}
		json.Unmarshal(a.args, &args)
		u := m.gd.unit[args.Unit]
		i := m.find(args.BuildingID)
		if u == nil || i < 0 {
			return
		}
		m.pay(u.Cost, int64(args.Count))
		m.exp.premium -= u.Cost[m.gd.premium] * int64(args.Count)
		m.exp.units[u.ID] += args.Count
		b := &m.bld[i]
		if k := len(b.Q); k > 0 && b.Q[k-1].U == u.ID {
			b.Q[k-1].N += args.Count
		} else {
			if k == 0 {
				b.QAt = now
			}
			b.Q = append(b.Q, mTraining{U: u.ID, N: args.Count})
		}
	case "cancel_training":
		unit := argString(a.args, "unit")
		n := int(intField(r.raw, "cancelled"))
		addAmounts(m.res, field(r.raw, "refund"))
		m.exp.units[unit] -= n
		if i := m.find(argString(a.args, "building_id")); i >= 0 {
			b := &m.bld[i]
			for k := len(b.Q) - 1; k >= 0 && n > 0; k-- {
				if b.Q[k].U == unit {
					d := min(b.Q[k].N, n)
					b.Q[k].N -= d
					n -= d
				}
			}
			kept := b.Q[:0]
			for _, q := range b.Q {
				if q.N > 0 {
					kept = append(kept, q)
				}
			}
			b.Q = kept
		}
	case "buy_item":
		spent := intField(r.raw, "spent")
		m.res[m.gd.premium] -= spent
		m.exp.premium -= spent
		addAmounts(m.res, field(r.raw, "gained"))
		if until := intField(r.raw, "until"); until > 0 {
			// A boost, or a potion that moved timers: cheaper to re-read
			// than to model.
			p.needRefresh = true
		}
		if it := m.item(argString(a.args, "item")); it != nil && it.Kind == "speed_up" {
			p.needRefresh = true
		}
	case "move_building":
		var args struct {
			BuildingID string `json:"building_id"`
			X, Y       int
		}
		json.Unmarshal(a.args, &args)
		if i := m.find(args.BuildingID); i >= 0 {
			m.bld[i].X, m.bld[i].Y = args.X, args.Y
		}
	}
}

func (m *model) item(id string) *gdItem {
	for _, it := range m.gd.Store {
		if it.ID == id {
			return it
		}
	}
	return nil
}

// failed notes a move the model thought valid and the server refused: the
// model drifted, so re-read the state before the next move.
func (m *model) failed(p *player, a *planned, code string) {
	p.needRefresh = true
}

// badArgs writes an action whose arguments are JSON of the wrong shape: a
// number where the rules want a building id.
func (m *model) badArgs(r *rand.Rand, a *planned) {
	a.name = "upgrade_building"
	a.args = append(a.args, `{"building_id":`...)
	a.args = strconv.AppendInt(a.args, int64(r.IntN(1000)), 10)
	a.args = append(a.args, '}')
}

// intField reads an integer field of a result, 0 when absent.
func intField(raw []byte, name string) int64 {
	v := field(raw, name)
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}

// argString reads a string field of our own args.
func argString(args []byte, name string) string {
	return string(unquote(field(args, name)))
}

// addAmounts adds an amounts object {"gold": 100, ...} to res.
func addAmounts(res map[string]int64, raw []byte) {
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	var s scanner
	s.reset(raw)
	s.open('{')
	for s.more('}') {
		k := s.key()
		n := s.int()
		if s.err == nil {
			res[string(k)] += n
		}
	}
}

// standardKinds is the standard profile: people building their base, with
// a share of invalid moves, reconnects, re-reads and resends. Weights are
// per mille. Raids and leaderboards are probed under the names a later
// issue is likely to give them; a server without them answers
// unknown_action once and the move is switched off.
func standardKinds() []*kind {
	ks := []*kind{
		pingKind(150),
		{name: "collect", weight: 200, plan: planCollect},
		{name: "upgrade_building", weight: 120, plan: planUpgrade},
		{name: "build", weight: 80, plan: planBuild},
		{name: "train_units", weight: 120, plan: planTrain},
		{name: "cancel_training", weight: 15, plan: planCancelTraining},
		{name: "speed_up", weight: 30, plan: planSpeedUp},
		{name: "buy_item", weight: 30, plan: planBuy},
		{name: "cancel_upgrade", weight: 10, plan: planCancelUpgrade},
		{name: "move_building", weight: 25, plan: planMove},
		{name: "leaderboard", weight: 10, speculative: true, plan: planNamed("leaderboard")},
		{name: "find_opponent", weight: 60, speculative: true, plan: planFindOpponent},
		{name: "prepare_raid", weight: 400, plan: planPrepareRaid},
		{name: "attack", weight: 60, speculative: true, plan: planAttack},
	}
	return append(ks, commonKinds()...)
}

// planFindOpponent looks for a raid target once the player has an army
// and no offer, as a player does before attacking.
func planFindOpponent(p *player, a *planned) bool {
	m := &p.m
	if m.armySize() == 0 || (m.found != "" && m.foundAt > m.now()) {
		return false
	}
	a.name = "find_opponent"
	a.args = append(a.args[:0], `{"retry":`...)
	a.args = strconv.AppendInt(a.args, int64(p.rng.IntN(3)), 10)
	a.args = append(a.args, '}')
	return true
}

func (m *model) armySize() int {
	n := 0
	for _, k := range m.army {
		n += k
	}
	return n
}

// planAttack raids the opponent the last state read showed on offer, with
// the army the model has.
func planAttack(p *player, a *planned) bool {
	m := &p.m
	if m.found == "" || m.foundAt <= m.now() || m.armySize() == 0 {
		return false
	}
	a.name = "attack"
	a.args = append(a.args[:0], `{"opponent_id":`...)
	a.args = appendString(a.args, m.found)
	a.args = append(a.args, '}')
	return true
}

// planNamed plans an argument-less action that needs no model.
func planNamed(name string) func(p *player, a *planned) bool {
	return func(p *player, a *planned) bool {
		a.name = name
		return true
	}
}

// onCandidate plans action name on a building picked at random from cand
// (indexes into the model's buildings), keeping cand's storage for reuse.
func (p *player) onCandidate(a *planned, cand []int, name string) bool {
	p.cand = cand
	i := pick(p.rng, len(cand))
	if i < 0 {
		return false
	}
	a.name = name
	a.args = argsBuilding(a.args, p.m.bld[cand[i]].ID)
	return true
}
