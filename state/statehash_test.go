package state

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"rampart/actions"
)

// referenceStateHash is stateHash as first written, on hash/fnv. Records
// already in journals carry its digests, so the allocation-free stateHash
// must give the same number for every state, or a restart after an
// upgrade would find every waiting record diverged.
func referenceStateHash(p *Player) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	num := func(v int64) {
		for i := range 8 {
			buf[i] = byte(v >> (8 * i))
		}
		h.Write(buf[:])
	}
	str := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	num(p.LastSeq)
	num(int64(p.Rev))
	num(int64(p.RaidsOut))
	b := &p.Base
	for _, k := range slices.Sorted(maps.Keys(b.Res)) {
		str(k)
		num(b.Res[k])
	}
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		str(bl.ID)
		str(bl.Type)
		num(int64(bl.Level))
		num(int64(bl.X)<<32 | int64(bl.Y))
		num(bl.Done)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Army)) {
		str(k)
		num(int64(b.Army[k]))
	}
	num(int64(b.Trophies))
	num(b.ShieldUntil)
	num(int64(b.NextID))
	if p.Found != nil {
		str(p.Found.ID)
		num(p.Found.Until)
	}
	return h.Sum64()
}

// randomPlayer is a player with n resources, units and buildings of
// random names and values, negative numbers included.
func randomPlayer(r *rand.Rand, n int) Player {
	p := Player{LastSeq: r.Int64() - r.Int64(), Rev: r.Uint64(), RaidsOut: r.IntN(5),
		Base: actions.Base{Res: map[string]int64{}, Army: map[string]int{},
			Trophies: r.IntN(5000) - 100, ShieldUntil: r.Int64(), NextID: r.IntN(1000)}}
	for i := range n {
		p.Base.Res[fmt.Sprintf("res%d-%x", i, r.Uint32())] = r.Int64() - r.Int64()
		p.Base.Army[fmt.Sprintf("unit%d-%x", i, r.Uint32())] = r.IntN(1<<20) - 5
		p.Base.Buildings = append(p.Base.Buildings, actions.Building{ID: fmt.Sprint("b", i), Type: fmt.Sprintf("t%x", r.Uint32()),
			Level: r.IntN(20), X: r.IntN(80) - 40, Y: r.IntN(80), Done: r.Int64()})
	}
	if r.IntN(2) == 0 {
		p.Found = &Found{ID: fmt.Sprintf("u%x", r.Uint64()), Until: r.Int64()}
	}
	return p
}

func TestStateHashIsFNV1a(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	tests := []struct {
		name string
		p    Player
	}{
		{"zero player", Player{}},
		{"empty strings and nil maps", Player{Base: actions.Base{Buildings: []actions.Building{{}}}, Found: &Found{}}},
		{"one of each", randomPlayer(r, 1)},
		{"a grown base", randomPlayer(r, 12)},
		{"more keys than the stack buffer holds", randomPlayer(r, 80)},
	}
	for i := range 200 {
		tests = append(tests, struct {
			name string
			p    Player
		}{fmt.Sprint("random ", i), randomPlayer(r, r.IntN(30))})
	}
	for _, tt := range tests {
		if got, want := stateHash(&tt.p), referenceStateHash(&tt.p); got != want {
			t.Errorf("%s: stateHash %#x, hash/fnv gives %#x", tt.name, got, want)
		}
	}
}

func TestStateHashAllocatesNothing(t *testing.T) {
	p := randomPlayer(rand.New(rand.NewPCG(1, 2)), 12)
	if n := testing.AllocsPerRun(100, func() { stateHash(&p) }); n != 0 {
		t.Errorf("stateHash allocates %.0f times per call, want 0", n)
	}
}

func BenchmarkStateHash(b *testing.B) {
	p := randomPlayer(rand.New(rand.NewPCG(1, 2)), 12)
	b.Run("now", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			stateHash(&p)
		}
	})
	b.Run("hash/fnv and slices.Sorted (before)", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			referenceStateHash(&p)
		}
	})
}
