package journal

import "os"

// File is what the journal needs of an open segment. *os.File satisfies it;
// Options.FS exists so tests can inject write and sync faults.
type File interface {
	// WriteAt writes a batch at the segment's logical end (the file itself
	// may be longer: its tail is preallocated zeros).
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes written data durable (fdatasync on Linux).
	Sync() error
	Truncate(size int64) error
	Close() error
}

// allocator is a File that can reserve a segment's blocks ahead of the
// writes (fallocate). A batch written into reserved blocks changes no file
// size, so its fdatasync flushes the data alone rather than the data and
// the inode: about half the time and the kernel CPU on ext4.
type allocator interface {
	Allocate(size int64) error
}

// FS opens segment files for writing. The zero Options use the real
// file system.
type FS interface {
	// OpenFile opens name for writing (os.O_WRONLY, plus os.O_CREATE|
	// os.O_TRUNC for a new segment).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
}

// OSFS is the real file system; Sync is fdatasync.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile opens a segment with os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return dataSyncFile{f}, nil
}

// dataSyncFile syncs with fdatasync: appends need the data and the size,
// not the timestamps.
type dataSyncFile struct{ *os.File }

func (f dataSyncFile) Sync() error { return fdatasync(f.File) }

// Allocate reserves the file's blocks up to size (fallocate; where the file
// system has none, nothing happens and writes extend the file as before).
func (f dataSyncFile) Allocate(size int64) error { return fallocate(f.File, size) }

// syncDir makes a created or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
