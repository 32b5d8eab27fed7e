package state

import (
	"sync"
	"unsafe"
)

// registryShards is how many maps the online players are spread over
// (1<<6: shard takes the hash's top 6 bits).
const registryShards = 64

// registry is the online players by id: 64 maps, each behind its own
// RWMutex, the shard chosen by FNV-1a of the id. It replaced a sync.Map,
// whose hash trie cost a cache miss per level: 4.2 µs a lookup in the
// profile at 25,000 players, where every request looks its player up
// (Authenticate). BenchmarkRegistryLoad compares the two. The zero value
// is empty and ready.
type registry struct {
	shards [registryShards]registryShard
}

type registryShard struct {
	mu sync.RWMutex
	m  map[string]*Online
	// 64 bytes a shard, so that two shards share at most the cache line
	// at their edge (the array itself is not 64-byte aligned).
	_ [64 - unsafe.Sizeof(sync.RWMutex{}) - unsafe.Sizeof(map[string]*Online(nil))]byte
}

func (r *registry) shard(id string) *registryShard {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	// The top bits: FNV-1a's low bits depend on the bytes' low bits only.
	return &r.shards[h>>(32-6)]
}

// load finds id's player.
func (r *registry) load(id string) (*Online, bool) {
	sh := r.shard(id)
	sh.mu.RLock()
	o, ok := sh.m[id]
	sh.mu.RUnlock()
	return o, ok
}

// store makes o id's player.
func (r *registry) store(id string, o *Online) {
	sh := r.shard(id)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*Online)
	}
	sh.m[id] = o
	sh.mu.Unlock()
}

// compareAndDelete removes id if o is its player, and says whether it did.
func (r *registry) compareAndDelete(id string, o *Online) bool {
	sh := r.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[id] != o {
		return false
	}
	delete(sh.m, id)
	return true
}

// each calls f for every player until f answers false. Like sync.Map's
// Range it is no snapshot of the whole: each shard is copied under its
// lock and f runs with no lock held, so f may block, and may load, store
// or delete players.
func (r *registry) each(f func(o *Online) bool) {
	var buf []*Online
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		buf = buf[:0]
		for _, o := range sh.m {
			buf = append(buf, o)
		}
		sh.mu.RUnlock()
		for _, o := range buf {
			if !f(o) {
				return
			}
		}
	}
}
