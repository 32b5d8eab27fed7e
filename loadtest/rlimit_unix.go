//go:build unix

package loadtest

import (
	"fmt"
	"syscall"
)

// FileLimit is the soft limit on open files now in force (every simulated
// connection is a file). Go raises the soft limit to the hard one at start
// (since Go 1.19), so there is nothing to raise here.
func FileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("get open file limit: %w", err)
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}
