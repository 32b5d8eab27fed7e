package journal

import (
	"errors"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"
)

// faultFS wraps the real file system and injects errors: the fake exists only
// for faults, every byte still goes to a real file.
type faultFS struct {
	mu        sync.Mutex
	writeErr  error // Write writes partial bytes, then fails with it
	partial   int
	syncErr   error
	truncErr  error
	createErr error
}

type faultFile struct {
	File
	fs *faultFS
}

func (fs *faultFS) set(f func(*faultFS)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f(fs)
}

func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	fs.mu.Lock()
	err := fs.createErr
	fs.mu.Unlock()
	if err != nil && flag&os.O_CREATE != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := OSFS{}.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return faultFile{f, fs}, nil
}

func (f faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	err, partial := f.fs.writeErr, f.fs.partial
	f.fs.mu.Unlock()
	if err != nil {
		n, _ := f.File.WriteAt(p[:min(partial, len(p))], off)
		return n, err
	}
	return f.File.WriteAt(p, off)
}

// Allocate passes through: the faults are injected on a preallocated
// segment, as the server runs.
func (f faultFile) Allocate(size int64) error { return f.File.(allocator).Allocate(size) }

func (f faultFile) Sync() error {
	f.fs.mu.Lock()
	err := f.fs.syncErr
	f.fs.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Sync()
}

func (f faultFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	err := f.fs.truncErr
	f.fs.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func TestWriteFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  func(*faultFS)
		errIs  error
		repair bool // the cut-back fails too while the fault lasts
	}{
		{"disk full mid-write", func(fs *faultFS) { fs.writeErr, fs.partial = syscall.ENOSPC, 7 }, syscall.ENOSPC, false},
		{"disk full, nothing written", func(fs *faultFS) { fs.writeErr = syscall.ENOSPC }, syscall.ENOSPC, false},
		{"fsync fails", func(fs *faultFS) { fs.syncErr = syscall.EIO }, syscall.EIO, false},
		{"fsync and truncate fail", func(fs *faultFS) { fs.syncErr, fs.truncErr = syscall.EIO, syscall.EIO }, syscall.EIO, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			j := mustOpen(t, dir, Options{FS: ffs})
			var want []Record
			for i := range 5 {
				r := testRecord("alice", i)
				if _, err := j.Write(t.Context(), r); err != nil {
					t.Fatal(err)
				}
				want = append(want, cloneRecord(&r))
			}
			good := j.SyncedLSN()

			ffs.set(tt.fault)
			_, err := j.Write(t.Context(), testRecord("bob", 1))
			if !errors.Is(err, tt.errIs) {
				t.Fatalf("Write during the fault: %v, want %v", err, tt.errIs)
			}
			if j.SyncedLSN() != good {
				t.Errorf("SyncedLSN moved to %d during the fault, want %d", j.SyncedLSN(), good)
			}
			// The player whose record was lost is fenced until Resume.
			if _, err := j.Append(testRecord("bob", 2)); !errors.Is(err, ErrPlayerLost) {
				t.Errorf("Append for the player whose record failed: %v, want ErrPlayerLost", err)
			}
			if tt.repair {
				// The next batch fails before writing: the cut-back is retried first.
				if _, err := j.Write(t.Context(), testRecord("carol", 1)); err == nil {
					t.Errorf("Write while the segment cannot be cut back: no error")
				}
			}
			if !tt.repair {
				assertZeroAfter(t, j.path(0), int64(good)) // cut back: nothing of the failed batch stays
			}

			ffs.set(func(fs *faultFS) {
				fs.writeErr, fs.partial, fs.syncErr, fs.truncErr, fs.createErr = nil, 0, nil, nil, nil
			})
			j.Resume("bob")
			r := testRecord("bob", 3)
			lsn, err := j.Write(t.Context(), r)
			if err != nil {
				t.Fatalf("Write after the fault cleared: %v", err)
			}
			if lsn != good+frameHeader+1 {
				t.Errorf("first record after the fault at %d, want %d", lsn, good+frameHeader+1)
			}
			want = append(want, cloneRecord(&r))
			st := j.Stats()
			if st.WriteErrors == 0 || st.FailedRecords == 0 {
				t.Errorf("stats %+v: want the write error and the failed record counted", st)
			}
			mustClose(t, j)

			got, rst, err := replayAll(t, dir)
			if err != nil || rst.TornBytes != 0 {
				t.Fatalf("replay after the fault: %v, torn %d", err, rst.TornBytes)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("replay got %d records, want the %d that were acknowledged", len(got), len(want))
			}
		})
	}
}

// TestFailureFailsTheBatchBehind: records appended while a failing batch is
// in flight fail with it, so no player's later change lands without its
// earlier one.
func TestFailureFailsTheBatchBehind(t *testing.T) {
	g := newGateFS()
	ffs := &faultFS{syncErr: syscall.EIO}
	j := mustOpen(t, t.TempDir(), Options{FS: gateOver{g, ffs}})
	first, _ := j.Append(testRecord("alice", 1))
	<-g.entered
	behind := mustAppend(t, j, testRecord("alice", 2))
	other, _ := j.Append(testRecord("zed", 1))
	// From here on let every sync through (the cut-back after the failure syncs too).
	go func() {
		g.release <- struct{}{}
		for range g.entered {
			g.release <- struct{}{}
		}
	}()
	if _, err := first.Wait(t.Context()); !errors.Is(err, syscall.EIO) {
		t.Errorf("failing batch: %v, want EIO", err)
	}
	if _, err := behind.Wait(t.Context()); !errors.Is(err, syscall.EIO) {
		t.Errorf("batch behind it: %v, want EIO", err)
	}
	if _, err := other.Wait(t.Context()); err == nil {
		t.Errorf("batch behind it (other player): no error")
	}
	for _, p := range []string{"alice", "zed"} {
		if _, err := j.Append(testRecord(p, 3)); !errors.Is(err, ErrPlayerLost) {
			t.Errorf("%s after the failure: %v, want ErrPlayerLost", p, err)
		}
	}
	if st := j.Stats(); st.FailedRecords != 3 {
		t.Errorf("FailedRecords = %d, want 3", st.FailedRecords)
	}
	ffs.set(func(fs *faultFS) { fs.syncErr = nil })
	if _, err := j.Write(t.Context(), testRecord("newcomer", 1)); err != nil {
		t.Errorf("unaffected player after the fault: %v", err)
	}
	mustClose(t, j)
	close(g.entered)
}

// gateOver holds syncs at the gate, then applies the faults.
type gateOver struct {
	g  *gateFS
	fs *faultFS
}

func (o gateOver) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := o.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return gateFile{f, o.g}, nil
}

func TestRotationFailureKeepsAppending(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	j := mustOpen(t, dir, Options{FS: ffs, SegmentSize: 300})
	ffs.set(func(fs *faultFS) { fs.createErr = syscall.ENOSPC })
	for i := range 20 {
		if _, err := j.Write(t.Context(), testRecord("a", i)); err != nil {
			t.Fatalf("Write %d while segments cannot be created: %v", i, err)
		}
	}
	st := j.Stats()
	if st.RotateErrors == 0 || st.Segments != 1 {
		t.Errorf("stats %+v: want rotate errors and one segment", st)
	}
	ffs.set(func(fs *faultFS) { fs.createErr = nil })
	if _, err := j.Write(t.Context(), testRecord("a", 20)); err != nil {
		t.Fatal(err)
	}
	if j.Stats().Segments != 2 {
		t.Errorf("after the fault cleared: %d segments, want 2", j.Stats().Segments)
	}
	mustClose(t, j)
	if got, _, err := replayAll(t, dir); err != nil || len(got) != 21 {
		t.Errorf("replay: %d records, %v; want 21", len(got), err)
	}
}
