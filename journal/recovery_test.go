package journal

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the fixture segments under testdata/")

const seg0 = "00000000000000000000.wal"

// fixtureBatches is the content of the committed fixture segments: five
// frames of one to three records.
func fixtureBatches() [][]Record {
	rec := func(p string, seq int64, name, args string) Record {
		return Record{Player: p, Rev: uint64(seq), Seq: seq, Kind: KindAction, Name: name, At: 1764579600000 + seq,
			Version: "gd-7c1e", Args: []byte(args), Hash: uint64(seq) * 0x9e3779b97f4a7c15}
	}
	return [][]Record{
		{rec("alice", 1, "build", `{"kind":"farm","x":3,"y":4}`)},
		{rec("alice", 2, "collect", `{"building_id":"b1"}`), rec("bob", 1, "build", `{"kind":"mine"}`),
			{Player: "bob", Rev: 2, Kind: KindAsync, Name: "raid_result", At: 1764579601000, Version: "gd-7c1e", Args: []byte(`{"won":true}`), Hash: 77}},
		{rec("carol", 5, "train", `{"unit":"archer","n":4}`)},
		{{Player: "alice", Rev: 3, Kind: KindGrant, Name: "grant", At: 1764579602000, Version: "gd-7c1e", Args: []byte(`{"gems":100}`), Hash: 5},
			{Player: "alice", Rev: 3, Seq: 2, Kind: KindCheckpoint, At: 1764579603000, Version: "gd-7c1e", Hash: 5}},
		{rec("dave", 1, "upgrade_building", `{"building_id":"b9"}`)},
	}
}

// fixtureSegment is the fixture frames back to back, and where each starts.
func fixtureSegment() ([]byte, []int) {
	var seg []byte
	var starts []int
	for _, b := range fixtureBatches() {
		starts = append(starts, len(seg))
		seg = append(seg, buildFrame(b...)...)
	}
	return seg, starts
}

// corruptOffset is where testdata/corrupt has its flipped byte: inside the
// third frame's payload.
func corruptOffset(starts []int) int { return starts[2] + frameHeader + 5 }

// TestFixtures checks the committed segments against the encoder: a change
// of the on-disk format shows up here (rerun with -update only on purpose).
func TestFixtures(t *testing.T) {
	seg, starts := fixtureSegment()
	want := map[string][]byte{
		"clean":   seg,
		"corrupt": flip(seg, corruptOffset(starts)),
		"torn":    seg[:starts[4]+frameHeader+7],
	}
	if *update {
		// The fuzz seed corpus: each fixture segment and each single frame.
		seeds := map[string][]byte{"segment-clean": seg, "segment-corrupt": want["corrupt"], "segment-torn": want["torn"]}
		for i, b := range fixtureBatches() {
			seeds[fmt.Sprintf("frame-%d", i)] = buildFrame(b...)
		}
		dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range want {
		path := filepath.Join("testdata", name, seg0)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFixtures -update)", err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s differs from what the encoder produces: the on-disk format changed", path)
		}
	}
}

// replayAll replays dir from 0 and returns the records.
func replayAll(t *testing.T, dir string) ([]Record, ReplayStats, error) {
	t.Helper()
	var got []Record
	st, err := Replay(dir, 0, func(_ LSN, r *Record) error {
		got = append(got, cloneRecord(r))
		return nil
	})
	return got, st, err
}

func flatten(batches [][]Record) []Record {
	var all []Record
	for _, b := range batches {
		for i := range b {
			all = append(all, cloneRecord(&b[i]))
		}
	}
	return all
}

// writeSegment puts data as the only segment of a fresh directory.
func writeSegment(t *testing.T, data []byte) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, seg0)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestReplayFixtures(t *testing.T) {
	batches := fixtureBatches()
	_, starts := fixtureSegment()
	tests := []struct {
		name        string
		dir         string
		records     int
		torn        bool
		corruptAt   int64
		wantCorrupt bool
	}{
		{"clean", "testdata/clean", len(flatten(batches)), false, 0, false},
		{"torn", "testdata/torn", len(flatten(batches[:4])), true, 0, false},
		{"corrupt", "testdata/corrupt", len(flatten(batches[:2])), false, int64(starts[2]), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := replayAll(t, tt.dir)
			if len(got) != tt.records {
				t.Errorf("got %d records, want %d", len(got), tt.records)
			}
			if !reflect.DeepEqual(got, flatten(batches)[:len(got)]) {
				t.Errorf("records differ from the fixture's")
			}
			if (st.TornBytes > 0) != tt.torn {
				t.Errorf("TornBytes = %d, want torn %v", st.TornBytes, tt.torn)
			}
			var ce *CorruptError
			if tt.wantCorrupt {
				if !errors.As(err, &ce) {
					t.Fatalf("got error %v, want a *CorruptError", err)
				}
				if ce.File != filepath.Join(tt.dir, seg0) || ce.Offset != tt.corruptAt || st.Corrupt != 1 {
					t.Errorf("got %v (counted %d), want file %s offset %d counted 1", ce, st.Corrupt, filepath.Join(tt.dir, seg0), tt.corruptAt)
				}
				return
			}
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
		})
	}
}

// TestTornTailEveryOffset cuts the segment at every byte of its last frame:
// replay returns the complete frames, no error; Open cuts the tail and the
// journal goes on after the last complete frame.
func TestTornTailEveryOffset(t *testing.T) {
	seg, starts := fixtureSegment()
	last := starts[len(starts)-1]
	want := flatten(fixtureBatches()[:len(starts)-1])
	for cut := last; cut < len(seg); cut++ {
		dir, _ := writeSegment(t, seg[:cut])
		got, st, err := replayAll(t, dir)
		if err != nil {
			t.Fatalf("cut at %d: Replay: %v", cut, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cut at %d: got %d records, want %d", cut, len(got), len(want))
		}
		// Torn bytes are the written ones; zeros at the very end read as
		// unwritten (preallocated) space.
		if want := int64(len(bytes.TrimRight(seg[last:cut], "\x00"))); st.TornBytes != want {
			t.Fatalf("cut at %d: TornBytes = %d, want %d", cut, st.TornBytes, want)
		}
	}
	// Open on a torn segment truncates it and appends after the good frames.
	dir, path := writeSegment(t, seg[:last+frameHeader+3])
	j := mustOpen(t, dir, Options{})
	if got := j.Stats().TornBytes; got != frameHeader+3 {
		t.Errorf("Stats.TornBytes = %d, want %d", got, frameHeader+3)
	}
	if got := j.SyncedLSN(); got != LSN(last) {
		t.Errorf("SyncedLSN after recovery = %d, want %d", got, last)
	}
	extra := Record{Player: "erin", Seq: 1, Kind: KindAction, Name: "build"}
	lsn, err := j.Write(t.Context(), extra)
	if err != nil {
		t.Fatalf("Write after recovery: %v", err)
	}
	if want := LSN(last + frameHeader + 1); lsn != want {
		t.Errorf("lsn = %d, want %d", lsn, want)
	}
	mustClose(t, j)
	got, _, err := replayAll(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, append(want, extra)) {
		t.Errorf("after recovery and one append got %d records, want %d", len(got), len(want)+1)
	}
	assertZeroAfter(t, path, int64(last+len(buildFrame(extra))))
}

func TestTornTailShapes(t *testing.T) {
	seg, starts := fixtureSegment()
	last := starts[len(starts)-1]
	zeroed := append([]byte(nil), seg...)
	for i := last; i < len(zeroed); i++ {
		zeroed[i] = 0
	}
	// A tail of zeros is unwritten space (a preallocated segment), not a
	// torn write: it ends the journal and counts no torn bytes.
	partialZeroed := append([]byte(nil), seg...)
	for i := last + frameHeader; i < len(partialZeroed); i++ {
		partialZeroed[i] = 0
	}
	tests := []struct {
		name string
		data []byte
		torn bool
	}{
		{"last payload byte flipped", flip(seg, len(seg)-1), true},
		{"last payload flipped, zeros after", append(flip(seg, len(seg)-1), make([]byte, 4096)...), true},
		{"last frame zeroed", zeroed, false},
		{"last payload zeroed, header written", partialZeroed, true},
		{"last header zeroed, payload written", func() []byte {
			b := append([]byte(nil), seg...)
			clear(b[last : last+frameHeader])
			return append(b, make([]byte, 4096)...)
		}(), true},
		{"zeros after the end", append(append([]byte(nil), seg[:last]...), make([]byte, 4096)...), false},
		{"partial header", seg[:last+5], true},
	}
	want := flatten(fixtureBatches()[:len(starts)-1])
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := writeSegment(t, tt.data)
			got, st, err := replayAll(t, dir)
			if err != nil || (st.TornBytes > 0) != tt.torn {
				t.Fatalf("got err %v, TornBytes %d; want no error and torn %v", err, st.TornBytes, tt.torn)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %d records, want %d", len(got), len(want))
			}
		})
	}
}

// TestCorruptEveryByte flips each byte of every frame but the last: replay
// stops at that frame with a CorruptError naming the file and its offset,
// after delivering the frames before it.
func TestCorruptEveryByte(t *testing.T) {
	seg, starts := fixtureSegment()
	batches := fixtureBatches()
	frameOf := func(i int) int {
		k := 0
		for k+1 < len(starts) && starts[k+1] <= i {
			k++
		}
		return k
	}
	// The same with a preallocated zero tail after the frames: a damaged
	// frame with a valid one after it is still corruption, never the end.
	for _, tail := range []int{0, 8192} {
		for i := 0; i < starts[len(starts)-1]; i++ {
			k := frameOf(i)
			dir, path := writeSegment(t, append(flip(seg, i), make([]byte, tail)...))
			got, st, err := replayAll(t, dir)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("byte %d flipped: got %v, want a *CorruptError", i, err)
			}
			if ce.File != path || ce.Offset != int64(starts[k]) || ce.LSN != LSN(starts[k]) || st.Corrupt != 1 {
				t.Fatalf("byte %d flipped: got %v, want %s at offset %d", i, ce, path, starts[k])
			}
			if want := flatten(batches[:k]); len(got) != len(want) {
				t.Fatalf("byte %d flipped: got %d records before the damage, want %d", i, len(got), len(want))
			}
		}
	}
}

// TestCorruptNewestSegmentOnOpen: Open keeps a corrupt newest segment, starts
// a new one after it and counts it; Replay reports the damage and can resume
// at Next.
func TestCorruptNewestSegmentOnOpen(t *testing.T) {
	seg, starts := fixtureSegment()
	dir, path := writeSegment(t, flip(seg, corruptOffset(starts)))
	j := mustOpen(t, dir, Options{})
	if got := j.Stats().CorruptSegments; got != 1 {
		t.Errorf("CorruptSegments = %d, want 1", got)
	}
	extra := Record{Player: "erin", Seq: 1, Kind: KindAction, Name: "build"}
	lsn, err := j.Write(t.Context(), extra)
	if err != nil {
		t.Fatal(err)
	}
	if want := LSN(len(seg) + frameHeader + 1); lsn != want {
		t.Errorf("lsn = %d, want %d (after the corrupt segment)", lsn, want)
	}
	mustClose(t, j)
	_, _, err = replayAll(t, dir)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || ce.Next != LSN(len(seg)) {
		t.Fatalf("got %v, want a CorruptError in %s with Next %d", err, path, len(seg))
	}
	var after []Record
	if _, err := Replay(dir, ce.Next, func(_ LSN, r *Record) error {
		after = append(after, cloneRecord(r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, []Record{extra}) {
		t.Errorf("resumed replay got %+v, want the one record after the damage", after)
	}
}

func TestCorruptOlderSegmentTail(t *testing.T) {
	// A torn-looking end is corruption in any segment but the newest: older
	// ones were synced whole before the next was created.
	seg, starts := fixtureSegment()
	dir, path := writeSegment(t, seg[:len(seg)-2])
	next := filepath.Join(dir, fmt.Sprintf("%020d.wal", len(seg)))
	if err := os.WriteFile(next, buildFrame(Record{Player: "x", Kind: KindAction}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := replayAll(t, dir)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || ce.Offset != int64(starts[4]) {
		t.Fatalf("got %v, want a CorruptError in %s at %d", err, path, starts[4])
	}
}
