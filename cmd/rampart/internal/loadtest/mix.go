package loadtest

import (
	"math/rand/v2"
	"sort"
	"sync/atomic"
)

// move is what a simulated player does in one step.
type move int

const (
	moveAction    move = iota // send one or more game actions
	moveReconnect             // log in again with a fresh session
	moveRefresh               // re-read the state (GET /api/v1/player)
	moveResend                // resend the last acknowledged action, as after a lost reply
)

// kind is one entry of a profile: a weighted way to fill a step.
type kind struct {
	name   string
	weight int
	move   move
	// invalid moves are meant to fail; expect lists the acceptable codes.
	invalid bool
	expect  []string
	// speculative moves probe actions a server may not have yet: their
	// unknown_action is expected, and switches them off quietly.
	speculative bool
	// plan writes one action into a using the player's model and reports
	// whether there was a valid one to make now.
	plan func(p *player, a *planned) bool

	idx int // position in the mix
}

// planned is one action about to be sent. args is built in a buffer the
// worker reuses.
type planned struct {
	kind *kind
	name string
	args []byte
}

// mix is a profile ready to draw from. Kinds the server turns out not to
// know (a valid move answered unknown_action) are switched off for the
// rest of the run, so a profile can name actions before the server has
// them.
type mix struct {
	name     string
	kinds    []*kind
	cum      []int // cumulative weights
	total    int
	fallback *kind         // what to do when nothing else is possible: ping
	disabled []atomic.Bool // by kind idx; shared by all workers
}

func newMix(name string, kinds []*kind) *mix {
	m := &mix{name: name, kinds: kinds, disabled: make([]atomic.Bool, len(kinds))}
	for i, k := range kinds {
		k.idx = i
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

// pick draws a kind by weight, skipping disabled ones.
func (m *mix) pick(r *rand.Rand) *kind {
	for range 8 {
		x := r.IntN(m.total)
		i := sort.SearchInts(m.cum, x+1)
		if k := m.kinds[i]; !m.disabled[i].Load() {
			return k
		}
	}
	return m.fallback
}

// disable switches k off and reports whether this call did it.
func (m *mix) disable(k *kind) bool {
	if k.idx >= len(m.kinds) || m.kinds[k.idx] != k {
		return false
	}
	return m.disabled[k.idx].CompareAndSwap(false, true)
}

func (m *mix) disabledNames() []string {
	var out []string
	for i, k := range m.kinds {
		if m.disabled[i].Load() {
			out = append(out, k.name)
		}
	}
	return out
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

func pingKind(weight int) *kind {
	return &kind{name: "ping", weight: weight, plan: func(p *player, a *planned) bool {
		a.name = "ping"
		return true
	}}
}

// commonKinds are the moves every playing profile shares: the invalid
// share, reconnects, state re-reads and resends. Weights are per mille of
// a profile totalling about 1000.
func commonKinds() []*kind {
	return []*kind{
		{name: "invalid:unknown_action", weight: 10, invalid: true, expect: []string{"unknown_action"},
			plan: func(p *player, a *planned) bool {
				a.name = "no_such_action"
				return true
			}},
		{name: "invalid:bad_args", weight: 10, invalid: true, expect: []string{"bad_args"},
			plan: func(p *player, a *planned) bool {
				p.m.badArgs(p.rng, a)
				return true
			}},
		{name: "reconnect", weight: 10, move: moveReconnect},
		{name: "refresh", weight: 20, move: moveRefresh},
		{name: "resend", weight: 10, move: moveResend},
	}
}
