package journal

import (
	"bytes"
	"fmt"
	"testing"
)

// TestTailScan holds the chunked, block-at-a-time search after a bad frame
// to the byte-at-a-time rule: a frame hidden at any offset around a zero
// block's or a read chunk's edge is found, and the zeros at the end are
// counted exactly.
func TestTailScan(t *testing.T) {
	frame := encodeTestFrame(t)
	tests := []struct {
		name      string
		size, at  int // a frame at b[at:], -1 for none
		junk      int // a nonzero byte at this offset, -1 for none
		wantFound bool
		wantZeros int
	}{
		{"all zeros", 3 * len(zeroBlock), -1, -1, false, 3 * len(zeroBlock)},
		{"zeros and a stray byte", 3*len(zeroBlock) + 17, -1, 5000, false, 3*len(zeroBlock) + 17 - 5001},
		{"a frame right after the first byte", 2 * len(zeroBlock), 1, -1, true, 2*len(zeroBlock) - 1 - len(frame)},
		{"a frame just before a block's end", 3 * len(zeroBlock), len(zeroBlock) - 2, -1, true, 2*len(zeroBlock) + 2 - len(frame)},
		{"a frame just past a skipped block", 3 * len(zeroBlock), len(zeroBlock) - 3 + 1, -1, true, 2*len(zeroBlock) + 2 - len(frame)},
		{"a frame at the very end", 2*len(zeroBlock) + 100, 2*len(zeroBlock) + 100 - len(frame), -1, true, 0},
		{"short of a block", 100, 40, -1, true, 60 - len(frame)},
	}
	for _, tt := range tests {
		for _, chunk := range []int{64, 1000, len(zeroBlock) + 7, tailChunk} {
			t.Run(fmt.Sprintf("%s, chunks of %d", tt.name, chunk), func(t *testing.T) {
				b := make([]byte, tt.size)
				if tt.at >= 0 {
					copy(b[tt.at:], frame)
				}
				if tt.junk >= 0 {
					b[tt.junk] = 0x5a
				}
				found, zeros, err := tailScan(bytes.NewReader(b), 0, int64(len(b)), chunk)
				if err != nil {
					t.Fatal(err)
				}
				if found != tt.wantFound {
					t.Errorf("found a frame: %v, want %v", found, tt.wantFound)
				}
				if !found && zeros != int64(tt.wantZeros) {
					t.Errorf("zeros at the end: %d, want %d", zeros, tt.wantZeros)
				}
				if got := trailingZeros(b); got != tt.wantZeros {
					t.Errorf("trailingZeros: %d, want %d", got, tt.wantZeros)
				}
			})
		}
	}
}

// encodeTestFrame is one valid frame of one record.
func encodeTestFrame(t *testing.T) []byte {
	t.Helper()
	buf := make([]byte, frameHeader, 256)
	buf = append(buf, formatVersion)
	r := Record{Player: "p", Kind: 1, Args: []byte("x"), Hash: 0x0102030405060708} // ends in a nonzero byte
	buf = appendRecord(buf, &r, encodedSize(&r))
	putHeader(buf)
	return buf
}

// BenchmarkTailScanZeros is the end of a recovery: the newest segment's
// preallocated 64 MiB of zeros, searched for a frame after a torn one.
func BenchmarkTailScanZeros(b *testing.B) {
	z := bytes.NewReader(make([]byte, 64<<20))
	b.SetBytes(z.Size())
	for b.Loop() {
		if found, zeros, err := tailScan(z, 0, z.Size(), tailChunk); err != nil || found || zeros != z.Size() {
			b.Fatalf("zeros: found %v, %d zeros, %v", found, zeros, err)
		}
	}
}
