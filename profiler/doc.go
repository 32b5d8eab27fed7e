// Package profiler owns the per-entry-point latency table (count, average,
// percentiles, max, total, total %), the unhalted-load measurement and the
// alert engine that watches both.
//
// It imports nothing of Rampart's: callers record durations under stable
// entry-point names ("POST /api/v1/actions", "action:build", "s3:get").
//
// # Recording
//
// Callers time with t0 := time.Now(); ...; row.Record(time.Since(t0)): two
// clock reads per measurement, none inside Record. Record takes no lock and
// allocates nothing: it bumps one atomic counter in each of two histograms
// (since reset, and the current slot of the recent window), adds to a sum
// cell picked at random from 8 padded stripes (every recorder updates the
// sum, so one cell would be a contended cache line), and raises the exact
// max with a CAS only when it grows. The histograms use HdrHistogram's own
// bucket layout, so a snapshot hands the counts to hdrhistogram-go, which
// computes the percentiles. Row lookup by name is a plain map read from an
// immutable map replaced when a row is added.
//
// # In flight
//
// Record sees a request only when it ends, so a hung one would be
// invisible. Callers that want it seen while it runs use
//
//	t0 := time.Now()
//	f := row.Begin(t0)
//	...
//	f.End(time.Since(t0))          // or f.EndStatus(d, status)
//
// with the same two clock reads. Begin claims a slot in a fixed table of
// 64 padded shards × 64 slots (one CAS on a shard picked at random, one
// store of row id and start packed in a word); End clears the slot's bit
// and records. No lock, no allocation; 17–60 ns more than Record alone on
// the shared 2-core box (go test -run '^$' -bench 'Record$|RecordInFlight$'
// -cpu=1,2 ./profiler: Record 30–70 ns, Begin+End 47–150 ns), under 0.6%
// of a request's 10–30 µs of CPU. Past 4096 requests at once the rest run
// untracked, counted. Profiler.InFlight lists the oldest with their age,
// HardLimitRule fires for a request still running past the hard limit.
//
// RecordStatus (and EndStatus) also count a row's outcomes: server errors
// (5xx), client errors (4xx) and requests the client abandoned
// (StatusClientClosed, 499), which are neither. The duration is recorded
// whatever the status.
//
// # Exporting
//
// An Exporter folds each row's since-reset histogram into fixed upper
// bounds at read time, for Prometheus: the profiler stays the only clock
// read on the hot path.
//
// # Periods, precision and memory
//
// Since start (or the last Reset): a 2-significant-digit histogram (values
// within 1%) from 1 µs to 60 s, 21 KB. The recent window ("last minute"):
// 6 slots of 10 s at 1 significant digit (within 3–6%, fine for spotting
// what is slow now), 3 KB each; the newest slot is partly filled, so the
// window covers 50–60 s. Profiler.Run rotates it every second; without Run
// it rotates only when read, and measurements made between reads may leave
// it early. Measured with 100 rows (BenchmarkTableMemory): 44 KB a row,
// 4.4 MB for the table. Two digits for the window would cost 157 KB a row
// (15.7 MB); three digits since start 170 KB a row. Avg, max and total are
// exact; percentiles never exceed the max. Options change all of this.
//
// The ALL row merges every row, so nested entry points (an action inside
// its HTTP request) count twice, as they did in the original table; total %
// is the time spent in a row over the period's wall time and passes 100%
// when requests run in parallel. The header's average request latency is
// over request rows only (Options.IsRequest: HTTP routes and WebSocket
// messages).
//
// # Unhalted load
//
// The original server had one event loop, and "unhalted load" was the share
// of wall time it spent handling requests rather than waiting for the next
// one; past 50% requests queue. The Go process has GOMAXPROCS threads
// running Go code on the CPUs it may use, so here
//
//	unhalted load = Δ process CPU time / (Δ wall time × min(GOMAXPROCS, NumCPU))
//
// (a server on one CPU runs two Ps, so that a thread blocked in fdatasync
// does not stop it, and its load is still the share of that one CPU)
// over the last 10 s (Load.Unhalted; Load.Recent over the last 1 s
// sample), where process CPU time is user + system time from getrusage(2).
// It counts everything the process does — handlers, GC, the runtime — which
// is what competes for the threads. runtime/metrics' /cpu/classes would be
// the portable source, but the runtime updates it only at the end of a GC
// cycle, so it stands still for seconds at a time; it is used only where
// getrusage is missing. As the threads approach saturation the cost shows
// up as queueing, which Load.SchedP99 measures directly: the 99th
// percentile, over the same 10 s, of how long runnable goroutines waited for
// a thread (/sched/latencies:seconds, upper bound of the runtime's bucket).
// A Sampler computes both; run it with Sampler.Run.
//
// # Alerts
//
// Alerts evaluates Rules every second (Alerts.Run). A rule's Check returns a
// value and whether its condition holds; the alert fires when it has held
// for Rule.For and resolves when it stops. Each transition is an Event with
// timestamps and the value that triggered it, logged through slog (WARN
// when firing, INFO when resolved), kept (the last 100), streamed to
// subscribers and, with a Notifier, posted as JSON. Built-in rules:
// LoadRule (unhalted load ≥ 50% for 10 s) and HardLimitRule (a request over
// the 200 ms hard limit: Record bumps an atomic counter, the rule notices it
// on the next evaluation; a request begun and still running past the limit
// fires it too). Other packages add their own with AddRule.
package profiler
