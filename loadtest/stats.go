package loadtest

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// op is a kind of exchange with the server, timed separately.
type op int

const (
	opLogin op = iota
	opActions
	opPlayer
	opLogout
	nOps
)

var opNames = [nOps]string{"login", "actions", "player", "logout"}

// Histograms hold microseconds, 1µs to 10 minutes, 3 significant digits.
const (
	histMin = 1
	histMax = int64(10 * time.Minute / time.Microsecond)
	histSig = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

func recordHist(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	h.RecordValue(us) // cannot fail: clamped to range
}

// kindCount counts what happened to one kind of move.
type kindCount struct {
	Sent      int64 `json:"sent"`
	OK        int64 `json:"ok"`
	Failed    int64 `json:"failed"`
	Duplicate int64 `json:"duplicate,omitempty"`
	Pending   int64 `json:"pending,omitempty"`
}

// shard is one slice of the counters. Workers share shards (a histogram
// is ~100 KiB, too big to give each of thousands of workers its own); the
// lock is held for a few counter updates, so contention stays low.
type shard struct {
	mu sync.Mutex

	lat      [nOps]*hdrhistogram.Histogram // whole run
	lag      *hdrhistogram.Histogram       // how late steps started
	ivl      *hdrhistogram.Histogram       // actions latency since the last progress line
	requests [nOps]int64

	actionsSent int64 // actions in requests that got a reply
	actionsAck  int64 // fresh (not duplicate) results
	ivlActions  int64
	ivlErrors   int64

	httpErrors map[string]int64 // "<status> <code>" of non-2xx replies
	netErrors  map[string]int64 // transport failures by class
	actFail    map[string]int64 // failure codes of actions meant to be valid
	expectFail map[string]int64 // failure codes of deliberately invalid actions
	kinds      map[string]*kindCount
	events     map[string]int64 // WebSocket events by kind

	resignins   map[string]int64 // fresh sign-ins of a live player by why
	rereads     map[string]int64 // state reads by why
	unpredicted map[string]int64 // actions answered but not predicted, by why

	predictedBatches, predicted int64 // batches and actions held against the rules
	divergences                 int64 // answers or states the rules did not predict
	external                    int64 // divergences a raid or an async result explained
	stateChecks                 int64 // state reads held against the predicted base
}

func newShard() *shard {
	s := &shard{
		lag:        newHist(),
		ivl:        newHist(),
		httpErrors: map[string]int64{},
		netErrors:  map[string]int64{},
		actFail:    map[string]int64{},
		expectFail: map[string]int64{},
		kinds:      map[string]*kindCount{},
		events:     map[string]int64{},

		resignins:   map[string]int64{},
		rereads:     map[string]int64{},
		unpredicted: map[string]int64{},
	}
	for i := range s.lat {
		s.lat[i] = newHist()
	}
	return s
}

func (s *shard) exchange(o op, d time.Duration) {
	s.mu.Lock()
	s.requests[o]++
	recordHist(s.lat[o], d)
	if o == opActions {
		recordHist(s.ivl, d)
	}
	s.mu.Unlock()
}

func (s *shard) lagged(d time.Duration) {
	s.mu.Lock()
	recordHist(s.lag, d)
	s.mu.Unlock()
}

// count counts an error by key.
func (s *shard) count(m map[string]int64, key string) {
	s.mu.Lock()
	m[key]++
	s.ivlErrors++
	s.mu.Unlock()
}

// tally counts something that is not an error by key.
func (s *shard) tally(m map[string]int64, key string) {
	s.mu.Lock()
	m[key]++
	s.mu.Unlock()
}

func (s *shard) event(kind string) {
	s.mu.Lock()
	s.events[kind]++
	s.mu.Unlock()
}

// kind returns the counters of kind k; the caller holds mu.
func (s *shard) kind(k string) *kindCount {
	c := s.kinds[k]
	if c == nil {
		c = &kindCount{}
		s.kinds[k] = c
	}
	return c
}

// interval is what the progress line shows for the last second.
type interval struct {
	actions, errors int64
	p50, p99        time.Duration
}

// takeInterval merges and resets the interval counters of all shards.
func takeInterval(shards []*shard, into *hdrhistogram.Histogram) interval {
	into.Reset()
	var iv interval
	for _, s := range shards {
		s.mu.Lock()
		into.Merge(s.ivl)
		s.ivl.Reset()
		iv.actions += s.ivlActions
		iv.errors += s.ivlErrors
		s.ivlActions, s.ivlErrors = 0, 0
		s.mu.Unlock()
	}
	if into.TotalCount() > 0 {
		iv.p50 = time.Duration(into.ValueAtQuantile(50)) * time.Microsecond
		iv.p99 = time.Duration(into.ValueAtQuantile(99)) * time.Microsecond
	}
	return iv
}
