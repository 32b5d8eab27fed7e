package accounts

import (
	"hash/maphash"
	"sync"
	"time"
)

// KeyedLimiter is a token bucket per key (a client address) in bounded
// memory: at most MaxKeys buckets, the least recently used evicted first.
// An evicted key starts again with a full bucket, which is what it would
// have after being idle for Burst/Rate anyway; under a flood of distinct
// keys the oldest lose their history first. It is safe for concurrent use;
// keys are spread over shards, each with its own lock and LRU list.
type KeyedLimiter struct {
	rate   float64 // tokens per second
	burst  float64
	now    func() time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const limiterShards = 16

type limiterShard struct {
	mu      sync.Mutex
	max     int
	buckets map[string]*bucket // guarded by mu
	// head is the sentinel of the LRU ring: head.next is the most recent.
	head bucket // guarded by mu
}

type bucket struct {
	key        string
	tokens     float64
	last       int64 // Unix ns of the last refill
	prev, next *bucket
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
		s := &l.shards[i]
		s.max = per
		s.buckets = make(map[string]*bucket, min(per, 1024))
		s.head.next, s.head.prev = &s.head, &s.head
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
			old := s.head.prev
			s.unlink(old)
			delete(s.buckets, old.key)
			*old = bucket{} // reuse it: no allocation once the shard is full
			b = old
		} else {
			b = &bucket{}
		}
		b.key, b.tokens, b.last = key, l.burst, now
		s.buckets[key] = b
	} else {
		s.unlink(b)
		if el := now - b.last; el > 0 {
			b.tokens = min(l.burst, b.tokens+float64(el)/1e9*l.rate)
			b.last = now
		}
	}
	s.pushFront(b)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if l.rate <= 0 {
		return false, time.Hour
	}
	return false, time.Duration((1 - b.tokens) / l.rate * 1e9)
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

func (s *limiterShard) unlink(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

func (s *limiterShard) pushFront(b *bucket) {
	b.prev, b.next = &s.head, s.head.next
	s.head.next.prev = b
	s.head.next = b
}
