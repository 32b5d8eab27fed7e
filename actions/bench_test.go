package actions

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"rampart/gamedata"
)

// benchCase is one action with arguments that succeed on the mid-game base.
type benchCase struct {
	name, action, args string
}

// midGameCases finds, for every action, arguments that succeed on base at
// now, by trying candidates on a copy: the benchmark stays valid whatever
// the game data holds.
func midGameCases(tb testing.TB, gd *gamedata.Bundle, base Base, now time.Time) []benchCase {
	tb.Helper()
	var ids []string
	for _, bl := range base.Buildings {
		ids = append(ids, bl.ID)
	}
	first := func(action string, cands []string) string {
		for _, args := range cands {
			c := base.Clone()
			if _, err := Apply(&c, gd, now, action, json.RawMessage(args)); err == nil {
				return args
			}
		}
		tb.Fatalf("no succeeding args for %s", action)
		return ""
	}
	each := func(format string, vals ...[]string) []string {
		var out []string
		for _, v := range vals[0] {
			if len(vals) == 1 {
				out = append(out, fmt.Sprintf(format, v))
				continue
			}
			for _, w := range vals[1] {
				out = append(out, fmt.Sprintf(format, v, w))
			}
		}
		return out
	}
	x, y, _ := freeSpot(&base, gd, 1, 1)
	var units, items []string
	for _, u := range gd.Units {
		units = append(units, u.ID)
	}
	for _, it := range gd.Store {
		if it.Kind == gamedata.ItemResources {
			items = append(items, it.ID)
		}
	}
	var boost string
	for _, it := range gd.Store {
		if it.Kind == gamedata.ItemBoost {
			boost = it.ID
		}
	}
	var walls []string
	for _, bl := range base.Buildings {
		if gd.Building(bl.Type).Kind == gamedata.KindWall {
			walls = append(walls, bl.ID)
		}
	}
	var queued []string
	for _, bl := range base.Buildings {
		for _, q := range bl.Queue {
			queued = append(queued, fmt.Sprintf(`{"building_id":%q,"unit":%q,"count":1}`, bl.ID, q.Unit))
		}
	}
	return []benchCase{
		{"ping", Ping, `{}`},
		{"build", Build, first(Build, []string{fmt.Sprintf(`{"type":"wall","x":%d,"y":%d}`, x, y)})},
		{"move_building", MoveBuilding, first(MoveBuilding, each(`{"building_id":%q,"x":%s}`, walls, []string{fmt.Sprintf(`%d,"y":%d`, x, y)}))},
		{"upgrade_building", UpgradeBuilding, first(UpgradeBuilding, each(`{"building_id":%q}`, ids))},
		{"cancel_upgrade", CancelUpgrade, first(CancelUpgrade, each(`{"building_id":%q}`, ids))},
		{"speed_up", SpeedUp, first(SpeedUp, each(`{"building_id":%q,"kind":"upgrade"}`, ids))},
		{"speed_up_training", SpeedUp, first(SpeedUp, each(`{"building_id":%q,"kind":"training"}`, ids))},
		{"collect", Collect, first(Collect, each(`{"building_id":%q}`, ids))},
		{"collect_all", Collect, `{}`},
		{"train_units", TrainUnits, first(TrainUnits, each(`{"building_id":%q,"unit":%q,"count":2}`, ids, units))},
		{"cancel_training", CancelTraining, first(CancelTraining, queued)},
		{"buy_item", BuyItem, first(BuyItem, each(`{"item":%q}`, items))},
		{"buy_item_boost", BuyItem, fmt.Sprintf(`{"item":%q}`, boost)},
	}
}

// BenchmarkApply applies each action to a fresh copy of a mid-game base
// (about 40 buildings, upgrades, queues and a boost running). Copies are
// made outside the timer. Sub-benchmarks:
//
//	decoded/<action>   ApplyArgs with pre-decoded arguments, nothing due
//	json/<action>      Apply, including JSON argument decoding
//	catchup/<action>   Apply an hour later: events are due, so Apply
//	                   catches up on a copy of the base first
func BenchmarkApply(b *testing.B) {
	gd := bundle(b)
	base := MidGame(gd, t0)
	now := t0.Add(time.Second)
	if due(&base, gd, now.UnixMilli()) {
		b.Fatal("mid-game base has events due at the fast-path time")
	}
	cases := midGameCases(b, gd, base, now)
	for _, mode := range []string{"decoded", "json", "catchup"} {
		for _, c := range cases {
			b.Run(mode+"/"+c.name, func(b *testing.B) {
				at := now
				if mode == "catchup" {
					at = t0.Add(time.Hour)
				}
				args, err := DecodeArgs(json.RawMessage(c.args))
				if err != nil {
					b.Fatal(err)
				}
				raw := json.RawMessage(c.args)
				const pool = 256
				bases := make([]Base, pool)
				k := pool
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if k == pool {
						b.StopTimer()
						for i := range bases {
							bases[i] = base.Clone()
						}
						k = 0
						b.StartTimer()
					}
					var err error
					if mode == "decoded" {
						_, err = ApplyArgs(&bases[k], gd, at, c.action, args)
					} else {
						_, err = Apply(&bases[k], gd, at, c.action, raw)
					}
					if err != nil && mode != "catchup" {
						b.Fatal(err)
					}
					k++
				}
			})
		}
	}
}

// BenchmarkBaseJSON encodes and decodes a mid-game base with
// encoding/json, reporting the encoded size.
func BenchmarkBaseJSON(b *testing.B) {
	gd := bundle(b)
	base := MidGame(gd, t0)
	data, err := json.Marshal(&base)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"encode", func() error { _, err := json.Marshal(&base); return err }},
		{"decode_direct", func() error { var x Base; return x.UnmarshalJSON(data) }},
		{"decode_std", func() error { var x plainBase; return json.Unmarshal(data, &x) }},
		{"decode", func() error { var x Base; return json.Unmarshal(data, &x) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "bytes")
		})
	}
}

// BenchmarkCatchUp resolves three days offline on a mid-game base.
func BenchmarkCatchUp(b *testing.B) {
	gd := bundle(b)
	base := MidGame(gd, t0)
	later := t0.Add(72 * time.Hour)
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		c := base.Clone()
		b.StartTimer()
		CatchUp(&c, gd, later)
	}
}
