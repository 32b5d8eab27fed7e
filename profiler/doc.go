// Package profiler owns the per-entry-point latency table (count, average,
// percentiles, max, total, total %), the unhalted-load measurement and the
// alert engine that watches both.
//
// It imports nothing of Rampart's: callers record durations under stable
// entry-point names ("POST /api/v1/actions", "action:build", "s3:get").
package profiler
