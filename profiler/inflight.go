package profiler

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// The in-flight table: flightShards shards of 64 slots, one bit each in the
// shard's used mask. Begin claims a free bit with one CAS in a shard picked
// at random (padded, so parallel requests rarely share a cache line) and
// End clears it; a full shard sends Begin to the next, and after
// flightTries full shards the request runs untracked (counted). 4096 slots
// is far above what a server has in flight at once: requests take
// microseconds.
const (
	flightShards = 64
	flightTries  = 4
)

// StatusClientClosed is the status a request the client abandoned counts
// as (nginx's and tsweb's 499): neither a success nor a server error.
const StatusClientClosed = 499

type flightShard struct {
	used atomic.Uint64 // bit i: slots[i] is claimed
	_    [56]byte
	// slots[i] is written only by the goroutine holding bit i, once, at
	// Begin: (row id + 1) << idShift | start in µs since Profiler.start, one
	// word so a reader never pairs one request's row with another's start.
	// End only clears the bit (one locked instruction, not two), so a
	// reader that races a release may list a request that ended an instant
	// ago; it rechecks the bit to keep that window small.
	slots [64]atomic.Uint64
}

// idShift leaves 48 bits of µs for the start (8.9 years) and 16 for the
// row id; rows past maxFlightRows run untracked.
const (
	idShift       = 48
	maxFlightRows = 1<<(64-idShift) - 2
	startMask     = 1<<idShift - 1
)

// Flight is one request in flight, from Row.Begin to End. It is a value:
// keep it on the stack, end it once.
type Flight struct {
	row  *Row
	slot int32 // shard*64 + bit + 1; 0: untracked
}

// Begin marks one measurement of r as started at t0 (the caller's own
// clock read, which it also uses for the duration it passes to End), so
// /debug/latency lists it and the hard-limit alert sees it while it runs.
// It takes no lock, reads no clock and allocates nothing.
//
//	t0 := time.Now()
//	f := row.Begin(t0)
//	h.ServeHTTP(w, r)
//	f.End(time.Since(t0))
func (r *Row) Begin(t0 time.Time) Flight {
	p := r.p
	if !p.enabled.Load() || r.id > maxFlightRows {
		return Flight{row: r}
	}
	word := uint64(r.id+1)<<idShift | uint64(max(t0.Sub(p.start)/time.Microsecond, 0))&startMask
	s := rand.Uint32()
	for try := range uint32(flightTries) {
		sh := &p.flights[(s+try)%flightShards]
		for {
			m := sh.used.Load()
			if m == ^uint64(0) {
				break
			}
			i := bits.TrailingZeros64(^m)
			if sh.used.CompareAndSwap(m, m|1<<i) {
				sh.slots[i].Store(word)
				return Flight{row: r, slot: int32((s+try)%flightShards)*64 + int32(i) + 1}
			}
		}
	}
	p.untracked.Add(1)
	return Flight{row: r}
}

// End records the measurement (Row.Record) and frees the slot. The zero
// Flight does nothing.
func (f Flight) End(d time.Duration) {
	if f.row == nil {
		return
	}
	f.release()
	f.row.Record(d)
}

// EndStatus is End for a request that answered status (RecordStatus).
func (f Flight) EndStatus(d time.Duration, status int) {
	if f.row == nil {
		return
	}
	f.release()
	f.row.RecordStatus(d, status)
}

func (f Flight) release() {
	if f.slot == 0 {
		return
	}
	i := f.slot - 1
	f.row.p.flights[i/64].used.And(^(uint64(1) << (i % 64)))
}

// RecordStatus is Record for a request that answered status, counted as
// CountStatus does. The duration counts in the latency table whatever the
// status: the server spent that time.
func (r *Row) RecordStatus(d time.Duration, status int) {
	r.Record(d)
	r.CountStatus(status)
}

// CountStatus counts one request's outcome without recording a duration,
// for the layer that knows the status when another one times the request
// (api's error adapter inside its timing wrapper): 5xx counts as a server
// error, StatusClientClosed (499) as aborted by the client, other 4xx as a
// client error, anything else as success (Row.Outcomes).
func (r *Row) CountStatus(status int) {
	if status < 400 || !r.p.enabled.Load() {
		return
	}
	switch {
	case status == StatusClientClosed:
		r.aborted.Add(1)
	case status >= 500:
		r.serverErrors.Add(1)
	default:
		r.clientErrors.Add(1)
	}
}

// Outcomes are a row's non-success counts since New (Reset does not clear
// them, so exporters can treat them as counters).
type Outcomes struct {
	Aborted      uint64 // status StatusClientClosed: the client went away first
	ClientErrors uint64 // other 4xx
	ServerErrors uint64 // 5xx
}

// Outcomes returns the row's non-success counts.
func (r *Row) Outcomes() Outcomes {
	return Outcomes{Aborted: r.aborted.Load(), ClientErrors: r.clientErrors.Load(), ServerErrors: r.serverErrors.Load()}
}

// InFlight is one measurement begun and not yet ended.
type InFlight struct {
	Name    string
	Request bool
	Started time.Time
	Age     time.Duration
}

// InFlightReport is what is running now.
type InFlightReport struct {
	At    time.Time
	Total int // tracked requests in flight
	// Oldest are the oldest of them, oldest first, at most the limit asked
	// for.
	Oldest []InFlight
	// Untracked counts, since New, the requests that found the table full
	// and ran without being listed.
	Untracked uint64
}

// InFlight lists the oldest limit measurements in flight (Row.Begin
// without End yet) and counts them all, ages by the profiler's clock.
func (p *Profiler) InFlight(limit int) InFlightReport {
	now := p.opts.Now()
	rep := InFlightReport{At: now, Untracked: p.untracked.Load()}
	var all []InFlight
	p.eachFlight(now, func(r *Row, age int64) {
		rep.Total++
		all = append(all, InFlight{Name: r.name, Request: r.request, Age: time.Duration(age),
			Started: now.Add(-time.Duration(age))})
	})
	slices.SortFunc(all, func(a, b InFlight) int { return -cmpDur(a.Age, b.Age) })
	if limit >= 0 && len(all) > limit {
		all = all[:limit]
	}
	rep.Oldest = all
	return rep
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// eachFlight calls f for every measurement in flight with its age in ns
// at now (µs resolution).
func (p *Profiler) eachFlight(now time.Time, f func(r *Row, age int64)) {
	cur := int64(now.Sub(p.start) / time.Microsecond)
	byID := *p.byID.Load()
	for si := range p.flights {
		sh := &p.flights[si]
		m := sh.used.Load()
		for m != 0 {
			i := bits.TrailingZeros64(m)
			m &^= 1 << i
			w := sh.slots[i].Load()
			if w == 0 || sh.used.Load()&(1<<i) == 0 {
				continue // being claimed, or just released
			}
			id := int(w>>idShift) - 1
			if id < 0 || id >= len(byID) {
				continue
			}
			f(byID[id], max(cur-int64(w&startMask), 0)*int64(time.Microsecond))
		}
	}
}
