package journal

import "os"

// File is what the journal needs of an open segment. *os.File satisfies it;
// Options.FS exists so tests can inject write and sync faults.
type File interface {
	Write(p []byte) (int, error)
	// Sync makes written data durable (fdatasync on Linux).
	Sync() error
	Truncate(size int64) error
	Close() error
}

// FS opens segment files for appending. The zero Options use the real
// file system.
type FS interface {
	// OpenFile opens name for appending (os.O_WRONLY|os.O_APPEND, plus
	// os.O_CREATE|os.O_EXCL for a new segment).
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

// syncDir makes a created or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
