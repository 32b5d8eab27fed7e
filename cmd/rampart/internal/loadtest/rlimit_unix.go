//go:build unix

package loadtest

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises the soft limit on open files to the hard limit and
// returns the limit now in force. The server calls it too: every WebSocket
// and keep-alive connection is a file.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open file limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return uint64(lim.Cur), nil
	}
	raised := lim
	raised.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return uint64(lim.Cur), fmt.Errorf("raise open file limit from %d to %d: %w", lim.Cur, lim.Max, err)
	}
	return uint64(raised.Cur), nil
}
