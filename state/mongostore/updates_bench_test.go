package mongostore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rampart/state"
)

// BenchmarkIndexWrites measures writing the player index on each FerretDB
// backend with 2,000 players in it: one upsert per call, or bulk upserts
// of a batch (not past DefaultUpdatesBatch: FerretDB wedges, see
// TestUpdatesFlushesManyKnownPlayers).
//
//	go test -run '^$' -bench IndexWrites -benchtime 1000x ./state/mongostore/
//
// AMD EPYC, 2 cores shared with other jobs, FerretDB v1.24.0 in process,
// PostgreSQL 15 with fsync off, µs per summary:
//
//	batch   sqlite   postgresql
//	    1   26,700        2,500
//	    8   23,100        2,600
//	   32   16,000        2,200
//
// Both backends scan the collection for an upsert. On SQLite the query
// for the filter and the UPDATE both say `_ferretdb_sjson->'$._id'` while
// the _id index is on `_ferretdb_sjson->"_id"`: two scans. On PostgreSQL
// the query (`_jsonb->'_id' @> '"p01000"'`) is a Seq Scan, since the btree
// on `_jsonb->'_id'` serves = but not @>; the UPDATE (=) uses the index.
// One scan of 2,000 rows there takes ~1 ms (EXPLAIN ANALYZE).
func BenchmarkIndexWrites(b *testing.B) {
	ctx := context.Background()
	for _, target := range mongoTargets() {
		for _, batch := range []int{1, 8, DefaultUpdatesBatch} {
			b.Run(fmt.Sprintf("%s/batch=%d", target.name, batch), func(b *testing.B) {
				s := openStore(b, target)
				u := NewUpdates(s, UpdatesConfig{MaxBatch: batch, FlushEvery: time.Hour})
				for i := range 2000 {
					u.Publish(state.Summary{ID: fmt.Sprintf("p%05d", i), Trophies: i % 300})
				}
				if err := u.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := range b.N {
					u.Publish(state.Summary{ID: fmt.Sprintf("p%05d", i%2000), Trophies: i % 300, LastSeen: int64(i)})
					if (i+1)%batch == 0 {
						if err := u.Flush(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
				u.Flush(ctx)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/summary")
			})
		}
	}
}
