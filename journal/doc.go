// Package journal owns the server's append-only journal on local disk: the
// record format, group commit (one fdatasync for a batch of every player's
// records), segment files and their rotation and deletion, the disk budget,
// recovery of a torn tail, and reading it back (Replay over a directory,
// DecodeAll over a shipped chunk, ReadDurable for shipping).
//
// It imports only the standard library. It knows nothing of players' state:
// the caller (state) decides what a record means, when a player is
// checkpointed, and where durable chunks are shipped.
//
// # Durability guarantee
//
// When Ticket.Wait returns an LSN and no error, the record and every record
// of the same player appended before it are written and fdatasync'ed: a crash of the process or
// of the machine's power loses none of them. Wait returns only after the
// batch holding the record is synced. An error from Append or Wait means the
// record is not journaled and must not be acknowledged (the API answers 503).
// Per player the journal holds a gap-free prefix of what was appended: when a
// batch fails, the batch being filled behind it fails too, and its players'
// later Appends return ErrPlayerLost until the caller has reloaded them and
// calls Resume. So replay never applies a change on top of one that is lost.
//
// # Group commit
//
// Append encodes the record into the batch being filled, under one mutex,
// and returns a Ticket (no allocation per record, no goroutine). One writer
// goroutine, owned by the Journal from Open to Close, takes the batch, writes
// it as one frame with one write(2), fdatasyncs, and closes the batch's channel. While it
// syncs, new records fill the next batch, which is written as soon as the
// sync returns — or, when records arrived during the sync (the journal is
// loaded), once Options.SyncInterval (default 2 ms) has passed since that
// sync started: batch size grows with load, the number of fdatasyncs a
// second stays bounded (each costs the kernel 150–400 µs of CPU on a
// virtual disk), and a lone record that finds the writer idle is not
// delayed. Options.Window adds a wait after the first record of a batch
// when the writer was idle; MaxBatchRecords/MaxBatchBytes end either wait
// early.
//
// # On-disk format
//
// The directory holds LOCK (an exclusive flock: one process per journal) and
// segment files named by the LSN of their first byte, "%020d.wal". An LSN is
// a byte offset in the journal's one contiguous stream: the segment holding
// LSN x is the one with the largest name ≤ x, at file offset x − name.
// A new segment is started once the active one reaches Options.SegmentSize
// (between frames, so it can exceed it by one batch) and its directory entry
// is synced before use. A segment is a sequence of frames, one per batch:
//
//	frame   = length:u32le  crc:u32le  hcrc:u32le  payload[length]
//	          length ∈ [1, 64 MiB]; crc = CRC32C(payload); hcrc = CRC32C(first 8 bytes)
//	payload = 0x01 (format version)  record*
//	record  = size:uvarint  body[size]
//	body    = kind:u8  player:str  rev:uvarint  seq:varint  name:str  at:varint
//	          version:str  args:str  hash:u64le
//	str     = len:uvarint  bytes
//
// (uvarint/varint are encoding/binary's.) A record's LSN is the LSN of its
// size prefix; LSNs of records strictly increase in append order.
//
// The CRC covers a batch rather than each record because a batch is the unit
// that is written, synced and possibly torn: a power cut during a write can
// leave any part of the last frame missing, but never a whole later frame.
// The header has its own CRC so that a damaged length is recognised as
// damage, not mistaken for a frame running off the end of the file.
//
// # Torn tail and corruption
//
// The newest segment is preallocated (Options.NoPreallocate): its file is
// SegmentSize bytes from the start, batches are written at the logical end,
// and the rest reads as zeros. A full segment is cut to its logical size,
// durably, before the next one is created, so only the newest ends in zeros.
//
// In the newest segment, the first frame that does not check (incomplete,
// a bad header, a bad payload CRC) ends the journal when no valid frame
// follows it anywhere in the file: the bytes written after the last good
// frame are a torn tail, which Replay ignores (ReplayStats.TornBytes) and
// Open cuts away, and zeros after them are unwritten space. A damaged frame
// with a valid frame after it, an undecodable payload, and any bad frame in
// an older segment are corruption: Replay returns a *CorruptError naming
// the file and offset and stops; its Next is the next segment, where a
// caller that accepts the loss may resume (each player's Rev must rise by
// one and Hash must match the replayed state, so the caller sees which
// players lost a change). Open never fails on corruption: it starts a new
// segment after a corrupt newest one, keeps the damaged one for inspection,
// and counts it (Stats.CorruptSegments). A flipped byte inside the very last
// frame cannot be told from a torn write and is treated as one.
//
// # Disk bound
//
// The segments' bytes plus the bytes accepted and not yet written never
// exceed Options.MaxDisk (default 2 GiB): past it Append returns
// ErrDiskBudget. On disk, the newest segment's unwritten preallocation
// (less than SegmentSize, default 64 MiB) comes on top.
// Space comes back only through ReleaseBefore, which deletes whole segments
// below an LSN; the caller must checkpoint players that hold the oldest
// segment long before the budget runs out. Memory is bounded by
// MaxPendingBytes (default 16 MiB; ErrBacklog past it) plus two spare
// buffers of MaxBatchBytes.
//
// # Failure behaviour
//
// When a write or fdatasync fails (ENOSPC, EIO), the batch's waiters and
// those of the batch being filled get the error, the writer truncates the
// segment back to the last synced offset (and retries that before the next
// write if it also fails), and nothing already synced is touched. A failed
// fdatasync is never retried on the same pages (after one, Linux may have
// marked them clean without writing them): they are cut off and the next
// batch writes fresh ones. The next batch is tried normally, so appends work
// again once the disk recovers.
// A failed segment creation keeps appending to the full segment and retries.
// An unwritable or unusable directory fails Open with a message saying which.
//
// # Goroutines
//
// The writer goroutine alone writes, syncs, rotates and truncates segment
// files; Append, Ticket.Wait, ReleaseBefore, ReadDurable, Resume, Stats and
// the accessors may be called from any goroutine. Close flushes what was
// appended, then ends the writer. OnSync runs on the writer goroutine.
package journal
