package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// LSN is a log sequence number: a byte offset in the journal's single,
// contiguous stream of bytes. A record's LSN is the offset of its first byte;
// a batch's end LSN is the start of the next one.
type LSN int64

// Kind says what produced a record.
type Kind uint8

// Kinds of records. The values are part of the on-disk format.
const (
	KindAction     Kind = 1 // a client action applied through actions.Apply
	KindAsync      Kind = 2 // the "after" step of slow work, applied through the player lock
	KindMail       Kind = 3 // mail applied to the player
	KindGrant      Kind = 4 // an operator's grant
	KindReconcile  Kind = 5 // a reconcile (timers caught up, repairs)
	KindCheckpoint Kind = 6 // marker: the player's state at Rev is saved (Hash of the saved state; Args may name the object)
)

// String names k as logs and `rampart replay` print it.
func (k Kind) String() string {
	switch k {
	case KindAction:
		return "action"
	case KindAsync:
		return "async"
	case KindMail:
		return "mail"
	case KindGrant:
		return "grant"
	case KindReconcile:
		return "reconcile"
	case KindCheckpoint:
		return "checkpoint"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Record is one journaled state change: what deterministic replay needs to
// apply it again and check that it reached the same state.
type Record struct {
	Player string // player id
	// Rev is the player's revision after this change: the previous record's
	// Rev + 1. The saved player document stores its Rev, so replay applies
	// exactly the records above it and sees a gap as a gap.
	Rev     uint64
	Seq     int64 // client sequence number (0 when the change has none)
	Kind    Kind
	Name    string // action name, or the async/mail/grant kind
	At      int64  // the time the change ran at, Unix milliseconds
	Version string // game data version it ran with
	Args    []byte // the arguments as the action decoder reads them
	Hash    uint64 // hash of the player's state after the change
}

const (
	// frameHeader is the size of a batch frame header: payload length,
	// CRC32C of the payload, CRC32C of the first eight header bytes.
	frameHeader = 12
	// formatVersion is the first byte of every batch payload.
	formatVersion = 1
	// maxFrame bounds one batch payload. A header claiming more is corrupt.
	maxFrame = 64 << 20
	// MaxRecord is the largest encoded record Append accepts.
	MaxRecord = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodedSize is the size of r's body (without its length prefix).
func encodedSize(r *Record) int {
	return 1 +
		uvarintLen(uint64(len(r.Player))) + len(r.Player) +
		uvarintLen(r.Rev) +
		varintLen(r.Seq) +
		uvarintLen(uint64(len(r.Name))) + len(r.Name) +
		varintLen(r.At) +
		uvarintLen(uint64(len(r.Version))) + len(r.Version) +
		uvarintLen(uint64(len(r.Args))) + len(r.Args) +
		8
}

// appendRecord appends r, prefixed by the uvarint length of its body.
func appendRecord(buf []byte, r *Record, size int) []byte {
	buf = binary.AppendUvarint(buf, uint64(size))
	buf = append(buf, byte(r.Kind))
	buf = binary.AppendUvarint(buf, uint64(len(r.Player)))
	buf = append(buf, r.Player...)
	buf = binary.AppendUvarint(buf, r.Rev)
	buf = binary.AppendVarint(buf, r.Seq)
	buf = binary.AppendUvarint(buf, uint64(len(r.Name)))
	buf = append(buf, r.Name...)
	buf = binary.AppendVarint(buf, r.At)
	buf = binary.AppendUvarint(buf, uint64(len(r.Version)))
	buf = append(buf, r.Version...)
	buf = binary.AppendUvarint(buf, uint64(len(r.Args)))
	buf = append(buf, r.Args...)
	buf = binary.LittleEndian.AppendUint64(buf, r.Hash)
	return buf
}

// Encode returns r in its on-disk record encoding (length prefix and body),
// for tests and tools; the journal encodes into its batch buffer directly.
func Encode(r *Record) []byte {
	size := encodedSize(r)
	return appendRecord(make([]byte, 0, size+binary.MaxVarintLen64), r, size)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

var errShort = errors.New("record truncated")

// decoder reads records out of one batch payload.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.off += n
	return v
}

// varint undoes the zigzag encoding of a uvarint, as binary.Varint does.
func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = errShort
		return nil
	}
	s := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return s
}

// decodeRecord decodes one record body (without its length prefix) into r,
// or only checks it when r is nil. r.Args aliases body; strings are copied.
func decodeRecord(body []byte, r *Record) error {
	if len(body) < 1+8 {
		return errShort
	}
	d := decoder{b: body[:len(body)-8]}
	kind := Kind(body[0])
	d.off = 1
	player := d.bytes()
	rev := d.uvarint()
	seq := d.varint()
	name := d.bytes()
	at := d.varint()
	version := d.bytes()
	args := d.bytes()
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return fmt.Errorf("record has %d trailing bytes", len(d.b)-d.off)
	}
	if kind < KindAction || kind > KindCheckpoint {
		return fmt.Errorf("unknown record kind %d", kind)
	}
	if r == nil {
		return nil
	}
	r.Kind, r.Rev, r.Seq, r.At, r.Args = kind, rev, seq, at, args
	r.Player = string(player)
	r.Name = string(name)
	r.Version = internVersion(r.Version, version)
	r.Hash = binary.LittleEndian.Uint64(body[len(body)-8:])
	return nil
}

// internVersion keeps the previous record's version string when it is the
// same: every record carries it and it rarely changes.
func internVersion(prev string, b []byte) string {
	if prev == string(b) {
		return prev
	}
	return string(b)
}

// decodePayload calls fn for every record of one batch payload; base is the
// LSN of the payload's first byte.
func decodePayload(payload []byte, base LSN, fn func(LSN, *Record) error) (int, error) {
	if len(payload) < 1 || payload[0] != formatVersion {
		return 0, errors.New("unknown batch format")
	}
	var r *Record
	if fn != nil {
		r = new(Record)
	}
	n := 0
	for off := 1; off < len(payload); {
		size, k := binary.Uvarint(payload[off:])
		if k <= 0 || size > uint64(len(payload)-off-k) {
			return n, fmt.Errorf("record at payload offset %d: %w", off, errShort)
		}
		body := payload[off+k : off+k+int(size)]
		if err := decodeRecord(body, r); err != nil {
			return n, fmt.Errorf("record at payload offset %d: %w", off, err)
		}
		if fn != nil {
			if err := fn(base+LSN(off), r); err != nil {
				return n, err
			}
		}
		n++
		off += k + int(size)
	}
	return n, nil
}

// putHeader fills the frame header at the start of frame.
func putHeader(frame []byte) {
	payload := frame[frameHeader:]
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(frame[8:12], crc32.Checksum(frame[0:8], castagnoli))
}

// parseHeader returns the payload length and CRC of a frame header, and
// whether the header's own checksum holds.
func parseHeader(h []byte) (n int, crc uint32, ok bool) {
	n64 := binary.LittleEndian.Uint32(h[0:4])
	crc = binary.LittleEndian.Uint32(h[4:8])
	ok = crc32.Checksum(h[0:8], castagnoli) == binary.LittleEndian.Uint32(h[8:12]) &&
		n64 >= 1 && n64 <= maxFrame
	return int(n64), crc, ok
}
