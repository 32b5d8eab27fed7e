package accounts

import (
	"hash/maphash"
	"sync"
	"time"
)

// KeyedLimiter is a token bucket per key (a client address) in bounded
// memory: at most maxKeys buckets. When full, a new key evicts the least
// recently used of a few buckets sampled at random (Go's map iteration
// starts at a random place), as Redis evicts: close to LRU without a list
// whose pointer chasing would cost every Allow a few cache misses. An
// evicted key starts again with a full bucket, which is what it would have
// after being idle for burst/rate anyway; under a flood of distinct keys
// the idlest lose their history first. It is safe for concurrent use; keys
// are spread over shards, each with its own lock.
type KeyedLimiter struct {
	rate   float64 // tokens per second
	burst  float64
	now    func() time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const (
	limiterShards  = 16
	evictionSample = 5
)

type limiterShard struct {
	mu      sync.Mutex
	max     int
	buckets map[string]*bucket // guarded by mu
	_       [40]byte           // keep shards' locks on separate cache lines
}

type bucket struct {
	tokens float64
	last   int64 // Unix ns of the last refill
}

// NewKeyedLimiter allows each key perSecond requests with bursts of burst,
// remembering at most maxKeys keys (at least one per shard). now is the
// clock (nil: time.Now).
func NewKeyedLimiter(perSecond float64, burst, maxKeys int, now func() time.Time) *KeyedLimiter {
	if now == nil {
		now = time.Now
	}
	l := &KeyedLimiter{rate: perSecond, burst: float64(max(burst, 1)), now: now, seed: maphash.MakeSeed()}
	per := max(maxKeys/limiterShards, 1)
	for i := range l.shards {
		l.shards[i].max = per
		l.shards[i].buckets = make(map[string]*bucket, min(per, 1024))
	}
	return l
}

// Allow takes one token from key's bucket. When it is empty it returns
// false and how long until a token is back.
func (l *KeyedLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now().UnixNano()
	s := &l.shards[maphash.String(l.seed, key)%limiterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= s.max {
			b = s.evict()
		} else {
			b = &bucket{}
		}
		b.tokens, b.last = l.burst, now
		s.buckets[key] = b
	} else if el := now - b.last; el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/1e9*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if l.rate <= 0 {
		return false, time.Hour
	}
	return false, time.Duration((1 - b.tokens) / l.rate * 1e9)
}

// evict removes the idlest of a few sampled buckets and returns it for
// reuse.
func (s *limiterShard) evict() *bucket {
	var oldKey string
	var old *bucket
	n := 0
	for k, b := range s.buckets {
		if old == nil || b.last < old.last {
			oldKey, old = k, b
		}
		if n++; n == evictionSample {
			break
		}
	}
	delete(s.buckets, oldKey)
	return old
}

// Len returns how many keys are remembered.
func (l *KeyedLimiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}
