package state

import (
	"container/heap"
	"sync"
)

// dueQueue orders the online players by the moment the sweep next looks
// at each (Online.dueAt), so that a sweep visits the players due and no
// others. Scanning every player each second instead cost 2.3% of the
// server's core at 25,000 players, and grew with them (BENCHMARKS.md).
//
// It holds at most one entry per player (Online.dueSlot): setting the
// moment again moves the entry, and a player leaving memory takes its
// entry out, so the queue never keeps a player alive.
type dueQueue struct {
	mu sync.Mutex
	h  dueHeap
}

type dueEntry struct {
	at int64 // Unix ms
	o  *Online
}

// dueHeap keeps each entry's index+1 in its player's dueSlot (0: not
// queued), so an entry can be moved or removed.
type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].o.dueSlot, h[j].o.dueSlot = i+1, j+1
}
func (h *dueHeap) Push(x any) {
	e := x.(dueEntry)
	e.o.dueSlot = len(*h) + 1
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*h = old[:len(old)-1]
	e.o.dueSlot = 0
	return e
}

// set queues o at at, or moves its entry there.
func (q *dueQueue) set(o *Online, at int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := o.dueSlot - 1; i >= 0 {
		q.h[i].at = at
		heap.Fix(&q.h, i)
		return
	}
	heap.Push(&q.h, dueEntry{at: at, o: o})
}

// remove takes o's entry out, if it has one.
func (q *dueQueue) remove(o *Online) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := o.dueSlot - 1; i >= 0 {
		heap.Remove(&q.h, i)
	}
}

// take removes and returns the entries due at now or before, earliest
// first. Their players are queued again by whoever looks at them.
func (q *dueQueue) take(now int64) []dueEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []dueEntry
	for len(q.h) > 0 && q.h[0].at <= now {
		out = append(out, heap.Pop(&q.h).(dueEntry))
	}
	return out
}

// len is the number of players queued.
func (q *dueQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}

// setDue sets when the sweep next looks at o (o.mu held). A player that
// left memory is not queued again.
func (s *Store) setDue(o *Online, at int64) {
	o.dueAt.Store(at)
	if !o.gone {
		s.due.set(o, at)
	}
}
