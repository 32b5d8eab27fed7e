package actions

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"rampart/gamedata"
)

// Action names.
const (
	Ping            = "ping"
	Build           = "build"
	MoveBuilding    = "move_building"
	UpgradeBuilding = "upgrade_building"
	CancelUpgrade   = "cancel_upgrade"
	SpeedUp         = "speed_up"
	Collect         = "collect"
	TrainUnits      = "train_units"
	CancelTraining  = "cancel_training"
	BuyItem         = "buy_item"
)

// Names lists every action Apply knows.
func Names() []string {
	return []string{Ping, Build, MoveBuilding, UpgradeBuilding, CancelUpgrade, SpeedUp, Collect, TrainUnits, CancelTraining, BuyItem}
}

// Args holds every action's arguments; each action reads the fields it
// documents in ACTIONS.md and ignores the others.
type Args struct {
	BuildingID string `json:"building_id,omitempty"`
	Type       string `json:"type,omitempty"`
	X          int    `json:"x"`
	Y          int    `json:"y"`
	Unit       string `json:"unit,omitempty"`
	Count      int    `json:"count,omitempty"`
	Item       string `json:"item,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// unset marks an int argument the JSON did not mention.
const unset = math.MinInt

// NewArgs returns Args with every int argument unset, ready to fill in or
// decode into.
func NewArgs() Args { return Args{X: unset, Y: unset, Count: unset} }

// DecodeArgs decodes an action's JSON args. Empty or null args are no
// args.
func DecodeArgs(data json.RawMessage) (Args, error) {
	a := NewArgs()
	if len(data) == 0 || string(data) == "null" {
		return a, nil
	}
	// Fast path for plain arguments; anything else goes to encoding/json
	// (FuzzDecodeArgs checks both agree).
	d := decoder{data: data}
	if d.args(&a) && d.end() {
		return a, nil
	}
	return decodeArgsStd(data)
}

func decodeArgsStd(data json.RawMessage) (Args, error) {
	a := NewArgs()
	if err := json.Unmarshal(data, &a); err != nil {
		return a, badArgs(err)
	}
	return a, nil
}

// Results. Empty results encode as {}.
type (
	// Empty is the result of ping and move_building.
	Empty struct{}
	// BuildResult: the new building and when it is finished (0: already).
	BuildResult struct {
		BuildingID string `json:"building_id"`
		Done       int64  `json:"done"`
	}
	// UpgradeResult: the level being reached and when (0: already).
	UpgradeResult struct {
		Level int   `json:"level"`
		Done  int64 `json:"done"`
	}
	// CancelUpgradeResult: what was refunded, and whether the building
	// (still under construction) was removed.
	CancelUpgradeResult struct {
		Refund  Amounts `json:"refund"`
		Removed bool    `json:"removed"`
	}
	// SpeedUpResult: the premium currency spent.
	SpeedUpResult struct {
		Spent int64 `json:"spent"`
	}
	// CollectResult: what went into storage.
	CollectResult struct {
		Collected Amounts `json:"collected"`
	}
	// TrainResult: when the trainer's whole queue is done.
	TrainResult struct {
		Done int64 `json:"done"`
	}
	// CancelTrainingResult: how many units left the queue and the refund.
	CancelTrainingResult struct {
		Cancelled int     `json:"cancelled"`
		Refund    Amounts `json:"refund"`
	}
	// BuyResult: premium currency spent, resources gained, boost end.
	BuyResult struct {
		Spent  int64   `json:"spent"`
		Gained Amounts `json:"gained,omitempty"`
		Until  int64   `json:"until,omitempty"`
	}
)

// Amount is a quantity of one resource.
type Amount struct {
	Res string
	N   int64
}

// Amounts encodes as a JSON object {"gold": 100, ...} in resource order.
type Amounts []Amount

// MarshalJSON implements json.Marshaler.
func (as Amounts) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 16+24*len(as))
	buf = append(buf, '{')
	for i, a := range as {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, a.Res)
		buf = append(buf, ':')
		buf = strconv.AppendInt(buf, a.N, 10)
	}
	return append(buf, '}'), nil
}

// Apply runs the action called name with JSON args on b at now. The result
// is JSON-encodable. On failure it returns an *Error and b is unchanged.
//
// Apply first brings the base up to now (CatchUp, including Reconcile when
// the game data version changed) and then applies the action, all on a copy
// when catching up has anything to do, so that a failed action leaves b
// exactly as it was.
func Apply(b *Base, gd *gamedata.Bundle, now time.Time, name string, args json.RawMessage) (any, error) {
	if !known(name) {
		return nil, errUnknownAction
	}
	a, err := DecodeArgs(args)
	if err != nil {
		return nil, err
	}
	return ApplyArgs(b, gd, now, name, a)
}

func known(name string) bool {
	switch name {
	case Ping, Build, MoveBuilding, UpgradeBuilding, CancelUpgrade, SpeedUp, Collect, TrainUnits, CancelTraining, BuyItem:
		return true
	}
	return false
}

// ApplyArgs is Apply with arguments already decoded (start from NewArgs
// so unset int arguments read as unset).
func ApplyArgs(b *Base, gd *gamedata.Bundle, now time.Time, name string, a Args) (any, error) {
	ms := now.UnixMilli()
	if b.GD != gd.Version || due(b, gd, ms) {
		c := b.Clone()
		if c.GD != gd.Version {
			reconcile(&c, gd, ms)
		}
		c.catchUp(gd, ms)
		res, err := dispatch(&c, gd, ms, name, &a)
		if err != nil {
			return nil, err
		}
		*b = c
		return res, nil
	}
	return dispatch(b, gd, ms, name, &a)
}

// due reports whether CatchUp at now would change anything.
func due(b *Base, gd *gamedata.Bundle, now int64) bool {
	t := b.nextEvent(gd)
	return t > 0 && t <= now
}

// dispatch runs one action on a caught-up base. Every action checks all its
// rules before it changes anything.
func dispatch(b *Base, gd *gamedata.Bundle, now int64, name string, a *Args) (any, error) {
	switch name {
	case Ping:
		return Empty{}, nil
	case Build:
		return build(b, gd, now, a)
	case MoveBuilding:
		return moveBuilding(b, gd, a)
	case UpgradeBuilding:
		return upgradeBuilding(b, gd, now, a)
	case CancelUpgrade:
		return cancelUpgrade(b, gd, now, a)
	case SpeedUp:
		return speedUp(b, gd, now, a)
	case Collect:
		return collect(b, gd, now, a)
	case TrainUnits:
		return trainUnits(b, gd, now, a)
	case CancelTraining:
		return cancelTraining(b, gd, now, a)
	case BuyItem:
		return buyItem(b, gd, now, a)
	}
	return nil, errUnknownAction
}

// building looks up the building a.BuildingID names, and its type.
func building(b *Base, gd *gamedata.Bundle, a *Args) (int, *gamedata.BuildingType, error) {
	if a.BuildingID == "" {
		return -1, nil, errNoBuildingID
	}
	i := b.find(a.BuildingID)
	if i < 0 {
		return -1, nil, errNoBuilding
	}
	bt := gd.Building(b.Buildings[i].Type)
	if bt == nil { // only before Reconcile, which Apply runs first
		return -1, nil, errNoType
	}
	return i, bt, nil
}

func build(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	if a.Type == "" || a.X == unset || a.Y == unset {
		return nil, errBuildArgs
	}
	bt := gd.Building(a.Type)
	if bt == nil {
		return nil, errNoType
	}
	t := scan(b, gd)
	switch lim := bt.Count(t.th); {
	case lim == 0:
		return nil, errTownHallLevel
	case b.count(bt.ID) >= lim:
		return nil, errLimit
	}
	lv := bt.Level(1)
	if !b.requirementsMet(bt, lv, t.th) {
		return nil, errRequirement
	}
	if err := b.canPlace(gd, a.X, a.Y, bt, -1); err != nil {
		return nil, err
	}
	if err := b.payForLevel(lv, &t); err != nil {
		return nil, err
	}

	bl := Building{ID: buildingID(b.NextID), Type: bt.ID, X: a.X, Y: a.Y}
	b.NextID++
	if lv.TimeS == 0 {
		bl.Level = 1
		if bt.Kind == gamedata.KindHarvester {
			bl.Since = now
		}
	} else {
		bl.Done = now + lv.TimeS*1000
	}
	b.Buildings = append(b.Buildings, bl)
	return BuildResult{BuildingID: bl.ID, Done: bl.Done}, nil
}

// canPlace checks that bt fits at (x, y), other than over the building at
// index skip (or -1).
func (b *Base) canPlace(gd *gamedata.Bundle, x, y int, bt *gamedata.BuildingType, skip int) error {
	inside, free := b.fits(gd, x, y, bt.W, bt.H, skip)
	if !inside {
		return errOutOfBounds
	}
	if !free {
		return errOccupied
	}
	return nil
}

// payForLevel pays for building or upgrading to lv, once a builder is free
// for it (a level with a build time needs one) and the base can pay.
func (b *Base) payForLevel(lv *gamedata.Level, t *totals) error {
	if lv.TimeS > 0 && t.busy >= t.builders {
		return errNoBuilder
	}
	if !b.canPay(lv.Costs(), 1) {
		return errNotEnough
	}
	b.pay(lv.Costs(), 1)
	return nil
}

func moveBuilding(b *Base, gd *gamedata.Bundle, a *Args) (any, error) {
	if a.BuildingID == "" || a.X == unset || a.Y == unset {
		return nil, errMoveArgs
	}
	i, bt, err := building(b, gd, a)
	if err != nil {
		return nil, err
	}
	if err := b.canPlace(gd, a.X, a.Y, bt, i); err != nil {
		return nil, err
	}
	b.Buildings[i].X, b.Buildings[i].Y = a.X, a.Y
	return Empty{}, nil
}

func upgradeBuilding(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	i, bt, err := building(b, gd, a)
	if err != nil {
		return nil, err
	}
	bl := &b.Buildings[i]
	if bl.Done > 0 {
		return nil, errBusy
	}
	lv := bt.Level(bl.Level + 1)
	if lv == nil {
		return nil, errMaxLevel
	}
	t := scan(b, gd)
	if !b.requirementsMet(bt, lv, t.th) {
		if bt.Kind != gamedata.KindTownHall && lv.TownHall > t.th {
			return nil, errTownHallLevel
		}
		return nil, errRequirement
	}
	if err := b.payForLevel(lv, &t); err != nil {
		return nil, err
	}

	harvester := bt.Kind == gamedata.KindHarvester
	if harvester {
		b.materialize(bl, bt, now) // the old rate applies up to now
	}
	if lv.TimeS == 0 {
		b.finishUpgrade(bl, gd, now)
		return UpgradeResult{Level: bl.Level}, nil
	}
	bl.Done = now + lv.TimeS*1000
	if harvester {
		bl.Since = 0 // no production while upgrading
	}
	return UpgradeResult{Level: bl.Level + 1, Done: bl.Done}, nil
}

// refund credits pct% of costs×n, except premium currency, up to storage
// capacity; what does not fit is lost. It returns what was credited.
func refund(b *Base, gd *gamedata.Bundle, t *totals, costs []gamedata.Amount, n, pct int64) Amounts {
	out := make(Amounts, 0, len(costs))
	for _, c := range costs {
		if c.Res == gd.PremiumIndex() {
			continue
		}
		amt := c.N * n * pct / 100
		have := b.Res[c.ID]
		amt = max(0, min(amt, t.capacity(gd, c.Res)-have))
		b.Res[c.ID] = have + amt
		out = append(out, Amount{c.ID, amt})
	}
	return out
}

func cancelUpgrade(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	i, bt, err := building(b, gd, a)
	if err != nil {
		return nil, err
	}
	bl := &b.Buildings[i]
	if bl.Done == 0 {
		return nil, errNotUpgrading
	}
	t := scan(b, gd)
	var costs []gamedata.Amount
	if lv := bt.Level(bl.Level + 1); lv != nil {
		costs = lv.Costs()
	}
	res := CancelUpgradeResult{Refund: refund(b, gd, &t, costs, 1, gd.Rules.CancelRefundPct)}
	if bl.Level == 0 {
		b.Buildings = slices.Delete(b.Buildings, i, i+1)
		res.Removed = true
		return res, nil
	}
	bl.Done = 0
	if bt.Kind == gamedata.KindHarvester {
		bl.Since = now
	}
	return res, nil
}

func speedUp(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	i, _, err := building(b, gd, a)
	if err != nil {
		return nil, err
	}
	bl := &b.Buildings[i]
	kind := a.Kind
	switch kind {
	case "":
		kind = "upgrade"
		if bl.Done == 0 && len(bl.Queue) > 0 {
			kind = "training"
		}
	case "upgrade", "training":
	default:
		return nil, errSpeedUpKind
	}
	var remaining int64
	if kind == "upgrade" {
		if bl.Done == 0 {
			return nil, errNothingToSpeedUp
		}
		remaining = bl.Done - now
	} else {
		if len(bl.Queue) == 0 {
			return nil, errNothingToSpeedUp
		}
		remaining = queueDone(bl, gd) - now
	}
	cost := gd.SpeedUpCost(remaining)
	prem := gd.PremiumID()
	if b.Res[prem] < cost {
		return nil, errNotEnoughPremium
	}

	b.Res[prem] -= cost
	if kind == "upgrade" {
		b.finishUpgrade(bl, gd, now)
	} else {
		for _, q := range bl.Queue {
			b.addArmy(q.Unit, q.N)
		}
		bl.Queue, bl.QAt = nil, 0
	}
	return SpeedUpResult{Spent: cost}, nil
}

func collect(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	only := -1
	if a.BuildingID != "" {
		i, bt, err := building(b, gd, a)
		if err != nil {
			return nil, err
		}
		if bt.Kind != gamedata.KindHarvester {
			return nil, errNotHarvester
		}
		only = i
	}
	t := scan(b, gd)
	var got [gamedata.MaxResources]int64
	held := false
	// Only harvesters that give something change, and the action fails
	// only when none did: a failure changes nothing.
	for i := range b.Buildings {
		if only >= 0 && i != only {
			continue
		}
		bl := &b.Buildings[i]
		bt := gd.Building(bl.Type)
		if bt == nil || bt.Kind != gamedata.KindHarvester || bl.Level < 1 {
			continue
		}
		avail := available(bl, bt, b.boostFactor(bt.Resource), now)
		if avail == 0 {
			continue
		}
		held = true
		r := bt.ResourceIndex()
		take := min(avail, t.cap[r]-b.Res[bt.Resource]-got[r])
		if take <= 0 {
			continue
		}
		got[r] += take
		bl.Stored = avail - take
		if bl.Since > 0 {
			bl.Since = max(bl.Since, now)
		}
	}
	var out Amounts
	for r, n := range got {
		if n > 0 {
			id := gd.Resources[r].ID
			b.Res[id] += n
			out = append(out, Amount{id, n})
		}
	}
	switch {
	case out != nil:
		return CollectResult{Collected: out}, nil
	case held:
		return nil, errStorageFull
	}
	return nil, errNothingToCollect
}

// housingUsed is the camp space taken by the army and every queue.
func housingUsed(b *Base, gd *gamedata.Bundle) int {
	n := 0
	for id, c := range b.Army {
		if u := gd.Unit(id); u != nil {
			n += c * u.Housing
		}
	}
	for i := range b.Buildings {
		n += queued(&b.Buildings[i], gd)
	}
	return n
}

// queued is the housing space in bl's queue.
func queued(bl *Building, gd *gamedata.Bundle) int {
	n := 0
	for _, q := range bl.Queue {
		if u := gd.Unit(q.Unit); u != nil {
			n += q.N * u.Housing
		}
	}
	return n
}

func trainUnits(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	if a.BuildingID == "" || a.Unit == "" {
		return nil, errTrainArgs
	}
	n := a.Count
	if n == unset {
		n = 1
	}
	if n < 1 || n > gd.Rules.MaxTrain {
		return nil, errTrainCount
	}
	i, bt, err := building(b, gd, a)
	if err != nil {
		return nil, err
	}
	u := gd.Unit(a.Unit)
	if u == nil {
		return nil, errNoUnit
	}
	bl := &b.Buildings[i]
	if u.TrainedAt != bt.ID {
		return nil, errNotTrainer
	}
	if bl.Level < u.Level {
		return nil, errTrainerLevel
	}
	space := n * u.Housing
	if queued(bl, gd)+space > bt.Level(bl.Level).Queue {
		return nil, errQueueFull
	}
	if housingUsed(b, gd)+space > scan(b, gd).housing {
		return nil, errHousingFull
	}
	if !b.canPay(u.Costs(), int64(n)) {
		return nil, errNotEnough
	}

	b.pay(u.Costs(), int64(n))
	if k := len(bl.Queue); k > 0 && bl.Queue[k-1].Unit == u.ID {
		bl.Queue[k-1].N += n
	} else {
		if k == 0 {
			bl.QAt = now
		}
		bl.Queue = append(bl.Queue, Training{Unit: u.ID, N: n})
	}
	return TrainResult{Done: queueDone(bl, gd)}, nil
}

func cancelTraining(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	if a.BuildingID == "" || a.Unit == "" {
		return nil, errTrainArgs
	}
	n := a.Count
	if n == unset {
		n = math.MaxInt
	}
	if n < 1 {
		return nil, errCancelCount
	}
	i, _, err := building(b, gd, a)
	if err != nil {
		return nil, err
	}
	bl := &b.Buildings[i]
	u := gd.Unit(a.Unit)
	if u == nil || !slices.ContainsFunc(bl.Queue, func(q Training) bool { return q.Unit == u.ID }) {
		return nil, errNotInQueue
	}

	// Latest queued first; the head's unit in training keeps its progress
	// unless the whole head run goes.
	left := n
	for k := len(bl.Queue) - 1; k >= 0 && left > 0; k-- {
		if q := &bl.Queue[k]; q.Unit == u.ID {
			d := min(q.N, left)
			q.N -= d
			left -= d
		}
	}
	headGone := bl.Queue[0].N == 0
	bl.Queue = slices.DeleteFunc(bl.Queue, func(q Training) bool { return q.N == 0 })
	switch {
	case len(bl.Queue) == 0:
		bl.Queue, bl.QAt = nil, 0
	case headGone:
		bl.QAt = now
	}
	// Runs of the same unit split by the removal are merged back.
	for k := len(bl.Queue) - 1; k > 0; k-- {
		if bl.Queue[k].Unit == bl.Queue[k-1].Unit {
			bl.Queue[k-1].N += bl.Queue[k].N
			bl.Queue = slices.Delete(bl.Queue, k, k+1)
		}
	}
	done := n - left
	t := scan(b, gd)
	return CancelTrainingResult{Cancelled: done, Refund: refund(b, gd, &t, u.Costs(), int64(done), gd.Rules.TrainingRefundPct)}, nil
}

func buyItem(b *Base, gd *gamedata.Bundle, now int64, a *Args) (any, error) {
	if a.Item == "" {
		return nil, errNoItem
	}
	it := gd.Item(a.Item)
	if it == nil {
		return nil, errNoStoreItem
	}
	t := scan(b, gd)
	if it.TownHall > t.th {
		return nil, errTownHallLevel
	}
	prem := gd.PremiumID()
	if b.Res[prem] < it.Price {
		return nil, errNotEnoughPremium
	}
	switch it.Kind {
	case gamedata.ItemResources:
		for _, g := range it.GiveAmounts() {
			if b.Res[g.ID]+g.N > t.capacity(gd, g.Res) {
				return nil, errStorageTooSmall
			}
		}
	case gamedata.ItemSpeedUp:
		running := false
		for i := range b.Buildings {
			bl := &b.Buildings[i]
			if it.Target == gamedata.TargetBuild && bl.Done > 0 || it.Target == gamedata.TargetTraining && len(bl.Queue) > 0 {
				running = true
				break
			}
		}
		if !running {
			return nil, errNothingToPotion
		}
	}

	b.Res[prem] -= it.Price
	res := BuyResult{Spent: it.Price}
	switch it.Kind {
	case gamedata.ItemResources:
		res.Gained = make(Amounts, 0, len(it.GiveAmounts()))
		for _, g := range it.GiveAmounts() {
			b.Res[g.ID] += g.N
			res.Gained = append(res.Gained, Amount{g.ID, g.N})
		}
	case gamedata.ItemBoost:
		// Production so far at the old rate, the new rate from now.
		for i := range b.Buildings {
			bl := &b.Buildings[i]
			if bt := gd.Building(bl.Type); bt != nil && bt.Kind == gamedata.KindHarvester && bt.Resource == it.Resource {
				b.materialize(bl, bt, now)
			}
		}
		k := slices.IndexFunc(b.Boosts, func(x Boost) bool { return x.Res == it.Resource })
		if k < 0 {
			b.Boosts = append(b.Boosts, Boost{Res: it.Resource, Factor: it.Factor, Until: now + it.Seconds*1000})
			k = len(b.Boosts) - 1
		} else {
			x := &b.Boosts[k]
			x.Factor = max(x.Factor, it.Factor)
			x.Until = max(x.Until, now) + it.Seconds*1000
		}
		res.Until = b.Boosts[k].Until
	case gamedata.ItemSpeedUp:
		d := it.Seconds * 1000
		for i := range b.Buildings {
			bl := &b.Buildings[i]
			switch it.Target {
			case gamedata.TargetBuild:
				if bl.Done > 0 {
					bl.Done = max(now, bl.Done-d)
				}
			case gamedata.TargetTraining:
				if len(bl.Queue) > 0 {
					bl.QAt -= d
				}
			}
		}
		b.catchUp(gd, now)
	}
	return res, nil
}
