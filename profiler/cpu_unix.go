//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package profiler

import (
	"syscall"
	"time"
)

// processCPU is the user and system CPU time the process has used, from
// getrusage(2): exact and current, unlike runtime/metrics' /cpu/classes,
// which the runtime only updates at the end of a GC cycle.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuFromMetrics()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
