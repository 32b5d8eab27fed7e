package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// assertZeroAfter checks that the segment at path holds nothing but zeros
// (its preallocated tail) from end on.
func assertZeroAfter(t *testing.T, path string, end int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) < end {
		t.Fatalf("%s is %d bytes, shorter than its end %d", path, len(b), end)
	}
	for i, c := range b[end:] {
		if c != 0 {
			t.Fatalf("%s: byte %d after the end %d is %#x, want only zeros", path, end+int64(i), end, c)
		}
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *Journal {
	t.Helper()
	j, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return j
}

func mustAppend(t testing.TB, j *Journal, r Record) Ticket {
	t.Helper()
	tk, err := j.Append(r)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return tk
}

func mustClose(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// testRecord is deterministic content for player p's n-th record.
func testRecord(p string, n int) Record {
	return Record{Player: p, Rev: uint64(n + 1), Seq: int64(n), Kind: Kind(1 + n%6), Name: fmt.Sprintf("action_%d", n%7),
		At: 1764579600000 + int64(n), Version: "gd-1", Args: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, n, strings.Repeat("z", n%50))),
		Hash: uint64(n) * 0x9e3779b97f4a7c15}
}

type logged struct {
	lsn LSN
	rec Record
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var synced, syncedRecords int // written by the writer goroutine, read after Close
	j := mustOpen(t, dir, Options{OnSync: func(records, bytes int, took time.Duration) {
		synced++
		syncedRecords += records
	}})
	var want []logged
	for i := range 50 {
		r := testRecord("alice", i)
		lsn, err := j.Write(t.Context(), r)
		if err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		if len(want) > 0 && lsn <= want[len(want)-1].lsn {
			t.Fatalf("lsn %d not above the previous %d", lsn, want[len(want)-1].lsn)
		}
		want = append(want, logged{lsn, cloneRecord(&r)})
	}
	st := j.Stats()
	if st.Records != 50 || st.SyncedLSN != LSN(st.Bytes) || st.DiskBytes != st.Bytes {
		t.Errorf("stats %+v: want 50 records, SyncedLSN = Bytes = DiskBytes", st)
	}
	mustClose(t, j)
	if int64(synced) != st.Syncs || syncedRecords != 50 {
		t.Errorf("OnSync called %d times for %d records, want %d for 50", synced, syncedRecords, st.Syncs)
	}
	var got []logged
	rst, err := Replay(dir, 0, func(lsn LSN, r *Record) error {
		got = append(got, logged{lsn, cloneRecord(r)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replay differs from what was written")
	}
	if rst.End != st.SyncedLSN || rst.TornBytes != 0 {
		t.Errorf("replay stats %+v, want End %d and no torn bytes", rst, st.SyncedLSN)
	}
	// Replay from an LSN skips what is before it.
	var n int
	if _, err := Replay(dir, want[10].lsn, func(LSN, *Record) error { n++; return nil }); err != nil || n != 40 {
		t.Errorf("Replay from the 11th record: %d records, err %v; want 40", n, err)
	}
	// Reopening continues the LSN space.
	j = mustOpen(t, dir, Options{})
	lsn, err := j.Write(t.Context(), testRecord("bob", 1))
	if err != nil || lsn != st.SyncedLSN+frameHeader+1 {
		t.Errorf("after reopen: lsn %d err %v, want %d", lsn, err, st.SyncedLSN+frameHeader+1)
	}
	mustClose(t, j)
}

// gateFS holds the writer inside Sync until released, so a test can line
// records up behind a sync in flight without sleeping.
type gateFS struct {
	entered chan struct{}
	release chan struct{}
}

func newGateFS() *gateFS {
	return &gateFS{entered: make(chan struct{}), release: make(chan struct{})}
}

type gateFile struct {
	File
	g *gateFS
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := OSFS{}.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return gateFile{f, g}, nil
}

func (f gateFile) Sync() error {
	f.g.entered <- struct{}{}
	<-f.g.release
	return f.File.Sync()
}

// TestGroupCommitBatchesBehindSync: records appended while a sync is in
// flight go to disk together, with one sync.
func TestGroupCommitBatchesBehindSync(t *testing.T) {
	g := newGateFS()
	j := mustOpen(t, t.TempDir(), Options{FS: g})
	first := mustAppend(t, j, testRecord("p0", 0))
	<-g.entered // the writer is syncing the first batch
	var tickets []Ticket
	for i := range 100 {
		tk := mustAppend(t, j, testRecord(fmt.Sprintf("p%d", i%10), i+1))
		tickets = append(tickets, tk)
	}
	g.release <- struct{}{}
	if _, err := first.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.release <- struct{}{}
	for _, tk := range tickets {
		if _, err := tk.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	st := j.Stats()
	if st.Syncs != 2 || st.Records != 101 || st.MaxBatchRecords != 100 {
		t.Errorf("got %d syncs for %d records (largest batch %d), want 2 for 101 (100)", st.Syncs, st.Records, st.MaxBatchRecords)
	}
	mustClose(t, j)
}

// TestGroupCommitConcurrent: many appenders on the real disk share syncs.
func TestGroupCommitConcurrent(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{})
	const players, each = 64, 20
	var wg sync.WaitGroup
	lsns := make([][]LSN, players)
	for p := range players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				lsn, err := j.Write(context.Background(), testRecord(fmt.Sprintf("p%d", p), i))
				if err != nil {
					t.Error(err)
					return
				}
				lsns[p] = append(lsns[p], lsn)
			}
		}()
	}
	wg.Wait()
	st := j.Stats()
	if st.Records != players*each || st.Syncs >= st.Records {
		t.Errorf("%d records took %d syncs, want fewer syncs than records", st.Records, st.Syncs)
	}
	mustClose(t, j)
	// Per player, the journal holds its records in append order.
	next := make(map[string]int)
	if _, err := Replay(dir, 0, func(lsn LSN, r *Record) error {
		p := 0
		fmt.Sscanf(r.Player, "p%d", &p)
		i := next[r.Player]
		if want := testRecord(r.Player, i); !reflect.DeepEqual(cloneRecord(r), cloneRecord(&want)) || lsns[p][i] != lsn {
			return fmt.Errorf("record at %d of %s is not its %d-th", lsn, r.Player, i)
		}
		next[r.Player]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestWindowEndsWhenBatchIsFull(t *testing.T) {
	// An hour-long window must not delay a full batch.
	j := mustOpen(t, t.TempDir(), Options{Window: time.Hour, MaxBatchRecords: 10})
	var tickets []Ticket
	for i := range 10 {
		tk := mustAppend(t, j, testRecord("a", i))
		tickets = append(tickets, tk)
	}
	for _, tk := range tickets {
		if _, err := tk.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if st := j.Stats(); st.Syncs != 1 {
		t.Errorf("got %d syncs, want 1", st.Syncs)
	}
	// Close flushes a batch still inside its window.
	tk := mustAppend(t, j, testRecord("a", 10))
	mustClose(t, j)
	if _, err := tk.Wait(t.Context()); err != nil {
		t.Errorf("record appended before Close: %v", err)
	}
}

func TestRotationAndRelease(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{SegmentSize: 1000})
	var lsns []LSN
	for i := range 200 {
		lsn, err := j.Write(t.Context(), testRecord("a", i))
		if err != nil {
			t.Fatal(err)
		}
		lsns = append(lsns, lsn)
	}
	segs, _ := listSegments(dir)
	st := j.Stats()
	if len(segs) < 10 || st.Segments != len(segs) {
		t.Fatalf("%d segment files, Stats.Segments %d; want ≥ 10 and equal", len(segs), st.Segments)
	}
	var sum int64
	for i, s := range segs {
		if i == len(segs)-1 {
			s.size = int64(st.SyncedLSN - s.base) // the rest is its preallocated zero tail
			assertZeroAfter(t, filepath.Join(dir, segmentName(s.base)), s.size)
		}
		sum += s.size
		if i > 0 && s.base != segs[i-1].base+LSN(segs[i-1].size) {
			t.Errorf("segment %d starts at %d, the one before ends at %d", i, s.base, segs[i-1].base+LSN(segs[i-1].size))
		}
	}
	if sum != j.DiskUsage() {
		t.Errorf("DiskUsage %d, files hold %d", j.DiskUsage(), sum)
	}
	// Release below the 100th record: segments wholly below it go.
	n, err := j.ReleaseBefore(lsns[100])
	if err != nil || n == 0 {
		t.Fatalf("ReleaseBefore: %d, %v", n, err)
	}
	after, _ := listSegments(dir)
	if len(after) != len(segs)-n || after[0].base > lsns[100] || j.FirstLSN() != after[0].base {
		t.Errorf("after release: %d segments from %d (FirstLSN %d), want %d from ≤ %d", len(after), after[0].base, j.FirstLSN(), len(segs)-n, lsns[100])
	}
	var first LSN = -1
	var count int
	if _, err := Replay(dir, lsns[100], func(lsn LSN, r *Record) error {
		if first < 0 {
			first = lsn
		}
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if first != lsns[100] || count != 100 {
		t.Errorf("replay after release starts at %d with %d records, want %d with 100", first, count, lsns[100])
	}
	// Releasing everything keeps the active segment.
	j.ReleaseBefore(j.SyncedLSN() + 1)
	if left, _ := listSegments(dir); len(left) != 1 {
		t.Errorf("%d segments after releasing all, want the active one", len(left))
	}
	if _, err := j.Write(t.Context(), testRecord("a", 200)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, j)
}

func TestDiskBudget(t *testing.T) {
	j := mustOpen(t, t.TempDir(), Options{SegmentSize: 500, MaxDisk: 2000})
	var err error
	var last LSN
	for i := 0; i < 1000 && err == nil; i++ {
		var lsn LSN
		if lsn, err = j.Write(t.Context(), testRecord("a", i)); err == nil {
			last = lsn
		}
	}
	if !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("got %v, want ErrDiskBudget", err)
	}
	if du := j.DiskUsage(); du > 2000 {
		t.Errorf("DiskUsage %d above MaxDisk 2000", du)
	}
	if j.Stats().AppendErrors != 1 {
		t.Errorf("AppendErrors = %d, want 1", j.Stats().AppendErrors)
	}
	if _, err := j.ReleaseBefore(last); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Write(t.Context(), testRecord("a", 0)); err != nil {
		t.Errorf("after release: %v", err)
	}
	mustClose(t, j)
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(file, "journal"), Options{}); err == nil || !strings.Contains(err.Error(), "cannot create directory") {
		t.Errorf("Open under a regular file: %v, want a 'cannot create directory' error", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "LOCK"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("Open where LOCK cannot be created: %v", err)
	}
	dir = t.TempDir()
	j := mustOpen(t, dir, Options{})
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open of one directory: %v, want 'in use'", err)
	}
	mustClose(t, j)
	if _, err := j.Append(testRecord("a", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := j.Append(Record{Args: make([]byte, MaxRecord)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge record: %v, want ErrTooLarge", err)
	}
}

// TestLongHistory writes many records from several appenders across many
// segments and a reopen, then checks that Replay, and the shipped chunks
// decoded with DecodeAll, give back exactly what was written, byte for byte.
func TestLongHistory(t *testing.T) {
	dir := t.TempDir()
	written := make(map[LSN][]byte)
	var mu sync.Mutex
	var chunks [][]byte
	var chunkBase []LSN
	shipped := LSN(0)
	ship := func(j *Journal) {
		for {
			data, next, err := j.ReadDurable(shipped, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if next == shipped {
				return
			}
			chunks = append(chunks, data)
			chunkBase = append(chunkBase, shipped)
			shipped = next
		}
	}
	for round := range 2 {
		j := mustOpen(t, dir, Options{SegmentSize: 16 << 10})
		var wg sync.WaitGroup
		for p := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 300 {
					r := testRecord(fmt.Sprintf("r%dp%d", round, p), i)
					lsn, err := j.Write(context.Background(), r)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					written[lsn] = Encode(&r)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		ship(j)
		if shipped != j.SyncedLSN() {
			t.Errorf("shipped up to %d, synced %d", shipped, j.SyncedLSN())
		}
		mustClose(t, j)
	}
	check := func(name string, got map[LSN][]byte) {
		t.Helper()
		if len(got) != len(written) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(written))
		}
		for lsn, b := range written {
			if !bytes.Equal(got[lsn], b) {
				t.Fatalf("%s: record at %d differs", name, lsn)
			}
		}
	}
	replayed := make(map[LSN][]byte)
	rst, err := Replay(dir, 0, func(lsn LSN, r *Record) error {
		replayed[lsn] = Encode(r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("Replay", replayed)
	decoded := make(map[LSN][]byte)
	for i, c := range chunks {
		if err := DecodeAll(c, chunkBase[i], func(lsn LSN, r *Record) error {
			decoded[lsn] = Encode(r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check("shipped chunks", decoded)
	// The shipped chunks are the segment files' bytes, in order.
	var files, ship2 []byte
	segs, _ := listSegments(dir)
	for i, s := range segs {
		b, _ := os.ReadFile(filepath.Join(dir, segmentName(s.base)))
		if i == len(segs)-1 {
			end := int64(rst.End - s.base) // the rest is its preallocated zero tail
			assertZeroAfter(t, filepath.Join(dir, segmentName(s.base)), end)
			b = b[:end]
		}
		files = append(files, b...)
	}
	for _, c := range chunks {
		ship2 = append(ship2, c...)
	}
	if !bytes.Equal(files, ship2) {
		t.Errorf("shipped %d bytes differ from the %d bytes of the segments", len(ship2), len(files))
	}
}

func TestReadDurableReleased(t *testing.T) {
	j := mustOpen(t, t.TempDir(), Options{SegmentSize: 200})
	for i := range 20 {
		if _, err := j.Write(t.Context(), testRecord("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	j.ReleaseBefore(j.SyncedLSN())
	if _, _, err := j.ReadDurable(0, 1<<20); !errors.Is(err, ErrReleased) {
		t.Errorf("ReadDurable of a released LSN: %v, want ErrReleased", err)
	}
	data, next, err := j.ReadDurable(j.FirstLSN(), 1<<20)
	if err != nil || next != j.SyncedLSN() || len(data) != int(next-j.FirstLSN()) {
		t.Errorf("ReadDurable from FirstLSN: %d bytes to %d, %v; want up to %d", len(data), next, err, j.SyncedLSN())
	}
	mustClose(t, j)
}

func TestWaitContext(t *testing.T) {
	g := newGateFS()
	j := mustOpen(t, t.TempDir(), Options{FS: g})
	tk := mustAppend(t, j, testRecord("a", 1))
	<-g.entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := tk.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with an ended ctx during the sync: %v, want context.Canceled", err)
	}
	select {
	case <-tk.Done():
		t.Errorf("Done closed before the sync returned")
	default:
	}
	g.release <- struct{}{}
	if lsn, err := tk.Wait(t.Context()); err != nil || lsn != frameHeader+1 {
		t.Errorf("Wait after the sync: %d, %v; want %d", lsn, err, frameHeader+1)
	}
	mustClose(t, j)
}
