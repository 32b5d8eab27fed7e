package mongostore

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/state"
)

func rawDoc(t testing.TB, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSameAsDriver fails if summaryFromRaw takes raw and answers other
// than the driver's decoding of it into a playerDoc.
func checkSameAsDriver(t *testing.T, raw []byte) {
	t.Helper()
	got, ok := summaryFromRaw(raw)
	if !ok {
		return
	}
	var d playerDoc // decoded as Cursor.Decode does
	if err := bson.NewDecoder(bson.NewDocumentReader(bytes.NewReader(raw))).Decode(&d); err != nil {
		t.Fatalf("summaryFromRaw took %x, which the driver refuses: %v", raw, err)
	}
	if want := d.summary(); got != want {
		t.Fatalf("%x: %+v, the driver %+v", raw, got, want)
	}
}

func TestSummaryFromRaw(t *testing.T) {
	full := bson.D{{Key: "_id", Value: "uAbC"}, {Key: fTownHall, Value: int32(7)}, {Key: fTrophies, Value: int32(1520)},
		{Key: fBaseValue, Value: int64(987654321012)}, {Key: fShieldUntil, Value: int64(1764633600000)}, {Key: fLastSeen, Value: int64(1764630000000)}}
	with := func(k string, v any) bson.D {
		d := append(bson.D(nil), full...)
		for i := range d {
			if d[i].Key == k {
				d[i].Value = v
			}
		}
		return d
	}
	tests := []struct {
		name string
		raw  func(t *testing.T) []byte
		fast bool // summaryFromRaw takes it (else the driver decides)
	}{
		{"as Upsert writes it", func(t *testing.T) []byte { return rawDoc(t, full) }, true},
		{"int64 town hall", func(t *testing.T) []byte { return rawDoc(t, with(fTownHall, int64(9))) }, true},
		{"fields missing", func(t *testing.T) []byte { return rawDoc(t, slices.Clone(full[:2])) }, true},
		{"a raid lock beside", func(t *testing.T) []byte {
			return rawDoc(t, slices.Concat(full, bson.D{{Key: "raid_lock", Value: bson.D{{Key: "id", Value: "r1"}, {Key: "until", Value: int64(5)}}}}))
		}, false},
		{"a key in capitals", func(t *testing.T) []byte {
			return rawDoc(t, slices.Concat(full[:1], bson.D{{Key: "Trophies", Value: int32(5)}}))
		}, false},
		{"empty document", func(t *testing.T) []byte { return rawDoc(t, bson.D{}) }, true},
		{"town hall past a 32-bit int", func(t *testing.T) []byte { return rawDoc(t, with(fTownHall, int64(1)<<31)) }, strconv.IntSize == 64},
		{"a double", func(t *testing.T) []byte { return rawDoc(t, with(fTrophies, 1520.0)) }, false},
		{"a null", func(t *testing.T) []byte { return rawDoc(t, with(fLastSeen, nil)) }, false},
		{"an ObjectID", func(t *testing.T) []byte { return rawDoc(t, with("_id", bson.NewObjectID())) }, false},
		{"a field twice", func(t *testing.T) []byte {
			return rawDoc(t, slices.Concat(full, bson.D{{Key: fTrophies, Value: int32(3)}}))
		}, false},
		{"cut short", func(t *testing.T) []byte { r := rawDoc(t, full); return r[:len(r)-3] }, false},
		{"length lies", func(t *testing.T) []byte { r := rawDoc(t, full); r[0]++; return r }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw(t)
			if _, fast := summaryFromRaw(raw); fast != tt.fast {
				t.Errorf("summaryFromRaw took it: %v, want %v", fast, tt.fast)
			}
			checkSameAsDriver(t, raw)
		})
	}
}

// Whatever summaryFromRaw takes, the driver decodes the same way.
func FuzzSummaryFromRaw(f *testing.F) {
	f.Add([]byte(rawDoc(f, bson.D{{Key: "_id", Value: "u1"}, {Key: fTownHall, Value: int32(3)}, {Key: fTrophies, Value: int64(-7)},
		{Key: fBaseValue, Value: int64(1 << 40)}, {Key: fShieldUntil, Value: int32(0)}, {Key: fLastSeen, Value: int64(1)}})))
	f.Add([]byte(rawDoc(f, bson.D{{Key: "x", Value: bson.A{1, "a"}}, {Key: "_id", Value: "\xff"}})))
	f.Add([]byte(rawDoc(f, bson.D{{Key: fTrophies, Value: int32(1)}, {Key: fTrophies, Value: int32(2)}})))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkSameAsDriver(t, raw)
	})
}

func BenchmarkSummaryDecode(b *testing.B) {
	raw := rawDoc(b, bson.D{{Key: "_id", Value: "uAbCdEfGhIjKlMnOpQrStUv"}, {Key: fTownHall, Value: int32(7)}, {Key: fTrophies, Value: int32(1520)},
		{Key: fBaseValue, Value: int64(987654)}, {Key: fShieldUntil, Value: int64(1764633600000)}, {Key: fLastSeen, Value: int64(1764630000000)}})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := summaryFromRaw(raw); !ok {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var d playerDoc
			if err := bson.Unmarshal(raw, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// What FerretDB sends back for summaries Upsert wrote takes the hand
// path (else it would be dead weight), with the driver's answer.
func TestSummariesDecodeByHand(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		want := []state.Summary{
			{ID: "uAbC-_0123456789abcdefg", TownHall: 7, Trophies: 1520, BaseValue: 1 << 40, ShieldUntil: 1764633600000, LastSeen: 1764630000000},
			{ID: "dev-bob", TownHall: 1},
		}
		for _, sum := range want {
			if err := s.Upsert(ctx, sum); err != nil {
				t.Fatal(err)
			}
		}
		cur, err := s.players.Find(ctx, bson.D{}, options.Find().SetProjection(summaryProjection))
		if err != nil {
			t.Fatal(err)
		}
		defer cur.Close(ctx)
		n := 0
		for cur.Next(ctx) {
			n++
			if _, ok := summaryFromRaw(cur.Current); !ok {
				t.Errorf("FerretDB's %s does not take the hand path", cur.Current)
			}
			checkSameAsDriver(t, cur.Current)
		}
		got, err := s.Summaries(ctx)
		if err != nil || n != len(want) || len(got) != len(want) {
			t.Fatalf("%d documents, Summaries %v (%v); want %d", n, got, err, len(want))
		}
		slices.SortFunc(got, func(a, b state.Summary) int { return strings.Compare(b.ID, a.ID) })
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("Summaries[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
