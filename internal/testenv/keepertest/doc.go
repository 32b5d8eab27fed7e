// Package keepertest owns what the tests of the pages and metrics that
// show bookkeepers use to drive real ones into a known state: a retryable
// error, a backoff that passes at once, calls that land each way, and
// calls held in flight until the test ends, when the keepers must drain.
// A keeper cannot be made to leak from outside, so these are real calls
// through the real package, never hand-made Stats.
package keepertest
