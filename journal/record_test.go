package journal

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"empty strings", Record{Kind: KindAction}},
		{"action", Record{Player: "alice", Rev: 300, Seq: 7, Kind: KindAction, Name: "upgrade_building", At: 1764579600000,
			Version: "3f2a9c", Args: []byte(`{"building_id":"b3"}`), Hash: 0xdeadbeefcafef00d}},
		{"negative and large", Record{Player: "p", Rev: 1<<64 - 1, Seq: -1, Kind: KindAsync, At: -5, Hash: 1<<64 - 1}},
		{"max seq", Record{Player: "p", Seq: 1<<53 - 1, Kind: KindGrant, Name: "grant", Args: []byte{0, 1, 2}}},
		{"checkpoint", Record{Player: strings.Repeat("x", 64), Seq: 9, Kind: KindCheckpoint, Hash: 42}},
		{"big args", Record{Player: "p", Kind: KindMail, Args: bytes.Repeat([]byte("a"), 70000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := buildFrame(tt.rec)
			var got []Record
			if err := DecodeAll(frame, 100, func(lsn LSN, r *Record) error {
				if want := LSN(100 + frameHeader + 1); lsn != want {
					t.Errorf("lsn = %d, want %d", lsn, want)
				}
				got = append(got, cloneRecord(r))
				return nil
			}); err != nil {
				t.Fatalf("DecodeAll: %v", err)
			}
			want := cloneRecord(&tt.rec)
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if n := len(Encode(&tt.rec)); n != len(frame)-frameHeader-1 {
				t.Errorf("Encode is %d bytes, frame holds %d", n, len(frame)-frameHeader-1)
			}
		})
	}
}

func TestDecodeAllRejects(t *testing.T) {
	good := buildFrame(Record{Player: "a", Kind: KindAction, Name: "collect"})
	tests := []struct {
		name   string
		data   []byte
		offset int64
	}{
		{"short header", good[:5], 0},
		{"short payload", good[:len(good)-1], 0},
		{"bad crc", flip(good, len(good)-1), 0},
		{"bad header crc", flip(good, 9), 0},
		{"second frame bad", append(append([]byte(nil), good...), flip(good, 14)...), int64(len(good))},
		{"unknown kind", buildFrame(Record{Kind: 99}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeAll(tt.data, 0, func(LSN, *Record) error { return nil })
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CorruptError", err)
			}
			if ce.Offset != tt.offset {
				t.Errorf("offset = %d, want %d", ce.Offset, tt.offset)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes to the frame and record decoders: they
// must not panic, and whatever decodes must encode back to the same record.
func FuzzDecode(f *testing.F) {
	for _, recs := range fixtureBatches() {
		f.Add(buildFrame(recs...))
	}
	f.Add([]byte{})
	f.Add(make([]byte, frameHeader+1))
	f.Fuzz(func(t *testing.T, data []byte) {
		DecodeAll(data, 0, func(lsn LSN, r *Record) error {
			again := buildFrame(*r)
			return DecodeAll(again, 0, func(_ LSN, r2 *Record) error {
				if !reflect.DeepEqual(cloneRecord(r), cloneRecord(r2)) {
					t.Fatalf("re-encoded %+v decodes as %+v", r, r2)
				}
				return nil
			})
		})
		// The payload decoder alone, on data without a valid frame around it.
		decodePayload(append([]byte{formatVersion}, data...), 0, func(LSN, *Record) error { return nil })
	})
}

// buildFrame is one batch frame holding recs, as the writer produces it.
func buildFrame(recs ...Record) []byte {
	buf := make([]byte, frameHeader, 256)
	buf = append(buf, formatVersion)
	for i := range recs {
		buf = appendRecord(buf, &recs[i], encodedSize(&recs[i]))
	}
	putHeader(buf)
	return buf
}

func cloneRecord(r *Record) Record {
	c := *r
	if len(r.Args) == 0 {
		c.Args = nil
	} else {
		c.Args = append([]byte(nil), r.Args...)
	}
	return c
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindAction: "action", KindAsync: "async", KindMail: "mail", KindGrant: "grant",
		KindReconcile: "reconcile", KindCheckpoint: "checkpoint", 0: "kind 0", 9: "kind 9"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
