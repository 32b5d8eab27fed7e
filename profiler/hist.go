package profiler

import (
	"math/bits"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// lowestNs is the lowest discernible value: durations are recorded in
// nanoseconds with 1 µs resolution (HdrHistogram rounds the unit down to a
// power of two, 512 ns).
const lowestNs = 1000

// layout is HdrHistogram's log-linear bucket layout, recomputed here so the
// record path can bump an atomic counter without a lock and a snapshot can
// hand the counts to hdrhistogram-go unchanged. layout_test checks that
// index agrees with hdrhistogram-go for every bucket.
type layout struct {
	highest    int64 // values above are clamped to it
	sigFigs    int
	unitMag    uint  // log2 of the unit (512 ns)
	subHalfMag uint  // log2 of half the sub-buckets per bucket
	subHalf    int64 // half the sub-buckets per bucket
	subMask    int64
	n          int // number of counters, as hdrhistogram-go allocates them
}

func newLayout(highest int64, sigFigs int) layout {
	// hdrhistogram-go clamps the digits the same way.
	sigFigs = min(max(sigFigs, 1), 5)
	h := hdrhistogram.New(lowestNs, highest, sigFigs)
	l := layout{
		highest: highest,
		sigFigs: sigFigs,
		unitMag: uint(bits.Len64(lowestNs) - 1),
		n:       len(h.Export().Counts),
	}
	// Smallest power of two ≥ 2·10^digits sub-buckets, as in hdrhistogram.New.
	single := uint64(2)
	for range sigFigs {
		single *= 10
	}
	subMag := uint(bits.Len64(single - 1))
	l.subHalfMag = subMag - 1
	l.subHalf = 1 << l.subHalfMag
	l.subMask = (int64(1)<<subMag - 1) << l.unitMag
	return l
}

// index is hdrhistogram-go's countsIndexFor, with clamping instead of an
// error for values out of range.
func (l *layout) index(v int64) int {
	if v < 0 {
		v = 0
	} else if v > l.highest {
		v = l.highest
	}
	bucket := uint(bits.Len64(uint64(v|l.subMask))) - l.unitMag - l.subHalfMag - 1
	sub := v >> (bucket + l.unitMag)
	return int(int64(bucket+1)<<l.subHalfMag + sub - l.subHalf)
}

// value is the lowest value that maps to counter i.
func (l *layout) value(i int) int64 {
	bucket, sub := int64(0), int64(i)
	if sub >= 2*l.subHalf {
		bucket = int64(i>>l.subHalfMag) - 1
		sub = int64(i)&(l.subHalf-1) + l.subHalf
	}
	return sub << (uint(bucket) + l.unitMag)
}

func (l *layout) hdr() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestNs, l.highest, l.sigFigs)
}

// hist is a concurrently recordable histogram in a layout's shape plus the
// exact sum and max, which the buckets only approximate.
type hist struct {
	counts []atomic.Uint64
	sums   [stripes]paddedInt64 // ns, striped: every recorder adds to the sum
	max    atomic.Int64         // ns; written only when it grows
}

// stripes spreads the sum, which every measurement updates, over cache
// lines, so parallel recorders do not queue for one line.
const stripes = 8

type paddedInt64 struct {
	atomic.Int64
	_ [56]byte
}

func newHist(l *layout) *hist {
	return &hist{counts: make([]atomic.Uint64, l.n)}
}

// record adds v; stripe (< stripes) picks the sum cell.
func (h *hist) record(l *layout, v int64, stripe uint32) {
	h.counts[l.index(v)].Add(1)
	h.sums[stripe%stripes].Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

func (h *hist) zero() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	for i := range h.sums {
		h.sums[i].Store(0)
	}
	h.max.Store(0)
}

// addTo adds h's counts to acc (len l.n) and returns h's count, sum and max.
func (h *hist) addTo(acc []int64) (count, sum, maxv int64) {
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			acc[i] += int64(c)
			count += int64(c)
		}
	}
	for i := range h.sums {
		sum += h.sums[i].Load()
	}
	return count, sum, h.max.Load()
}
