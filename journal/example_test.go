package journal_test

import (
	"context"
	"fmt"
	"os"
	"sync"

	"rampart/journal"
)

// The shape of the integration in state: append under the player's lock,
// wait for durability outside it, ship what is durable, release what every
// player has saved.
func Example() {
	dir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dir)
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()

	var mu sync.Mutex // the player's lock
	var rev uint64
	floor := journal.LSN(-1) // lowest LSN this player's unsaved records may have

	// A request: apply, append under the lock; wait outside it; then reply.
	mu.Lock()
	rev++
	if floor < 0 {
		floor = j.SyncedLSN() // a record appended now lands at or above this
	}
	t, err := j.Append(journal.Record{Player: "alice", Rev: rev, Seq: 7, Kind: journal.KindAction,
		Name: "collect", At: 1764579600000, Version: "gd-1", Args: []byte(`{"building_id":"b5"}`), Hash: 42})
	mu.Unlock()
	if err != nil {
		fmt.Println("503:", err)
		return
	}
	lsn, err := t.Wait(context.Background())
	if err != nil {
		fmt.Println("503:", err) // and drop the player from memory, reload it, then j.Resume("alice")
		return
	}
	fmt.Println("durable at", lsn)

	// Every second: ship [shipped, SyncedLSN) as objects named by their first LSN.
	var shipped journal.LSN
	for {
		chunk, next, err := j.ReadDurable(shipped, 8<<20)
		if err != nil || next == shipped {
			break
		}
		journal.DecodeAll(chunk, shipped, func(lsn journal.LSN, r *journal.Record) error {
			fmt.Printf("shipped %s rev %d at %d\n", r.Player, r.Rev, lsn)
			return nil
		})
		shipped = next
	}

	// After alice's save succeeded, she needs nothing below the end of the journal.
	floor = -1
	release := j.SyncedLSN()
	if floor >= 0 && floor < release {
		release = floor
	}
	n, _ := j.ReleaseBefore(release)
	fmt.Println("segments released:", n)
	// Output:
	// durable at 13
	// shipped alice rev 1 at 13
	// segments released: 0
}
