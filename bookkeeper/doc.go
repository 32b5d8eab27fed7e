// Package bookkeeper owns the accounting of every asynchronous path: what is
// queued, on the wire or waiting to retry on each named channel ("s3",
// "mongo", "webhook"), with concurrency and queue limits, per-try timeouts,
// retries with backoff, and a drain for shutdown.
//
// It imports nothing of Rampart's.
package bookkeeper
