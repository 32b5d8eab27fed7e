//go:build linux

package journal

import (
	"os"
	"syscall"
)

// fdCall runs call on f's descriptor, again while it is interrupted
// (EINTR), and names f and op in the error it returns.
func fdCall(f *os.File, op string, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for serr = call(int(fd)); serr == syscall.EINTR; serr = call(int(fd)) {
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}

func fdatasync(f *os.File) error { return fdCall(f, "fdatasync", syscall.Fdatasync) }

// lockFile takes an exclusive, non-blocking flock on f: two processes
// appending to one journal directory would interleave their frames.
func lockFile(f *os.File) error {
	return fdCall(f, "flock", func(fd int) error { return syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) })
}

// fallocate reserves [0, size) of f. A file system without fallocate
// (EOPNOTSUPP) is not an error: the journal then appends as usual.
func fallocate(f *os.File, size int64) error {
	err := fdCall(f, "fallocate", func(fd int) error { return syscall.Fallocate(fd, 0, 0, size) })
	if pe, ok := err.(*os.PathError); ok && pe.Err == syscall.EOPNOTSUPP {
		return nil
	}
	return err
}
