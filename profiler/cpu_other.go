//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package profiler

import "time"

// processCPU falls back to runtime/metrics where getrusage(2) is missing.
// The figure only moves at the end of each GC cycle there.
func processCPU() time.Duration { return cpuFromMetrics() }
