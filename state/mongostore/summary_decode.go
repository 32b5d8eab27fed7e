package mongostore

import (
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"rampart/state"
)

// summaryFromRaw decodes a players document read with summaryProjection
// without reflection: the index snapshot reads every player's summary
// every 15 s, and the driver's struct decoding was ~1% of the server's
// core at 25,000 players (BenchmarkSummaryDecode). It takes a document
// whose _id is a string and whose summary fields, where present, are
// int32 or int64, each at most once; ok false sends anything else (a
// double, a null, a duplicate, a malformed document) to the driver's
// decoder, so that the answer and the errors stay its own; so does any
// other field (the projection returns none, and the driver matches keys
// ignoring case).
func summaryFromRaw(raw bson.Raw) (sum state.Summary, ok bool) {
	n, rem, ok := bsoncore.ReadLength(raw)
	if !ok || int(n) != len(raw) || n < 5 || raw[n-1] != 0 {
		return state.Summary{}, false
	}
	rem = rem[:len(rem)-1] // the terminating 0
	var seen [6]bool
	for len(rem) > 0 {
		var e bsoncore.Element
		if e, rem, ok = bsoncore.ReadElement(rem); !ok {
			return state.Summary{}, false
		}
		var field int
		switch string(e.KeyBytes()) {
		case "_id":
			field = 0
		case fTownHall:
			field = 1
		case fTrophies:
			field = 2
		case fBaseValue:
			field = 3
		case fShieldUntil:
			field = 4
		case fLastSeen:
			field = 5
		default: // the projection returns none; the driver matches keys ignoring case
			return state.Summary{}, false
		}
		if seen[field] {
			return state.Summary{}, false
		}
		seen[field] = true
		v := e.Value()
		if field == 0 {
			if sum.ID, ok = bsonString(v); !ok {
				return state.Summary{}, false
			}
			continue
		}
		var x int64
		switch v.Type {
		case bsoncore.TypeInt32:
			i, _ := v.Int32OK()
			x = int64(i)
		case bsoncore.TypeInt64:
			x, _ = v.Int64OK()
		default:
			return state.Summary{}, false
		}
		if (field == 1 || field == 2) && x > math.MaxInt { // the driver refuses it (32-bit int)
			return state.Summary{}, false
		}
		switch field {
		case 1:
			sum.TownHall = int(x)
		case 2:
			sum.Trophies = int(x)
		case 3:
			sum.BaseValue = x
		case 4:
			sum.ShieldUntil = x
		case 5:
			sum.LastSeen = x
		}
	}
	return sum, true
}

// bsonString reads a string value, checking its terminating 0 as the
// driver does (bsoncore does not).
func bsonString(v bsoncore.Value) (string, bool) {
	d := v.Data
	if v.Type != bsoncore.TypeString || len(d) < 5 {
		return "", false
	}
	n := int(int32(uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24))
	if n < 1 || 4+n != len(d) || d[len(d)-1] != 0 {
		return "", false
	}
	return string(d[4 : len(d)-1]), true
}
