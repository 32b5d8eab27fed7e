package journal

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

// TestBatchBuffersAreReused checks that steady group commit does not
// allocate a batch buffer (MaxBatchBytes, 1 MiB by default) per batch.
// With one spare, two commits in a row with no batch started between them
// dropped a buffer: a third of the batches allocated 1 MiB, and at 20,000
// players that was 2.4% of the server's CPU and much of its GC.
func TestBatchBuffersAreReused(t *testing.T) {
	tests := []struct {
		name             string
		writers, records int
	}{
		{"one writer, the disk idle at every record", 1, 400},
		{"8 writers", 8, 100},
		{"64 writers, records arriving during every sync", 64, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := mustOpen(t, t.TempDir(), Options{})
			defer mustClose(t, j)
			args := []byte("a record's arguments")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var wg sync.WaitGroup
			for range tt.writers {
				wg.Go(func() {
					for range tt.records {
						if _, err := j.Write(context.Background(), Record{Player: "p", Kind: 1, Args: args}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			runtime.ReadMemStats(&after)
			batches := j.Stats().Batches
			perBatch := (after.TotalAlloc - before.TotalAlloc) / uint64(batches)
			// Two buffers in all, plus a few hundred bytes per batch and
			// per record (tickets, channels, the race detector's shadow);
			// a dropped buffer costs MaxBatchBytes.
			perRecord := uint64(tt.writers*tt.records) / uint64(batches)
			limit := uint64(2*(j.opts.MaxBatchBytes+4096))/uint64(batches) + 8<<10 + perRecord<<10
			t.Logf("%d records in %d batches, %d bytes allocated per batch (limit %d)", tt.writers*tt.records, batches, perBatch, limit)
			if perBatch > limit {
				t.Errorf("allocated %d bytes per batch over %d batches, want at most %d: batch buffers are not reused", perBatch, batches, limit)
			}
		})
	}
}
