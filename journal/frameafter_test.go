package journal

import (
	"testing"
)

// TestFrameAfterAndTrailingZeros holds the block-at-a-time zero skipping
// to the byte-at-a-time rule: a frame hidden at any offset around a block
// edge is found, and the zeros at the end are counted exactly.
func TestFrameAfterAndTrailingZeros(t *testing.T) {
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
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.size)
			if tt.at >= 0 {
				copy(b[tt.at:], frame)
			}
			if tt.junk >= 0 {
				b[tt.junk] = 0x5a
			}
			if got := frameAfter(b); got != tt.wantFound {
				t.Errorf("frameAfter: %v, want %v", got, tt.wantFound)
			}
			if got := trailingZeros(b); got != tt.wantZeros {
				t.Errorf("trailingZeros: %d, want %d", got, tt.wantZeros)
			}
		})
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

// BenchmarkFrameAfterZeros is the end of a recovery: the newest segment's
// preallocated 64 MiB of zeros, searched for a frame after a torn one.
func BenchmarkFrameAfterZeros(b *testing.B) {
	z := make([]byte, 64<<20)
	b.SetBytes(int64(len(z)))
	for b.Loop() {
		if frameAfter(z) || trailingZeros(z) != len(z) {
			b.Fatal("zeros hold a frame")
		}
	}
}
