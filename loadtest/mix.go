package loadtest

import (
	"math/rand/v2"
	"sort"

	"rampart/client"
)

// move is what a simulated player does in one step.
type move int

const (
	moveAction    move = iota // send one or more game actions
	moveReconnect             // sign in again with a fresh session
	moveRefresh               // re-read the state (GET /api/v1/player)
	moveResend                // resend the last acknowledged action, as after a lost reply
)

// kind is one entry of a profile: a weighted way to fill a step.
type kind struct {
	name   string
	weight int
	move   move
	// invalid moves are meant to fail (the rules say how: their failure
	// is predicted like any other answer).
	invalid bool
	// plan writes one action for the scratch base and reports whether
	// there was one to make now.
	plan func(s *scratch) (client.Action, bool)
}

// mix is a profile ready to draw from.
type mix struct {
	name     string
	kinds    []*kind
	cum      []int // cumulative weights
	total    int
	fallback *kind // what to do when nothing else is possible: ping
}

func newMix(name string, kinds []*kind) *mix {
	m := &mix{name: name, kinds: kinds}
	for _, k := range kinds {
		m.total += k.weight
		m.cum = append(m.cum, m.total)
		if k.name == "ping" {
			m.fallback = k
		}
	}
	if m.fallback == nil {
		m.fallback = pingKind(0)
	}
	return m
}

// pick draws a kind by weight.
func (m *mix) pick(r *rand.Rand) *kind {
	x := r.IntN(m.total)
	return m.kinds[sort.SearchInts(m.cum, x+1)]
}

// profileNames lists the --mix values.
func profileNames() []string {
	return []string{"standard", "ping", "healthz-vs-ping", "http-vs-ws", "target-vs-b"}
}

// profile returns the kinds of the named profile, or false.
func profile(name string) ([]*kind, bool) {
	switch name {
	case "ping":
		// Pure protocol and dispatch cost: no reads, no reconnects.
		return []*kind{pingKind(100)}, true
	case "standard":
		return standardKinds(), true
	}
	return nil, false
}

func pingKind(weight int) *kind { return &kind{name: "ping", weight: weight, plan: planPing} }

// standardKinds is the standard profile: people building their base and
// raiding, with a share of invalid moves, reconnects, re-reads and
// resends. Weights are per mille.
func standardKinds() []*kind {
	return []*kind{
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
		{name: "leaderboard", weight: 10, plan: planLeaderboard},
		{name: "find_opponent", weight: 60, plan: planFindOpponent},
		{name: "prepare_raid", weight: 400, plan: planPrepareRaid},
		{name: "attack", weight: 60, plan: planAttack},
		{name: "invalid:unknown_action", weight: 10, invalid: true, plan: planUnknown},
		{name: "invalid:bad_args", weight: 10, invalid: true, plan: planBadArgs},
		{name: "reconnect", weight: 10, move: moveReconnect},
		{name: "refresh", weight: 20, move: moveRefresh},
		{name: "resend", weight: 10, move: moveResend},
	}
}
