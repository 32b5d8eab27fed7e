package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestRegistry(t *testing.T) {
	var r registry
	a, b, a2 := &Online{id: "alice"}, &Online{id: "bob"}, &Online{id: "alice"}
	steps := []struct {
		name string
		do   func() bool // what the step answers
		want bool
		ids  []string // the ids each visits afterwards
	}{
		{"empty", func() bool { _, ok := r.load("alice"); return ok }, false, nil},
		{"store", func() bool { r.store("alice", a); r.store("bob", b); o, ok := r.load("alice"); return ok && o == a }, true, []string{"alice", "bob"}},
		{"replace", func() bool { r.store("alice", a2); o, _ := r.load("alice"); return o == a2 }, true, []string{"alice", "bob"}},
		{"delete another's", func() bool { return r.compareAndDelete("alice", a) }, false, []string{"alice", "bob"}},
		{"delete its own", func() bool { return r.compareAndDelete("alice", a2) }, true, []string{"bob"}},
		{"delete the absent", func() bool { return r.compareAndDelete("carol", a) }, false, []string{"bob"}},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Errorf("%s: %v, want %v", st.name, got, st.want)
		}
		var ids []string
		r.each(func(o *Online) bool { ids = append(ids, o.id); return true })
		slices.Sort(ids)
		if !slices.Equal(ids, st.ids) {
			t.Errorf("%s: each visits %q, want %q", st.name, ids, st.ids)
		}
	}
}

// each holds no lock while f runs: f may delete and store, and stops the
// walk by answering false.
func TestRegistryEachUnlocked(t *testing.T) {
	var r registry
	for i := range 1000 {
		id := fmt.Sprint("p", i)
		r.store(id, &Online{id: id})
	}
	seen := 0
	r.each(func(o *Online) bool {
		seen++
		r.compareAndDelete(o.id, o)
		r.store("x"+o.id, &Online{id: "x" + o.id})
		return seen < 600
	})
	left := 0
	r.each(func(o *Online) bool { left++; return true })
	if seen != 600 || left != 1000 {
		t.Errorf("visited %d (want 600), %d left (want 1000: every delete stored one)", seen, left)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	var r registry
	var wg sync.WaitGroup
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // walks beside the writers, for the race detector
		defer close(done)
		for {
			r.each(func(o *Online) bool { return o.id != "" })
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := fmt.Sprint(w, "-", i)
				o := &Online{id: id}
				r.store(id, o)
				if got, ok := r.load(id); !ok || got != o {
					t.Errorf("load %s after store: %v %v", id, got, ok)
					return
				}
				if i%2 == 0 && !r.compareAndDelete(id, o) {
					t.Errorf("delete %s failed", id)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-done
	n := 0
	r.each(func(*Online) bool { n++; return true })
	if n != 4*1000 {
		t.Errorf("%d players, want 4000", n)
	}
}

// BenchmarkRegistryLoad: one lookup among 25,000 online players, with the
// caches disturbed between lookups as the rest of a request disturbs them
// (the registry against the sync.Map it replaced).
func BenchmarkRegistryLoad(b *testing.B) {
	const n = 25000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%021dAb", rand.Int64())
	}
	trash := make([]byte, 4<<20)
	disturb := func(i int) {
		off := (i * 64 << 10) % len(trash)
		for j := off; j < off+128<<10 && j < len(trash); j += 64 {
			trash[j]++
		}
	}
	// run looks up a random player per iteration through found.
	run := func(b *testing.B, found func(id string) bool) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			disturb(i)
			id := ids[rand.IntN(n)]
			i++
			b.StartTimer()
			if !found(id) {
				b.Fatal("missing")
			}
		}
	}
	b.Run("registry", func(b *testing.B) {
		var r registry
		for _, id := range ids {
			r.store(id, &Online{id: id})
		}
		run(b, func(id string) bool { _, ok := r.load(id); return ok })
	})
	b.Run("sync.Map", func(b *testing.B) {
		var m sync.Map
		for _, id := range ids {
			m.Store(id, &Online{id: id})
		}
		run(b, func(id string) bool { v, ok := m.Load(id); return ok && v.(*Online) != nil })
	})
}
