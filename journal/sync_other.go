//go:build !linux

package journal

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

// lockFile is a no-op off Linux: run one server per journal directory.
func lockFile(f *os.File) error { return nil }

// fallocate is a no-op off Linux: segments grow with their writes.
func fallocate(f *os.File, size int64) error { return nil }
