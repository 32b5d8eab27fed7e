package loadtest

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"

	"rampart/actions"
	"rampart/client"
	"rampart/gamedata"
)

// Planners choose moves the way a player does, and know only the shape of
// each action's arguments: which of the candidates is valid now is asked
// of the real rules, on a scratch copy of the base (so a batch's later
// actions are planned on the state its earlier ones leave). A rule change
// thus changes what the players try, never what the load test believes
// the server should answer.

// scratch is the base a batch is planned on.
type scratch struct {
	w     *world
	base  actions.Base
	found *actions.Offer
	ms    int64 // the server's clock, as best known
	seq   int64 // the seq the next planned action gets
	rng   *rand.Rand
}

func (w *world) scratch(rng *rand.Rand, seq int64) *scratch {
	return &scratch{w: w, base: w.base.Clone(), found: w.found, ms: w.now(), seq: seq, rng: rng}
}

// try applies the first candidate the rules accept, in random order, and
// reports it. At most maxTries candidates are tried.
func (s *scratch) try(cands []client.Action) (client.Action, bool) {
	const maxTries = 8
	s.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	for i, a := range cands {
		if i == maxTries {
			break
		}
		b := s.base.Clone()
		found := s.found
		if o := apply(&b, &found, s.w.gd, s.w.self, s.seq, s.ms, a); o.ok {
			s.base, s.found = b, found
			s.seq++
			return a, true
		}
	}
	return client.Action{}, false
}

// take adds an action without trying it (a move meant to fail, or one the
// rules cannot judge here).
func (s *scratch) take(a client.Action) (client.Action, bool) {
	b := s.base.Clone()
	found := s.found
	apply(&b, &found, s.w.gd, s.w.self, s.seq, s.ms, a)
	s.base, s.found = b, found
	s.seq++
	return a, true
}

// argsBuilding opens the args of an action on building id; the caller
// adds the other fields and the closing brace.
func argsBuilding(id string) []byte {
	return appendString([]byte(`{"building_id":`), id)
}

func onBuilding(name, id string) client.Action {
	return client.Action{Name: name, Args: append(argsBuilding(id), '}')}
}

func each(b *actions.Base, name string, keep func(*actions.Building) bool) []client.Action {
	var out []client.Action
	for i := range b.Buildings {
		if keep == nil || keep(&b.Buildings[i]) {
			out = append(out, onBuilding(name, b.Buildings[i].ID))
		}
	}
	return out
}

func kindOf(gd *gamedata.Bundle, bl *actions.Building) string {
	if bt := gd.Building(bl.Type); bt != nil {
		return bt.Kind
	}
	return ""
}

func planCollect(s *scratch) (client.Action, bool) {
	c := each(&s.base, actions.Collect, func(bl *actions.Building) bool { return kindOf(s.w.gd, bl) == gamedata.KindHarvester })
	if len(c) > 0 && s.rng.IntN(4) == 0 {
		c = []client.Action{{Name: actions.Collect, Args: []byte("{}")}} // everything at once
	}
	return s.try(c)
}

func planUpgrade(s *scratch) (client.Action, bool) {
	return s.try(each(&s.base, actions.UpgradeBuilding, nil))
}

func planCancelUpgrade(s *scratch) (client.Action, bool) {
	return s.try(each(&s.base, actions.CancelUpgrade, func(bl *actions.Building) bool { return bl.Done > 0 }))
}

func planSpeedUp(s *scratch) (client.Action, bool) {
	return s.try(each(&s.base, actions.SpeedUp, func(bl *actions.Building) bool { return bl.Done > 0 || len(bl.Queue) > 0 }))
}

func place(name string, first []byte, x, y int) client.Action {
	a := append(first, `,"x":`...)
	a = strconv.AppendInt(a, int64(x), 10)
	a = append(a, `,"y":`...)
	a = strconv.AppendInt(a, int64(y), 10)
	return client.Action{Name: name, Args: append(a, '}')}
}

// spots are a few random places on the grid.
func (s *scratch) spots(n int) [][2]int {
	g := s.w.gd.Grid
	out := make([][2]int, n)
	for i := range out {
		out[i] = [2]int{s.rng.IntN(max(g.W, 1)), s.rng.IntN(max(g.H, 1))}
	}
	return out
}

func planBuild(s *scratch) (client.Action, bool) { return planBuildOf(s, "") }

func planBuildOf(s *scratch, only string) (client.Action, bool) {
	var c []client.Action
	for _, bt := range s.w.gd.Buildings {
		if only != "" && bt.ID != only {
			continue
		}
		for _, xy := range s.spots(3) {
			c = append(c, place(actions.Build, appendString([]byte(`{"type":`), bt.ID), xy[0], xy[1]))
		}
	}
	if only != "" {
		return s.try(c)
	}
	// Try many: most types are out of reach at any moment.
	for range 3 {
		if a, ok := s.try(c); ok {
			return a, true
		}
		c = c[min(len(c), 8):]
	}
	return client.Action{}, false
}

func planMove(s *scratch) (client.Action, bool) {
	var c []client.Action
	for _, bl := range s.base.Buildings {
		for _, xy := range s.spots(2) {
			c = append(c, place(actions.MoveBuilding, argsBuilding(bl.ID), xy[0], xy[1]))
		}
	}
	return s.try(c)
}

func train(name, id, unit string, n int) client.Action {
	a := append(argsBuilding(id), `,"unit":`...)
	a = appendString(a, unit)
	a = append(a, `,"count":`...)
	a = strconv.AppendInt(a, int64(n), 10)
	return client.Action{Name: name, Args: append(a, '}')}
}

func planTrain(s *scratch) (client.Action, bool) {
	var c []client.Action
	n := 1 + s.rng.IntN(3)
	for _, bl := range s.base.Buildings {
		if kindOf(s.w.gd, &bl) != gamedata.KindTrainer {
			continue
		}
		for _, u := range s.w.gd.Units {
			if u.TrainedAt == bl.Type {
				c = append(c, train(actions.TrainUnits, bl.ID, u.ID, n))
			}
		}
	}
	return s.try(c)
}

func planCancelTraining(s *scratch) (client.Action, bool) {
	var c []client.Action
	for _, bl := range s.base.Buildings {
		for _, q := range bl.Queue {
			c = append(c, train(actions.CancelTraining, bl.ID, q.Unit, 1+s.rng.IntN(max(q.N, 1))))
		}
	}
	return s.try(c)
}

func planBuy(s *scratch) (client.Action, bool) {
	var c []client.Action
	for _, it := range s.w.gd.Store {
		c = append(c, client.Action{Name: actions.BuyItem, Args: append(appendString([]byte(`{"item":`), it.ID), '}')})
	}
	return s.try(c)
}

// planPrepareRaid takes the next step towards an army, as a player who
// wants to raid soon does: a barracks and an army camp, sped up with gems,
// then units, sped up too. A player with an army leaves the rest to
// find_opponent and attack.
func planPrepareRaid(s *scratch) (client.Action, bool) {
	if armySize(&s.base) > 0 {
		return client.Action{}, false
	}
	for _, typ := range []string{"barracks", "army_camp"} {
		if !has(&s.base, typ) {
			if a, ok := planBuildOf(s, typ); ok {
				return a, true
			}
			return planSpeedUp(s) // builders busy: speed something up to free one
		}
	}
	if a, ok := s.try(each(&s.base, actions.SpeedUp, func(bl *actions.Building) bool {
		return (bl.Type == "barracks" || bl.Type == "army_camp") && (bl.Done > 0 || len(bl.Queue) > 0)
	})); ok {
		return a, true
	}
	return planTrain(s)
}

func has(b *actions.Base, typ string) bool {
	for i := range b.Buildings {
		if b.Buildings[i].Type == typ {
			return true
		}
	}
	return false
}

func armySize(b *actions.Base) int {
	n := 0
	for _, k := range b.Army {
		n += k
	}
	return n
}

// planFindOpponent looks for a raid target once the player has an army
// and no offer, as a player does before attacking.
func planFindOpponent(s *scratch) (client.Action, bool) {
	if armySize(&s.base) == 0 || s.found != nil && s.found.Until > s.ms+2000 {
		return client.Action{}, false
	}
	return s.try([]client.Action{{Name: actions.FindOpponent, Args: append(strconv.AppendInt([]byte(`{"retry":`), int64(s.rng.IntN(3)), 10), '}')}})
}

// planAttack raids the opponent the last read showed on offer.
func planAttack(s *scratch) (client.Action, bool) {
	if s.found == nil || s.found.Until <= s.ms+2000 {
		return client.Action{}, false
	}
	return s.try([]client.Action{{Name: actions.Attack, Args: append(appendString([]byte(`{"opponent_id":`), s.found.ID), '}')}})
}

func planLeaderboard(s *scratch) (client.Action, bool) {
	return s.try([]client.Action{{Name: actions.Leaderboard, Args: []byte(`{}`)}})
}

func planPing(s *scratch) (client.Action, bool) {
	return s.take(client.Action{Name: actions.Ping, Args: []byte(`{}`)})
}

func planUnknown(s *scratch) (client.Action, bool) {
	return s.take(client.Action{Name: "no_such_action", Args: []byte(`{}`)})
}

// planBadArgs sends arguments of the wrong shape: a number where the
// rules want a building id.
func planBadArgs(s *scratch) (client.Action, bool) {
	return s.take(client.Action{Name: actions.UpgradeBuilding, Args: append(strconv.AppendInt([]byte(`{"building_id":`), int64(s.rng.IntN(1000)), 10), '}')})
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	v, _ := json.Marshal(s) // a string always encodes
	return append(b, v...)
}
