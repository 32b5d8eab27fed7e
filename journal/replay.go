package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// CorruptError says where a journal stops being readable: a frame whose
// checksum fails with valid data after it, or whose payload does not decode.
// It is never a torn tail (see the package doc).
type CorruptError struct {
	File   string // segment path; empty for DecodeAll
	Offset int64  // byte offset of the bad frame in File (or in the DecodeAll data)
	LSN    LSN    // the same position as an LSN
	Next   LSN    // where reading can resume: the next segment's first LSN, 0 if none
	Reason string
}

func (e *CorruptError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("journal: corrupt data at offset %d (lsn %d): %s", e.Offset, e.LSN, e.Reason)
	}
	return fmt.Sprintf("journal: corrupt segment %s at offset %d (lsn %d): %s", e.File, e.Offset, e.LSN, e.Reason)
}

// ReplayStats counts what a Replay read.
type ReplayStats struct {
	Segments  int   // segment files read
	Batches   int64 // frames read
	Records   int64 // records passed to fn (at or after from)
	Skipped   int64 // records before from
	Bytes     int64 // valid bytes read
	TornBytes int64 // bytes of a torn tail ignored at the end of the last segment
	Corrupt   int   // corrupt frames met (1 when a *CorruptError is returned)
	End       LSN   // LSN after the last valid frame read
}

type segment struct {
	base LSN
	size int64 // bytes on disk (owned by the writer for the active segment)
}

func segmentName(base LSN) string { return fmt.Sprintf("%020d.wal", int64(base)) }

// listSegments returns the segment files of dir in LSN order.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || len(name) != 24 || !strings.HasSuffix(name, ".wal") {
			continue
		}
		base, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil || base < 0 {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		segs = append(segs, segment{base: LSN(base), size: info.Size()})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].base < segs[j].base })
	return segs, nil
}

// scanResult is what scanning one segment found.
type scanResult struct {
	end     int64 // offset after the last valid frame
	batches int64
	torn    int64 // written bytes after end that are a torn tail
	free    int64 // zero bytes after end and the torn tail: preallocated, never written
	corrupt *CorruptError
}

// scanSegment reads the frames of one segment in order and calls fn with each
// valid payload and its LSN. last says whether this is the newest segment,
// the only one that may end in a torn tail or in preallocated zeros.
func scanSegment(path string, base LSN, last bool, fn func(LSN, []byte) error) (scanResult, error) {
	var res scanResult
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return res, err
	}
	size := info.Size()
	br := bufio.NewReaderSize(f, 256<<10)
	var hdr [frameHeader]byte
	var payload []byte
	off := int64(0)
	// stop ends the scan at a frame that does not check. In the newest
	// segment that is the end of the journal (a torn write, or the zeros of
	// the preallocated tail) unless a valid frame follows; anywhere else, or
	// with a valid frame after it, it is corruption.
	stop := func(reason string) (scanResult, error) {
		if last {
			found, zeros, err := tailScan(f, off, size, tailChunk)
			if err != nil {
				return res, fmt.Errorf("read %s after %d: %w", path, off, err)
			}
			if !found {
				res.torn, res.free = size-off-zeros, zeros
				return res, nil
			}
		}
		res.corrupt = &CorruptError{File: path, Offset: off, LSN: base + LSN(off), Reason: reason}
		return res, nil
	}
	for off < size {
		rem := size - off
		if rem < frameHeader {
			return stop(fmt.Sprintf("%d bytes left, less than a frame header", rem))
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return res, fmt.Errorf("read %s at %d: %w", path, off, err)
		}
		n, crc, ok := parseHeader(hdr[:])
		if !ok {
			return stop("bad frame header")
		}
		if int64(n) > rem-frameHeader {
			return stop(fmt.Sprintf("frame of %d bytes runs past the end of the segment", n))
		}
		if cap(payload) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return res, fmt.Errorf("read %s at %d: %w", path, off, err)
		}
		if crc32.Checksum(payload, castagnoli) != crc {
			return stop("frame checksum mismatch")
		}
		if _, err := decodePayload(payload, 0, nil); err != nil {
			res.corrupt = &CorruptError{File: path, Offset: off, LSN: base + LSN(off), Reason: err.Error()}
			return res, nil
		}
		if fn != nil {
			if err := fn(base+LSN(off+frameHeader), payload); err != nil {
				return res, err
			}
		}
		off += frameHeader + int64(n)
		res.end = off
		res.batches++
	}
	return res, nil
}

// tailChunk is how much of a segment's tail tailScan reads at a time.
const tailChunk = 1 << 20

// tailScan looks at what follows the frame at off that did not check, in
// the newest segment of size bytes: whether a valid frame (header and
// payload checksums) starts anywhere after off, which makes the bad frame
// damage with journal data after it rather than the end of the journal,
// and how many zero bytes end the segment. It reads the rest chunk bytes
// at a time: the preallocated tail is up to SegmentSize of zeros, read but
// never held in memory at once. Only recovery and replay of a damaged
// newest segment call it.
func tailScan(r io.ReaderAt, off, size int64, chunk int) (found bool, zeros int64, err error) {
	buf := make([]byte, chunk+frameHeader)
	lastNonZero := off - 1 // the last nonzero byte seen after off, absolute
	for pos := off; pos < size; pos += int64(chunk) {
		n := int(min(int64(len(buf)), size-pos))
		b := buf[:n]
		if _, err := r.ReadAt(b, pos); err != nil {
			return false, 0, err
		}
		starts := min(chunk, n) // frames starting in this chunk; the rest of b is the next one's
		if z := trailingZeros(b[:starts]); z < starts {
			lastNonZero = pos + int64(starts-z) - 1
		}
		first := 0
		if pos == off {
			first = 1 // the frame that failed
		}
		for p := first; p < starts && p+frameHeader <= n; p++ {
			// A frame's length, its first 4 bytes, is at least 1: no frame
			// starts at q while b[q:q+4] is zero, so a zero block rules
			// out all but its last 3 offsets.
			for p+len(zeroBlock) <= n && bytes.Equal(b[p:p+len(zeroBlock)], zeroBlock[:]) {
				p += len(zeroBlock) - 3
			}
			if p >= starts || p+frameHeader > n {
				break
			}
			if b[p]|b[p+1]|b[p+2]|b[p+3] == 0 {
				continue
			}
			fn, crc, ok := parseHeader(b[p : p+frameHeader])
			at := pos + int64(p) + frameHeader
			if !ok || at+int64(fn) > size {
				continue
			}
			payload := make([]byte, fn)
			if _, err := r.ReadAt(payload, at); err != nil {
				return false, 0, err
			}
			if crc32.Checksum(payload, castagnoli) == crc {
				return true, 0, nil
			}
		}
	}
	return false, size - lastNonZero - 1, nil
}

// zeroBlock is what tailScan and trailingZeros compare zeros with.
var zeroBlock [4096]byte

func trailingZeros(b []byte) int {
	n := 0
	for n+len(zeroBlock) <= len(b) && bytes.Equal(b[len(b)-n-len(zeroBlock):len(b)-n], zeroBlock[:]) {
		n += len(zeroBlock)
	}
	for n < len(b) && b[len(b)-1-n] == 0 {
		n++
	}
	return n
}

// errStop lets a callback end a Replay early without an error.
var errStop = errors.New("stop")

// Replay reads the segments of dir in LSN order and calls fn for every record
// at or after from. r (and r.Args) is reused between calls: copy what you keep.
// A torn tail at the end of the newest segment is ignored (counted in
// TornBytes). A corrupt frame stops the replay with a *CorruptError; its Next
// field is where a caller that accepts the loss may resume. An error from fn
// stops the replay and is returned as is.
//
// Replay reads files only; call it before Open, or on a journal whose writer
// is running (it then stops at the torn-looking end of the write in flight).
func Replay(dir string, from LSN, fn func(lsn LSN, r *Record) error) (ReplayStats, error) {
	var st ReplayStats
	segs, err := listSegments(dir)
	if err != nil {
		return st, fmt.Errorf("journal: replay %s: %w", dir, err)
	}
	for i, s := range segs {
		last := i == len(segs)-1
		if !last && segs[i+1].base <= from {
			continue
		}
		path := filepath.Join(dir, segmentName(s.base))
		res, err := scanSegment(path, s.base, last, func(lsn LSN, payload []byte) error {
			st.Batches++
			st.Bytes += int64(len(payload)) + frameHeader
			_, err := decodePayload(payload, lsn, func(lsn LSN, r *Record) error {
				if lsn < from {
					st.Skipped++
					return nil
				}
				st.Records++
				return fn(lsn, r)
			})
			return err
		})
		st.Segments++
		if err != nil {
			return st, err
		}
		st.End = s.base + LSN(res.end)
		st.TornBytes += res.torn
		if res.corrupt != nil {
			st.Corrupt++
			if !last {
				res.corrupt.Next = segs[i+1].base
			}
			return st, res.corrupt
		}
	}
	return st, nil
}

// DecodeAll calls fn for every record in data, a run of whole frames as
// ReadDurable returns them (a shipped chunk); base is the LSN of data[0].
// Any frame that does not check is a *CorruptError: shipped data has no
// torn tail.
func DecodeAll(data []byte, base LSN, fn func(lsn LSN, r *Record) error) error {
	for off := 0; off < len(data); {
		bad := func(reason string) error {
			return &CorruptError{Offset: int64(off), LSN: base + LSN(off), Reason: reason}
		}
		if len(data)-off < frameHeader {
			return bad("truncated frame header")
		}
		n, crc, ok := parseHeader(data[off : off+frameHeader])
		if !ok {
			return bad("bad frame header")
		}
		if n > len(data)-off-frameHeader {
			return bad("truncated frame")
		}
		payload := data[off+frameHeader : off+frameHeader+n]
		if crc32.Checksum(payload, castagnoli) != crc {
			return bad("frame checksum mismatch")
		}
		if _, err := decodePayload(payload, 0, nil); err != nil {
			return bad(err.Error())
		}
		if _, err := decodePayload(payload, base+LSN(off+frameHeader), fn); err != nil {
			return err
		}
		off += frameHeader + n
	}
	return nil
}
