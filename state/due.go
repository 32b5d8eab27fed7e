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
// An entry is a promise to look at o at at; setting o.dueAt again pushes
// a new one and leaves the old in place. The sweep drops an entry whose
// at is no longer o.dueAt (superseded) or whose player left memory, so
// the queue holds at most one live entry per player plus the superseded
// ones still to come due.
type dueQueue struct {
	mu sync.Mutex
	h  dueHeap
}

type dueEntry struct {
	at int64 // Unix ms
	o  *Online
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*h = old[:len(old)-1]
	return e
}

func (q *dueQueue) push(at int64, o *Online) {
	q.mu.Lock()
	heap.Push(&q.h, dueEntry{at: at, o: o})
	q.mu.Unlock()
}

// take removes and returns the entries due at now or before, each player
// once, in due order.
func (q *dueQueue) take(now int64) []dueEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []dueEntry
	var seen map[*Online]bool
	for len(q.h) > 0 && q.h[0].at <= now {
		e := heap.Pop(&q.h).(dueEntry)
		if e.o.dueAt.Load() != e.at || seen[e.o] {
			continue // superseded, or twice at the same moment
		}
		if seen == nil {
			seen = map[*Online]bool{}
		}
		seen[e.o] = true
		out = append(out, e)
	}
	return out
}

// len is the number of entries, superseded ones included.
func (q *dueQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}

// setDue sets when the sweep next looks at o.
func (s *Store) setDue(o *Online, at int64) {
	o.dueAt.Store(at)
	s.due.push(at, o)
}
