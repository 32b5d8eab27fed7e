// Package bookkeeper owns the accounting of every asynchronous path: what is
// queued, on the wire or waiting to retry on each named channel ("s3",
// "mongo", "webhook"), with concurrency and queue limits, per-try timeouts,
// retries with backoff, and a drain for shutdown.
//
// Every call handed to a Keeper (Do, or Go for fire-and-forget work) is
// accepted and then lives in exactly one state until it lands exactly once:
//
//	accepted ─┬─▶ dropped                      (queue full, at once)
//	          └─▶ in_queue ─▶ on_wire ─┬─▶ ok
//	               ▲                   ├─▶ errors   (not retryable, or out of tries)
//	               └─ waiting_for_retry ◀┘           (retryable: backoff, then retries++)
//	   any state ─▶ cancelled                       (the caller's ctx ended)
//
// Counters and gauges change together under one lock, so
// missing = accepted − (ok + errors + dropped + cancelled + in_queue +
// on_wire + waiting_for_retry) is 0 in every snapshot; anything else is a
// leak and raises the "missing" alert. This is Battlehouse's AsyncHTTP
// bookkeeper, with retries counted in flight rather than lost, and
// cancellation, a try timeout and an error-rate window added.
//
// It imports nothing of Rampart's: latency goes out through Config.Observe,
// alerts through Rules, the page reads Stats.
package bookkeeper
