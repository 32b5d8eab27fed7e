package loadtest

import (
	"encoding/json"
	"math/rand/v2"
)

// model is a player's base as last seen: just enough to choose actions
// that should be valid. It is reloaded from every state read and nudged by
// action results in between; a failure that shows it drifted asks for a
// re-read. Owned by the player's holder.
type model struct {
	resources map[string]int64
}

// load replaces the model with the player object read from the server.
func (m *model) load(p *player, where string, raw []byte) {
	var doc struct {
		Base struct {
			Resources map[string]int64 `json:"resources"`
		} `json:"base"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		p.led.problem("%s: player JSON: %v", where, err)
		return
	}
	m.resources = doc.Base.Resources
}

// applied updates the model after an action succeeded.
func (m *model) applied(p *player, a *planned, r *result) {}

// failed notes a valid-looking action that the server refused: the model
// drifted, so read the state again before the next move.
func (m *model) failed(p *player, a *planned, code string) {
	p.needRefresh = true
}

// badArgs writes an action whose arguments are well-formed JSON of the
// wrong shape.
func (m *model) badArgs(r *rand.Rand, a *planned) {
	a.name = "ping"
	a.args = append(a.args, `{"unexpected":true}`...)
}

// standardKinds is the standard profile: people building their base,
// with the common share of invalid moves, reconnects, re-reads and
// resends. Weights are per mille.
func standardKinds() []*kind {
	ks := []*kind{pingKind(940)}
	return append(ks, commonKinds()...)
}
