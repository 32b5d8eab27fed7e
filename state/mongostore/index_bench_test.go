package mongostore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

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

// BenchmarkIndexQueries measures the player index's reads on each FerretDB
// backend as the index grows: what find_opponent (Opponents), the
// leaderboard (Top) and a rank outside it (Rank) cost the MongoDB side per
// call, with the indexes Open creates, against the same reads from an
// IndexSnapshot (what the server does by default) and the snapshot's own
// read of every summary. FerretDB v1 pushes down to SQL only equality
// filters and no sort, so each query reads the whole collection.
//
//	go test -run '^$' -bench IndexQueries -benchtime 10x ./state/mongostore/
//
// AMD EPYC, 2 cores, FerretDB v1.24.0 in process, ms per call at 20,000
// players (SQLite / PostgreSQL): opponents 1,281 / 1,594, top 1,127 /
// 1,472, rank 1,590 / 1,653, an update by _id 12 / 15, the snapshot's read
// of every summary 2,367 / 2,634; from the snapshot, an opponent search
// 0.0008 and a rank 0.0002 (-benchtime 200x).
func BenchmarkIndexQueries(b *testing.B) {
	ctx := context.Background()
	for _, target := range mongoTargets() {
		for _, players := range []int{2000, 20000} {
			s := openStore(b, target)
			docs := make([]any, 0, players)
			for i := range players {
				docs = append(docs, summaryDoc(state.Summary{ID: fmt.Sprintf("p%06d", i), Trophies: i % 3000, TownHall: 1 + i%10}))
			}
			for len(docs) > 0 { // inserts need no scan; upserts would
				n := min(len(docs), 1000)
				if _, err := s.players.InsertMany(ctx, docs[:n]); err != nil {
					b.Fatal(err)
				}
				docs = docs[n:]
			}
			snap := state.NewIndexSnapshot(s, nil, s.Summaries, state.SnapshotConfig{Every: time.Hour})
			if _, err := snap.Top(ctx, 1); err != nil { // its one read, before the timed reads
				b.Fatal(err)
			}
			queries := []struct {
				name string
				run  func() error
			}{
				{"opponents", func() error {
					_, err := s.Opponents(ctx, state.OpponentQuery{Trophies: 1500, Tolerance: 100, Exclude: "p000001", Now: 1, Limit: 20})
					return err
				}},
				{"top", func() error { _, err := s.Top(ctx, 100); return err }},
				{"rank", func() error { _, err := s.Rank(ctx, 1500, "p001500"); return err }},
				{"summaries", func() error { _, err := s.Summaries(ctx); return err }}, // an IndexSnapshot's read
				{"snapshot-opponents", func() error {
					_, err := snap.Opponents(ctx, state.OpponentQuery{Trophies: 1500, Tolerance: 100, Exclude: "p000001", Now: 1, Limit: 20})
					return err
				}},
				{"snapshot-rank", func() error { _, err := snap.Rank(ctx, 1500, "p001500"); return err }},
				{"lock", func() error {
					_, err := s.players.UpdateOne(ctx, bson.D{{Key: "_id", Value: "p000002"}}, bson.D{{Key: "$set", Value: bson.D{{Key: fLastSeen, Value: 1}}}})
					return err
				}},
			}
			for _, q := range queries {
				b.Run(fmt.Sprintf("%s/players=%d/%s", target.name, players, q.name), func(b *testing.B) {
					for b.Loop() {
						if err := q.run(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
