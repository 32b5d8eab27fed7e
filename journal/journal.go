package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Append. Each means the record was not accepted: the
// caller answers 503 and must not count the change as applied.
var (
	ErrClosed     = errors.New("journal: closed")
	ErrDiskBudget = errors.New("journal: disk budget exhausted")
	ErrTooLarge   = errors.New("journal: record too large")
	ErrBacklog    = errors.New("journal: too many bytes waiting for the disk")
	// ErrPlayerLost: an earlier record of this player failed to reach the
	// disk, so a later one would make the journal skip a change. Reload the
	// player from durable state, then call Resume.
	ErrPlayerLost = errors.New("journal: an earlier record of this player was lost; reload it and call Resume")
)

// Options configure a Journal. The zero value is usable.
type Options struct {
	// SegmentSize rotates to a new segment file once the active one holds
	// this many bytes (checked between batches, so a segment may exceed it
	// by one batch). Default 64 MiB.
	SegmentSize int64
	// MaxBatchRecords and MaxBatchBytes end the Window early. A batch keeps
	// growing while the previous one is being synced, bounded by
	// MaxPendingBytes. Defaults 4096 records, 1 MiB.
	MaxBatchRecords int
	MaxBatchBytes   int
	// Window is how long an idle writer waits after the first record of a
	// batch for more to join it. Default 0: write at once; while a sync is
	// in flight the next batch fills by itself (see the package doc).
	Window time.Duration
	// SyncInterval paces the group commit under load: when records arrived
	// during a sync, the next sync starts no sooner than SyncInterval after
	// the start of the one before, so its batch gathers more records. A
	// record that finds the writer idle is synced at once. Each fdatasync
	// costs the kernel 150-400 µs of CPU on a virtual disk, so pacing is
	// what keeps the journal's share of a loaded core small; it adds at most
	// SyncInterval to a reply. Default 2 ms; negative: no pacing.
	SyncInterval time.Duration
	// Each new segment's SegmentSize bytes are reserved when it is created
	// (fallocate), so a batch's fdatasync changes no file size; the newest
	// segment file therefore ends in zeros. NoPreallocate turns that off.
	NoPreallocate bool
	// MaxDisk bounds the bytes of all segments plus the bytes accepted and
	// not yet written; Append fails with ErrDiskBudget past it. Default 2 GiB.
	MaxDisk int64
	// MaxPendingBytes bounds the bytes accepted and not yet written; Append
	// fails with ErrBacklog past it. Default 16 MiB.
	MaxPendingBytes int
	// OnSync, if set, is called by the writer goroutine after every
	// successful batch (for a latency histogram). It must not block.
	OnSync func(records, bytes int, took time.Duration)
	// FS opens segment files; default OSFS. Tests inject faults through it.
	FS FS
}

func (o *Options) defaults() {
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 2 * time.Millisecond
	}
	if o.MaxBatchRecords <= 0 {
		o.MaxBatchRecords = 4096
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.MaxDisk <= 0 {
		o.MaxDisk = 2 << 30
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 16 << 20
	}
	if o.MaxPendingBytes > maxFrame {
		o.MaxPendingBytes = maxFrame
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
}

// batch is one frame on its way to the disk. Appenders fill buf under
// Journal.mu while it is Journal.cur; then the writer owns it. lsn and err
// are written by the writer before done is closed, and read only after.
type batch struct {
	buf  []byte
	n    int
	done chan struct{}
	lsn  LSN
	err  error
}

// Ticket is the receipt of an Append: Wait on it before acknowledging.
// The zero Ticket is not valid.
type Ticket struct {
	b   *batch
	off uint32 // offset of the record in its frame
}

// Done is closed once the record's batch is durable or failed.
func (t Ticket) Done() <-chan struct{} { return t.b.done }

// Wait blocks until the record is durable and returns its LSN, or returns
// the error that kept its batch off the disk. When ctx ends first the
// record's fate is unknown (it may still become durable): treat it as not
// acknowledged.
func (t Ticket) Wait(ctx context.Context) (LSN, error) {
	select {
	case <-t.b.done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if t.b.err != nil {
		return 0, t.b.err
	}
	return t.b.lsn + LSN(t.off), nil
}

// Journal is an open journal directory. Append, Resume, ReleaseBefore,
// ReadDurable, SyncedLSN, DiskUsage and Stats are safe for concurrent use.
type Journal struct {
	dir  string
	opts Options
	lock *os.File // flock held for the journal's lifetime

	kick   chan struct{} // a batch got its first record (cap 1)
	full   chan struct{} // a batch reached MaxBatch* (cap 1)
	quit   chan struct{} // closed by Close
	exited chan struct{} // closed when the writer returns

	mu      sync.Mutex // guards the fields below
	cur     *batch     // the batch being filled, nil when none
	pending int        // bytes accepted and not yet written or failed
	closed  bool
	lost    map[string]struct{} // players whose records failed; see ErrPlayerLost
	// Written batches' buffers, for reuse: at most two batches are in use
	// at once (the one being filled and the one being written), so two
	// spares mean a batch never allocates in steady state. With one, two
	// commits in a row with no batch started between them dropped a
	// buffer, and a third of all batches allocated their 1 MiB afresh.
	spare [][]byte

	// Owned by the writer goroutine (and by Open/Close around it).
	f      File
	base   LSN   // first LSN of the active segment
	size   int64 // good bytes in the active segment: written and synced
	repair bool  // a failed write may have left bytes past size

	segMu sync.Mutex // guards segs
	segs  []segment  // oldest first; the last is the active one

	synced atomic.Int64 // LSN up to which everything is durable
	disk   atomic.Int64 // bytes in all segments

	st counters
}

type counters struct {
	records, batches, bytes, syncs      atomic.Int64
	syncNanos, syncMaxNanos, maxRecords atomic.Int64
	appendErrors, writeErrors, failed   atomic.Int64
	rotateErrors, corrupt, torn         atomic.Int64
	allocErrors                         atomic.Int64
}

// Open opens (creating if needed) the journal in dir and starts its writer
// goroutine, which Close ends. It takes an exclusive lock on dir/LOCK, cuts a
// torn tail off the newest segment, and starts a new segment after it if
// that segment holds corrupt frames (they are kept for Replay to report).
func Open(dir string, opts Options) (*Journal, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: open %s: cannot create directory: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: directory is not writable: %w", dir, err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal: open %s: in use by another process: %w", dir, err)
	}
	j := &Journal{
		dir: dir, opts: opts, lock: lock,
		kick: make(chan struct{}, 1), full: make(chan struct{}, 1),
		quit: make(chan struct{}), exited: make(chan struct{}),
	}
	if err := j.recover(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	go j.run()
	return j, nil
}

// recover finds where to append and opens the active segment.
func (j *Journal) recover() error {
	segs, err := listSegments(j.dir)
	if err != nil {
		return err
	}
	var disk int64
	for _, s := range segs {
		disk += s.size
	}
	if len(segs) == 0 {
		if err := j.create(0); err != nil {
			return err
		}
		j.segs = []segment{{base: 0}}
		return nil
	}
	last := segs[len(segs)-1]
	path := j.path(last.base)
	res, err := scanSegment(path, last.base, true, nil)
	if err != nil {
		return err
	}
	switch {
	case res.corrupt != nil:
		j.st.corrupt.Add(1)
		next := last.base + LSN(last.size)
		if err := j.create(next); err != nil {
			return err
		}
		segs = append(segs, segment{base: next})
	default:
		f, err := j.opts.FS.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if res.torn > 0 {
			if err := f.Truncate(res.end); err == nil {
				err = f.Sync()
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("cut torn tail of %s at %d: %w", path, res.end, err)
			}
			j.st.torn.Add(res.torn)
			j.allocate(f)
		}
		// A zero tail (the segment's preallocation) stays: batches go on
		// being written into it.
		disk -= res.torn + res.free
		segs[len(segs)-1].size = res.end
		j.f, j.base, j.size = f, last.base, res.end
	}
	j.segs = segs
	j.disk.Store(disk)
	j.synced.Store(int64(j.base) + j.size)
	return nil
}

func (j *Journal) path(base LSN) string { return filepath.Join(j.dir, segmentName(base)) }

// create makes base the active segment: a new empty file, its directory
// entry synced.
func (j *Journal) create(base LSN) error {
	f, err := j.opts.FS.OpenFile(j.path(base), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	j.allocate(f)
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("sync directory: %w", err)
	}
	if j.f != nil {
		j.f.Close() // synced: every batch is synced before the next one
	}
	j.f, j.base, j.size = f, base, 0
	return nil
}

// allocate reserves the active segment's blocks (see Options.NoPreallocate).
// It is best effort: without it the segment grows with its writes, and the
// file's zero tail is never read as data (see the package doc).
func (j *Journal) allocate(f File) {
	if a, ok := f.(allocator); ok && !j.opts.NoPreallocate {
		if err := a.Allocate(j.opts.SegmentSize); err != nil {
			j.st.allocErrors.Add(1)
		}
	}
}

// Append encodes r into the batch being filled and returns at once. It does
// not wait for the disk: Wait on the ticket before acknowledging. Records
// appended one after the other (for one player: under its lock) are in that
// order in the journal. r is copied; r.Args may be reused after Append returns.
func (j *Journal) Append(r Record) (Ticket, error) {
	size := encodedSize(&r)
	if size > MaxRecord {
		j.st.appendErrors.Add(1)
		return Ticket{}, ErrTooLarge
	}
	need := uvarintLen(uint64(size)) + size
	j.mu.Lock()
	if err := j.admitLocked(&r, need); err != nil {
		j.mu.Unlock()
		j.st.appendErrors.Add(1)
		return Ticket{}, err
	}
	b := j.cur
	if b == nil {
		b = j.newBatchLocked()
		j.pending += len(b.buf)
	}
	off := len(b.buf)
	b.buf = appendRecord(b.buf, &r, size)
	b.n++
	j.pending += len(b.buf) - off
	first := b.n == 1
	full := b.n >= j.opts.MaxBatchRecords || len(b.buf) >= j.opts.MaxBatchBytes
	j.mu.Unlock()
	if first {
		signal(j.kick)
	}
	if full {
		signal(j.full)
	}
	return Ticket{b: b, off: uint32(off)}, nil
}

// Write appends r and waits until it is durable.
func (j *Journal) Write(ctx context.Context, r Record) (LSN, error) {
	t, err := j.Append(r)
	if err != nil {
		return 0, err
	}
	return t.Wait(ctx)
}

func (j *Journal) admitLocked(r *Record, need int) error {
	if j.closed {
		return ErrClosed
	}
	if len(j.lost) > 0 {
		if _, ok := j.lost[r.Player]; ok {
			return ErrPlayerLost
		}
	}
	if j.cur == nil {
		need += frameHeader + 1
	}
	if j.pending+need > j.opts.MaxPendingBytes {
		return ErrBacklog
	}
	if j.disk.Load()+int64(j.pending+need) > j.opts.MaxDisk {
		return ErrDiskBudget
	}
	return nil
}

func (j *Journal) newBatchLocked() *batch {
	var buf []byte
	if n := len(j.spare); n > 0 {
		buf, j.spare = j.spare[n-1][:0], j.spare[:n-1]
	} else {
		buf = make([]byte, 0, j.opts.MaxBatchBytes+4096)
	}
	buf = append(buf, make([]byte, frameHeader)...)
	buf = append(buf, formatVersion)
	b := &batch{buf: buf, done: make(chan struct{})}
	j.cur = b
	return b
}

// maxSpares is how many written buffers the journal keeps (see spare).
const maxSpares = 2

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Resume lets Append accept records of player again after ErrPlayerLost,
// once the caller has rebuilt the player from durable state.
func (j *Journal) Resume(player string) {
	j.mu.Lock()
	delete(j.lost, player)
	j.mu.Unlock()
}

// run is the writer goroutine: the only one that writes, syncs, rotates and
// truncates segment files. It exits after Close has flushed the last batch.
func (j *Journal) run() {
	defer close(j.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	wait := func(d time.Duration) (quit bool) {
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-j.full:
			timer.Stop()
		case <-j.quit:
			timer.Stop()
			return true
		}
		return false
	}
	for {
		quit := false
		select {
		case <-j.kick:
		case <-j.quit:
			quit = true
		}
		if j.opts.Window > 0 && !quit {
			quit = wait(j.opts.Window)
		}
		// Commit until no batch is waiting: the records that arrived during
		// a sync form the next batch, which goes once SyncInterval has
		// passed since the sync before it started (or once it is full).
		var last time.Time
		for {
			j.mu.Lock()
			waiting := j.cur != nil
			j.mu.Unlock()
			if !waiting {
				break
			}
			if d := j.opts.SyncInterval - time.Since(last); !last.IsZero() && d > 0 && !quit {
				quit = wait(d)
			}
			j.mu.Lock()
			b := j.cur
			j.cur = nil
			j.mu.Unlock()
			last = time.Now()
			j.commit(b)
		}
		if quit {
			return
		}
	}
}

// commit writes and syncs one batch, then releases its waiters.
func (j *Journal) commit(b *batch) {
	frame := len(b.buf)
	putHeader(b.buf)
	if err := j.prepare(); err != nil {
		j.fail(b, err)
		return
	}
	lsn := j.base + LSN(j.size)
	start := time.Now()
	n, err := j.f.WriteAt(b.buf, j.size)
	if err == nil && n < frame {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = j.f.Sync()
	}
	took := time.Since(start)
	if err != nil {
		// The file may hold part of the frame, or all of it unsynced (after a
		// failed fdatasync the page cache cannot be trusted): cut it off.
		j.repair = true
		err = fmt.Errorf("journal: append %d bytes to %s at offset %d: %w", frame, j.path(j.base), j.size, err)
		j.tryRepair()
		j.fail(b, err)
		return
	}
	j.size += int64(frame)
	j.segMu.Lock()
	j.segs[len(j.segs)-1].size = j.size
	j.segMu.Unlock()
	j.disk.Add(int64(frame))
	j.synced.Store(int64(lsn) + int64(frame))

	j.st.records.Add(int64(b.n))
	j.st.batches.Add(1)
	j.st.bytes.Add(int64(frame))
	j.st.syncs.Add(1)
	j.st.syncNanos.Add(int64(took))
	if int64(took) > j.st.syncMaxNanos.Load() {
		j.st.syncMaxNanos.Store(int64(took))
	}
	if int64(b.n) > j.st.maxRecords.Load() {
		j.st.maxRecords.Store(int64(b.n))
	}

	b.lsn = lsn
	buf := b.buf
	b.buf = nil
	j.mu.Lock()
	j.pending -= frame
	if len(j.spare) < maxSpares && cap(buf) <= 2*j.opts.MaxBatchBytes+4096 {
		j.spare = append(j.spare, buf)
	}
	j.mu.Unlock()
	close(b.done)
	if j.opts.OnSync != nil {
		j.opts.OnSync(b.n, frame, took)
	}
}

// prepare runs before each write: it cuts what a failed write left behind,
// and rotates a full segment.
func (j *Journal) prepare() error {
	if j.repair {
		if err := j.tryRepair(); err != nil {
			return fmt.Errorf("journal: cut %s back to %d after a failed write: %w", j.path(j.base), j.size, err)
		}
	}
	if j.size >= j.opts.SegmentSize {
		next := j.base + LSN(j.size)
		// The full segment loses its preallocated tail first, durably: only
		// the newest segment may end in zeros.
		err := j.f.Truncate(j.size)
		if err == nil {
			err = j.f.Sync()
		}
		if err == nil {
			err = j.create(next)
		}
		if err != nil {
			// Keep appending to the full segment; retried next batch.
			j.st.rotateErrors.Add(1)
			return nil
		}
		j.segMu.Lock()
		j.segs = append(j.segs, segment{base: next})
		j.segMu.Unlock()
	}
	return nil
}

// tryRepair truncates the active segment back to its last synced size, so
// a partial or unsynced write can never be read as journal data.
func (j *Journal) tryRepair() error {
	err := j.f.Truncate(j.size)
	if err == nil {
		err = j.f.Sync()
	}
	if err == nil {
		j.repair = false
		j.allocate(j.f)
	}
	return err
}

// fail hands err to b's waiters, and to the batch being filled: its records
// were appended before anyone could see the failure, some on top of a lost
// change. Their players are fenced (ErrPlayerLost) until Resume.
func (j *Journal) fail(b *batch, err error) {
	j.st.writeErrors.Add(1)
	j.mu.Lock()
	next := j.cur
	j.cur = nil
	j.pending -= len(b.buf)
	if next != nil {
		j.pending -= len(next.buf)
	}
	if j.lost == nil {
		j.lost = make(map[string]struct{})
	}
	for _, x := range []*batch{b, next} {
		if x == nil {
			continue
		}
		decodePayload(x.buf[frameHeader:], 0, func(_ LSN, r *Record) error {
			j.lost[r.Player] = struct{}{}
			return nil
		})
	}
	j.mu.Unlock()
	j.st.failed.Add(int64(b.n))
	b.err = err
	close(b.done)
	if next != nil {
		j.st.failed.Add(int64(next.n))
		next.err = fmt.Errorf("journal: batch failed with the one before it: %w", err)
		close(next.done)
	}
}

// Close flushes and syncs what was appended, stops the writer and releases
// the directory. Appends after Close fail with ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.quit)
	<-j.exited
	err := j.f.Close()
	if lerr := j.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("journal: close %s: %w", j.dir, err)
	}
	return nil
}

// SyncedLSN is the end of the durable journal: every byte below it is
// synced and will never change. Ship [last shipped, SyncedLSN) with
// ReadDurable.
func (j *Journal) SyncedLSN() LSN { return LSN(j.synced.Load()) }

// FirstLSN is the first LSN still on disk (ReleaseBefore moves it).
func (j *Journal) FirstLSN() LSN {
	j.segMu.Lock()
	defer j.segMu.Unlock()
	return j.segs[0].base
}

// DiskUsage is the bytes of all segment files.
func (j *Journal) DiskUsage() int64 { return j.disk.Load() }

// ErrReleased is returned by ReadDurable for an LSN whose segment was deleted.
var ErrReleased = errors.New("journal: lsn released")

// ReadDurable returns whole frames of durable data starting at from (which
// must be a frame boundary: 0, a segment start, or an end returned before),
// at most max bytes unless the first frame alone is larger, and never
// crossing a segment. next is where the following read starts; from == next
// means nothing new is durable. The bytes decode with DecodeAll(data, from, fn).
func (j *Journal) ReadDurable(from LSN, max int) (data []byte, next LSN, err error) {
	synced := LSN(j.synced.Load())
	if from >= synced {
		return nil, from, nil
	}
	j.segMu.Lock()
	i := len(j.segs) - 1
	for i > 0 && j.segs[i].base > from {
		i--
	}
	s := j.segs[i]
	if from < s.base {
		j.segMu.Unlock()
		return nil, from, fmt.Errorf("read from %d, first lsn %d: %w", from, s.base, ErrReleased)
	}
	end := s.base + LSN(s.size)
	if from == end && i+1 < len(j.segs) {
		s = j.segs[i+1]
		end = s.base + LSN(s.size)
	}
	j.segMu.Unlock()
	if end > synced {
		end = synced
	}
	if from >= end {
		return nil, from, nil
	}
	path := j.path(s.base)
	f, err := os.Open(path)
	if err != nil {
		return nil, from, fmt.Errorf("journal: read %s: %w", path, err)
	}
	defer f.Close()
	pos := from
	var hdr [frameHeader]byte
	for pos < end {
		if _, err := f.ReadAt(hdr[:], int64(pos-s.base)); err != nil {
			return nil, from, fmt.Errorf("journal: read %s at %d: %w", path, pos-s.base, err)
		}
		n, _, ok := parseHeader(hdr[:])
		if !ok || pos+frameHeader+LSN(n) > end {
			return nil, from, &CorruptError{File: path, Offset: int64(pos - s.base), LSN: pos, Reason: "bad frame header"}
		}
		if pos > from && int(pos-from)+frameHeader+n > max {
			break
		}
		pos += frameHeader + LSN(n)
	}
	data = make([]byte, pos-from)
	if _, err := f.ReadAt(data, int64(from-s.base)); err != nil {
		return nil, from, fmt.Errorf("journal: read %s at %d: %w", path, from-s.base, err)
	}
	return data, pos, nil
}

// ReleaseBefore deletes every segment that lies entirely below lsn (never
// the active one) and returns how many it deleted. The caller passes the
// smallest LSN any player still needs (see the package doc).
func (j *Journal) ReleaseBefore(lsn LSN) (int, error) {
	j.segMu.Lock()
	var gone []segment
	for len(j.segs) > 1 && j.segs[1].base <= lsn {
		gone = append(gone, j.segs[0])
		j.segs = j.segs[1:]
	}
	j.segMu.Unlock()
	for i, s := range gone {
		if err := os.Remove(j.path(s.base)); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Put the rest back so a later call retries them.
			j.segMu.Lock()
			j.segs = append(append([]segment(nil), gone[i:]...), j.segs...)
			j.segMu.Unlock()
			return i, fmt.Errorf("journal: release %s: %w", j.path(s.base), err)
		}
		j.disk.Add(-s.size)
	}
	return len(gone), nil
}

// Stats is a snapshot of the journal's counters, for metrics.
type Stats struct {
	Records, Batches, Bytes int64 // committed
	Syncs                   int64
	SyncNanos, SyncMaxNanos int64 // sum and max of write+fdatasync time
	MaxBatchRecords         int64 // the largest batch so far
	AppendErrors            int64 // Appends refused (closed, budget, backlog, too large, lost player)
	WriteErrors             int64 // batches whose write or sync failed
	FailedRecords           int64 // records whose Wait returned a write error
	RotateErrors            int64 // failed segment creations (the old segment kept growing)
	CorruptSegments         int64 // newest segment found corrupt by Open (a new one was started)
	TornBytes               int64 // torn tail cut off by Open
	DiskBytes               int64
	Segments                int
	SyncedLSN, FirstLSN     LSN
}

// Stats returns the counters.
func (j *Journal) Stats() Stats {
	j.segMu.Lock()
	segs, first := len(j.segs), j.segs[0].base
	j.segMu.Unlock()
	return Stats{
		Records: j.st.records.Load(), Batches: j.st.batches.Load(), Bytes: j.st.bytes.Load(),
		Syncs: j.st.syncs.Load(), SyncNanos: j.st.syncNanos.Load(), SyncMaxNanos: j.st.syncMaxNanos.Load(),
		MaxBatchRecords: j.st.maxRecords.Load(),
		AppendErrors:    j.st.appendErrors.Load(), WriteErrors: j.st.writeErrors.Load(),
		FailedRecords: j.st.failed.Load(), RotateErrors: j.st.rotateErrors.Load(),
		CorruptSegments: j.st.corrupt.Load(), TornBytes: j.st.torn.Load(),
		DiskBytes: j.disk.Load(), Segments: segs, SyncedLSN: j.SyncedLSN(), FirstLSN: first,
	}
}
