package actions

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"rampart/gamedata"
)

func TestCatchUpAfterDaysOffline(t *testing.T) {
	gd := bundle(t)
	b := New(gd, t0)
	army(1)(&b, gd)
	must(t, &b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"militia","count":20}`)
	must(t, &b, gd, t0, UpgradeBuilding, `{"building_id":"b5"}`) // collector, 1 min
	must(t, &b, gd, t0, BuyItem, `{"item":"gold_boost"}`)        // ×2 for a day

	if at, ok := NextEvent(&b, gd); !ok || !at.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("NextEvent: got %v %v, want first militia at +20s", at, ok)
	}
	CatchUp(&b, gd, at(3*24*time.Hour))
	if b.Army["militia"] != 20 || len(bld(t, &b, "b6").Queue) != 0 {
		t.Fatalf("army %v", b.Army)
	}
	if bl := bld(t, &b, "b5"); bl.Level != 2 || bl.Since != ms(time.Minute) {
		t.Fatalf("collector %+v", bl)
	}
	if len(b.Boosts) != 0 {
		t.Fatalf("boost did not end: %v", b.Boosts)
	}
	// The mine filled (1000) long ago; the boost ended with it full.
	if bl := bld(t, &b, "b4"); bl.Stored != 1000 || bl.Since != ms(24*time.Hour) {
		t.Fatalf("mine %+v", bl)
	}
	if _, ok := NextEvent(&b, gd); ok {
		t.Fatal("NextEvent after everything finished")
	}
	checkInvariants(t, &b, gd)
}

func TestBoostEndsMidway(t *testing.T) {
	gd := bundle(t)
	b := New(gd, t0)
	b.Res["gold"] = 0
	b.Buildings[3].Level = 8 // 2000 gold/h, holds 50000
	must(t, &b, gd, t0, BuyItem, `{"item":"gold_boost"}`)
	res := must(t, &b, gd, at(30*time.Hour), Collect, `{"building_id":"b4"}`)
	// 24 h at 4000/h, 6 h at 2000/h = 108000, capped by the mine's 50000
	// and then by storage (2000).
	wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 2000}}})
	if bl := bld(t, &b, "b4"); bl.Stored != 48000 {
		t.Fatalf("mine %+v", bl)
	}

	b = New(gd, t0)
	b.Buildings[3].Level = 2 // 400/h, holds 2000
	b.Res["gold"] = 0
	must(t, &b, gd, t0, BuyItem, `{"item":"gold_boost"}`)
	must(t, &b, gd, at(23*time.Hour), Collect, `{"building_id":"b4"}`)
	b.Res["gold"] = 0 // spent
	res = must(t, &b, gd, at(26*time.Hour), Collect, `{"building_id":"b4"}`)
	// 1 h boosted (800) + 2 h plain (800).
	wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 1600}}})
}

// TestCatchUpPathIndependent: observing a base at any moments in between
// does not change what it is at the end.
func TestCatchUpPathIndependent(t *testing.T) {
	gd := bundle(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		base := MidGame(gd, t0)
		end := at(time.Duration(rng.Int64N(int64(72 * time.Hour))))
		once := base.Clone()
		CatchUp(&once, gd, end)
		steps := base.Clone()
		for now := t0; now.Before(end); now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Hour)))) {
			CatchUp(&steps, gd, now)
		}
		CatchUp(&steps, gd, end)
		a, b := encode(t, &once), encode(t, &steps)
		if !bytes.Equal(a, b) {
			t.Fatalf("case %d: once %s\nsteps %s", i, a, b)
		}
		// And collecting at the end gives the same either way.
		ra, ca := apply(t, &once, gd, end, Collect, `{}`)
		rb, cb := apply(t, &steps, gd, end, Collect, `{}`)
		ja, _ := json.Marshal(ra)
		jb, _ := json.Marshal(rb)
		if ca != cb || !bytes.Equal(ja, jb) {
			t.Fatalf("case %d: collect %s %s vs %s %s", i, ja, ca, jb, cb)
		}
	}
}

func TestFailedActionLeavesDueEventsUnresolved(t *testing.T) {
	gd := bundle(t)
	b := New(gd, t0)
	must(t, &b, gd, t0, UpgradeBuilding, `{"building_id":"b4"}`)
	before := encode(t, &b)
	if _, code := apply(t, &b, gd, at(time.Hour), UpgradeBuilding, `{"building_id":"b99"}`); code != CodeNotFound {
		t.Fatalf("got %q", code)
	}
	if !bytes.Equal(before, encode(t, &b)) {
		t.Fatal("failed action changed the base")
	}
	must(t, &b, gd, at(time.Hour), Ping, `{}`)
	if bl := bld(t, &b, "b4"); bl.Level != 2 {
		t.Fatalf("a successful action did not catch up: %+v", bl)
	}
}

func TestNewBase(t *testing.T) {
	gd := bundle(t)
	b := New(gd, t0)
	checkInvariants(t, &b, gd)
	s := Summary(&b, gd)
	want := BaseSummary{TownHall: 1, Buildings: 5, Builders: 2, Value: 300}
	if s != want {
		t.Fatalf("Summary: got %+v, want %+v", s, want)
	}
	if b.GD != gd.Version || b.NextID != 6 || b.Res["gems"] != 250 {
		t.Fatalf("got %+v", b)
	}
	m := MidGame(gd, t0)
	checkInvariants(t, &m, gd)
	ms := Summary(&m, gd)
	if ms.Buildings < 35 || ms.Buildings > 45 || ms.Busy == 0 || ms.Busy >= ms.Builders || ms.Army == 0 {
		t.Fatalf("MidGame summary %+v", ms)
	}
}

func TestReconcile(t *testing.T) {
	gd := bundle(t)
	next := variant(t)

	b := MidGame(gd, t0)
	var cannon, mortar, barracks string
	for i := range b.Buildings {
		switch bl := &b.Buildings[i]; bl.Type {
		case "cannon":
			cannon = bl.ID
			bl.Level, bl.Done = 3, ms(time.Hour) // upgrading to 4
		case "mortar":
			mortar = bl.ID
		case "barracks":
			if barracks == "" {
				barracks = bl.ID
				bl.Queue, bl.QAt = []Training{{"archer", 2}, {"militia", 3}}, ms(-time.Second)
			}
		}
	}
	b.Army["archer"] = 4
	oldGold := scan(&b, gd).cap[0]
	b.Res["gold"] = oldGold
	b.Res["mithril"] = 5

	if !Reconcile(&b, next, t0) {
		t.Fatal("Reconcile reported no change")
	}
	if b.GD != next.Version {
		t.Fatal("GD not updated")
	}
	if b.find(mortar) >= 0 {
		t.Fatal("mortar kept")
	}
	if bl := bld(t, &b, cannon); bl.Level != 3 || bl.Done != 0 {
		t.Fatalf("cannon %+v", bl)
	}
	if bl := bld(t, &b, barracks); len(bl.Queue) != 1 || bl.Queue[0].Unit != "militia" || bl.QAt != ms(0) {
		t.Fatalf("barracks %+v", bl)
	}
	if _, ok := b.Army["archer"]; ok {
		t.Fatal("archers kept")
	}
	if _, ok := b.Res["mithril"]; ok {
		t.Fatal("unknown resource kept")
	}
	if tot := scan(&b, next); b.Res["gold"] != tot.cap[0] || b.Res["gold"] >= oldGold {
		t.Fatalf("gold %d, capacity %d, before %d", b.Res["gold"], tot.cap[0], oldGold)
	}
	checkInvariants(t, &b, next)
	if Reconcile(&b, next, t0) {
		t.Fatal("second Reconcile changed something")
	}

	// Apply reconciles a base saved under another version by itself.
	c := MidGame(gd, t0)
	must(t, &c, next, t0, Ping, `{}`)
	if c.GD != next.Version {
		t.Fatal("Apply did not reconcile")
	}
	checkInvariants(t, &c, next)

	// A base without a town hall gets one.
	d := New(gd, t0)
	d.Buildings = d.Buildings[1:]
	if !Reconcile(&d, next, t0) || d.count("town_hall") != 1 {
		t.Fatalf("town hall not restored: %+v", d.Buildings)
	}
	checkInvariants(t, &d, next)
}

// buildVariant returns the embedded bundle changed by f, re-validated.
func buildVariant(t *testing.T, f func(*gamedata.Bundle)) *gamedata.Bundle {
	t.Helper()
	var b gamedata.Bundle
	if err := json.Unmarshal(bundle(t).Raw(), &b); err != nil {
		t.Fatal(err)
	}
	f(&b)
	data, err := gamedata.Compile(&b)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := gamedata.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

func deleteType(ts []gamedata.BuildingType, id string) []gamedata.BuildingType {
	for i := range ts {
		if ts[i].ID == id {
			return append(ts[:i], ts[i+1:]...)
		}
	}
	return ts
}

// variant is a newer bundle: no mortar, cannon only to level 3, no archer,
// gold storage levels 6 and 7 holding 10% less.
func variant(t *testing.T) *gamedata.Bundle {
	t.Helper()
	return buildVariant(t, func(b *gamedata.Bundle) {
		b.Buildings = deleteType(b.Buildings, "mortar")
		for i := range b.Buildings {
			switch bt := &b.Buildings[i]; bt.ID {
			case "cannon":
				bt.Levels = bt.Levels[:3]
			case "gold_storage":
				bt.Levels[5].Storage["gold"] = 45000
				bt.Levels[6].Storage["gold"] = 90000
			}
		}
		for i, u := range b.Units {
			if u.ID == "archer" {
				b.Units = append(b.Units[:i], b.Units[i+1:]...)
				break
			}
		}
	})
}
