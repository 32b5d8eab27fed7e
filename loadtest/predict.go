package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"rampart/actions"
	"rampart/client"
	"rampart/gamedata"
)

// world is a player's base as the server has it, kept with the real rules
// (package actions) and the game data the server serves: replaced on
// every state read, and advanced between reads by applying each
// acknowledged batch locally. Owned by whichever worker holds the player.
//
// The server applies a batch at one moment of its clock that the client
// does not learn; it lies between the request and the reply. Prediction
// runs the batch on a copy of the base at moments of that window and
// adopts the one that reproduces every served result; when none does,
// the rules the load test runs and the rules the server runs disagree, or
// the base changed behind the player's back (a raid, an async result),
// which a re-read tells apart.
type world struct {
	gd    *gamedata.Bundle
	self  string // the player id, for the raid ids of attack
	base  actions.Base
	found *actions.Offer // the opponent on offer, from the last read
	known bool           // base is the server's: read, and every batch since predicted
	// ext marks what only the server changes (the raid log, async
	// results): a read that finds it moved explains a divergence.
	ext string

	// The server's clock minus ours, in ms, lies in [offLo, offHi]: every
	// reply's server_time was taken between its request and its reply.
	offLo, offHi int64
	clocked      bool
	// skew bounds how far the base's timestamps may be from the server's
	// since the last read (the moment a batch ran is known only to its
	// window): predictions search that much wider.
	skew int64
}

// maxSkew is the uncertainty past which the base is read again.
const maxSkew = 1000

// maxSearch is the widest window (ms) searched millisecond by millisecond
// when the samples miss: a batch of a few actions runs in microseconds.
const maxSearch = 4 * maxSkew

// msSlack widens a prediction's window for the millisecond truncation of
// the three clocks that bound it.
const msSlack = 2

// outcome is one action's answer, predicted or served.
type outcome struct {
	ok, pending bool
	code        string
	value       []byte
}

func (o outcome) String() string {
	switch {
	case o.pending:
		return "ok pending"
	case o.ok:
		return "ok " + string(o.value)
	}
	return "failed " + o.code
}

func served(r *client.Result) outcome {
	return outcome{ok: r.OK, pending: r.Pending, code: r.Code, value: r.Value}
}

func (o outcome) equal(p outcome) bool {
	return o.ok == p.ok && o.pending == p.pending && o.code == p.code && bytes.Equal(o.value, p.value)
}

// playerDoc is the part of the player document (API.md) the load test
// reads.
type playerDoc struct {
	ID      string          `json:"id"`
	LastSeq int64           `json:"last_seq"`
	Base    actions.Base    `json:"base"`
	Found   *actions.Offer  `json:"found"`
	Async   json.RawMessage `json:"async"`
	Raids   json.RawMessage `json:"raids"`
}

func parseDoc(raw []byte) (*playerDoc, error) {
	var d playerDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("player document: %w", err)
	}
	return &d, nil
}

func (d *playerDoc) ext() string { return string(d.Async) + "|" + string(d.Raids) }

// clock narrows the server clock's offset with a reply's server_time st
// (ms) to a request sent at t0 and answered at t1.
func (w *world) clock(st int64, t0, t1 time.Time) {
	if st == 0 {
		return
	}
	lo, hi := st-t1.UnixMilli(), st-t0.UnixMilli()
	if !w.clocked || lo > w.offHi || hi < w.offLo {
		w.offLo, w.offHi, w.clocked = lo, hi, true // first, or the clock jumped
		return
	}
	w.offLo, w.offHi = max(w.offLo, lo), min(w.offHi, hi)
}

// now is the server's clock as best known, ms.
func (w *world) now() int64 { return time.Now().UnixMilli() + (w.offLo+w.offHi)/2 }

// adopt replaces the base with a state read from the server.
func (w *world) adopt(gd *gamedata.Bundle, d *playerDoc) {
	w.gd, w.self = gd, d.ID
	w.base, w.found, w.ext = d.Base, d.Found, d.ext()
	w.known, w.skew = true, 0
}

// apply runs one action on b the way the server dispatches it: the
// synchronous part of an asynchronous action (its Begin) through the same
// rules, everything else through actions.Apply.
func apply(b *actions.Base, found **actions.Offer, gd *gamedata.Bundle, self string, seq, ms int64, a client.Action) outcome {
	res, req, err := actions.Dispatch(b, found, self, seq, gd, time.UnixMilli(ms), a.Name, a.Args)
	if err != nil {
		return failed(err)
	}
	if req == nil {
		v, err := json.Marshal(res)
		if err != nil {
			v = []byte("{}")
		}
		return outcome{ok: true, value: v}
	}
	return outcome{ok: true, pending: true}
}

func failed(err error) outcome {
	if e, ok := err.(*actions.Error); ok {
		return outcome{code: e.Code}
	}
	return outcome{code: actions.CodeInternal}
}

// run applies a batch numbered from first at ms on a copy of the base.
func (w *world) run(acts []client.Action, first, ms int64) (actions.Base, *actions.Offer, []outcome) {
	b := w.base.Clone()
	found := w.found
	out := make([]outcome, len(acts))
	for i, a := range acts {
		out[i] = apply(&b, &found, w.gd, w.self, first+int64(i), ms, a)
	}
	return b, found, out
}

func matches(got []outcome, res []client.Result) bool {
	for i := range got {
		if !got[i].equal(served(&res[i])) {
			return false
		}
	}
	return true
}

// predict holds a served batch against the rules: it finds a moment in
// the window [t0, t1] (widened by the skew) at which the batch reproduces
// every result, and adopts the base of that moment. When there is none it
// returns the first action that differs and what was predicted for it
// (at the end of the window). at is the reply's server_time, the moment
// the server ran the batch at: tried first, it leaves no doubt about the
// base's timestamps when it reproduces the results.
func (w *world) predict(acts []client.Action, res []client.Result, first, at int64, t0, t1 time.Time) (ok bool, bad int, want outcome) {
	// Every clock here is whole milliseconds, truncated (ours at t0 and
	// t1, the server's in server_time): the moment may lie up to that much
	// outside the computed bounds on either side.
	lo := t0.UnixMilli() + w.offLo - w.skew - msSlack
	hi := t1.UnixMilli() + w.offHi + w.skew + msSlack
	if hi < lo {
		hi = lo
	}
	try := func(ms int64) bool {
		b, found, got := w.run(acts, first, ms)
		if !matches(got, res) {
			return false
		}
		w.base, w.found = b, found
		if ms != at {
			w.skew = min(w.skew+(t1.UnixMilli()-t0.UnixMilli()), maxSkew)
		}
		return true
	}
	if at >= lo && at <= hi && try(at) {
		return true, 0, outcome{}
	}
	_, _, atHi := w.run(acts, first, hi)
	if matches(atHi, res) {
		return try(hi), 0, outcome{}
	}
	cands := []int64{lo}
	// Fields that grow one for one with the clock (a finish time) say
	// where the server's moment was.
	for i := range atHi {
		for _, d := range shifts(atHi[i].value, res[i].Value) {
			if t := hi + d; t >= lo && t <= hi {
				cands = append(cands, t)
			}
		}
	}
	const samples = 64
	if n := hi - lo; n <= samples {
		for t := lo + 1; t < hi; t++ {
			cands = append(cands, t)
		}
	} else {
		for k := int64(1); k < samples; k++ {
			cands = append(cands, lo+n*k/samples)
		}
	}
	for _, t := range cands {
		if try(t) {
			return true, 0, outcome{}
		}
	}
	// A result that moves with the clock but not one for one (a collect's
	// amount, a builder freed at some millisecond) can fall between the
	// samples of a wide window (a loaded server): every millisecond then.
	if n := hi - lo; n > samples && n <= maxSearch {
		for t := lo + 1; t < hi; t++ {
			if try(t) {
				return true, 0, outcome{}
			}
		}
	}
	for i := range atHi {
		if !atHi[i].equal(served(&res[i])) {
			return false, i, atHi[i]
		}
	}
	return false, 0, atHi[0]
}

// shifts lists, for every integer field two result objects both have,
// served minus predicted where they differ.
func shifts(pred, got []byte) []int64 {
	if len(pred) == 0 || len(got) == 0 || pred[0] != '{' || got[0] != '{' {
		return nil
	}
	var a, b map[string]json.RawMessage
	if json.Unmarshal(pred, &a) != nil || json.Unmarshal(got, &b) != nil {
		return nil
	}
	var out []int64
	for k, pv := range a {
		x, err1 := strconv.ParseInt(string(pv), 10, 64)
		y, err2 := strconv.ParseInt(string(b[k]), 10, 64)
		if err1 == nil && err2 == nil && x != y {
			out = append(out, y-x)
		}
	}
	return out
}

// projection is what of a base no passing of time changes: resources,
// every building with its place and the level it is at or heading to,
// units trained or queued, the next building id, trophies.
type projection struct {
	res       map[string]int64
	buildings []string
	units     map[string]int
	nextID    int
	trophies  int
}

func project(b *actions.Base) projection {
	p := projection{res: maps.Clone(b.Res), units: map[string]int{}, nextID: b.NextID, trophies: b.Trophies}
	for u, n := range b.Army {
		if n != 0 {
			p.units[u] += n
		}
	}
	for _, bl := range b.Buildings {
		lv := bl.Level
		if bl.Done > 0 {
			lv++
		}
		p.buildings = append(p.buildings, fmt.Sprintf("%s %s lv%d at %d,%d", bl.ID, bl.Type, lv, bl.X, bl.Y))
		for _, q := range bl.Queue {
			p.units[q.Unit] += q.N
		}
	}
	slices.Sort(p.buildings)
	return p
}

// diff describes how got differs from want, "" when it does not.
func (want projection) diff(got projection) string {
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(want.res, got.res))) {
		if want.res[k] != got.res[k] {
			return fmt.Sprintf("%s %d, predicted %d", k, got.res[k], want.res[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(want.units, got.units))) {
		if want.units[k] != got.units[k] {
			return fmt.Sprintf("%d %s trained or queued, predicted %d", got.units[k], k, want.units[k])
		}
	}
	if !slices.Equal(want.buildings, got.buildings) {
		return fmt.Sprintf("buildings %q, predicted %q", got.buildings, want.buildings)
	}
	if want.nextID != got.nextID || want.trophies != got.trophies {
		return fmt.Sprintf("next_id %d trophies %d, predicted %d and %d", got.nextID, got.trophies, want.nextID, want.trophies)
	}
	return ""
}

func mergeKeys[V any](a, b map[string]V) map[string]struct{} {
	m := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		m[k] = struct{}{}
	}
	for k := range b {
		m[k] = struct{}{}
	}
	return m
}
