//go:build !unix

package loadtest

// RaiseFileLimit is a no-op where there is no RLIMIT_NOFILE; it reports no
// limit.
func RaiseFileLimit() (uint64, error) { return 0, nil }
