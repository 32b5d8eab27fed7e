package loadtest

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler keeps every player that is waiting for its next step in a heap
// ordered by due time, and hands due players to the workers. A player is
// either in the heap or held by exactly one worker, never both, so player
// fields need no lock: the handoff through mu and the channel orders them.
type scheduler struct {
	mu       sync.Mutex
	h        playerHeap // guarded by mu
	stopping bool       // guarded by mu; once set, every player is due now

	wake chan struct{} // capacity 1: the earliest due time moved up
	due  chan *player  // to the workers; unbuffered, so lag shows up as lag
}

func newScheduler(players int) *scheduler {
	return &scheduler{
		h:    make(playerHeap, 0, players),
		wake: make(chan struct{}, 1),
		due:  make(chan *player),
	}
}

// push queues p for its step at p.next.
func (s *scheduler) push(p *player) {
	s.mu.Lock()
	heap.Push(&s.h, p)
	first := s.h[0] == p
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// stop makes every queued and future player due at once.
func (s *scheduler) stop() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.poke()
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run dispatches due players until ctx ends. It owns the timer.
func (s *scheduler) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	batch := make([]*player, 0, 256)
	for {
		now := time.Now()
		s.mu.Lock()
		for len(s.h) > 0 && len(batch) < cap(batch) && (s.stopping || !s.h[0].next.After(now)) {
			batch = append(batch, heap.Pop(&s.h).(*player))
		}
		wait := time.Duration(-1)
		if len(batch) == 0 && len(s.h) > 0 {
			wait = s.h[0].next.Sub(now)
		}
		s.mu.Unlock()

		for _, p := range batch {
			select {
			case s.due <- p:
			case <-ctx.Done():
				return
			}
		}
		if len(batch) > 0 {
			clear(batch)
			batch = batch[:0]
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.wake:
				timer.Stop()
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}

type playerHeap []*player

func (h playerHeap) Len() int           { return len(h) }
func (h playerHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h playerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *playerHeap) Push(x any)        { *h = append(*h, x.(*player)) }
func (h *playerHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
