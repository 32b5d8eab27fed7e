package actions

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"rampart/gamedata"
)

var t0 = time.UnixMilli(1_700_000_000_000)

func bundle(t testing.TB) *gamedata.Bundle {
	t.Helper()
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return gd
}

func at(d time.Duration) time.Time { return t0.Add(d) }
func ms(d time.Duration) int64     { return at(d).UnixMilli() }

func encode(t testing.TB, b *Base) []byte {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// apply runs an action and checks the rule every failure must keep: the
// base is unchanged, and the error is an *Error with a known code.
func apply(t testing.TB, b *Base, gd *gamedata.Bundle, now time.Time, name, args string) (any, string) {
	t.Helper()
	before := encode(t, b)
	res, err := Apply(b, gd, now, name, json.RawMessage(args))
	if err == nil {
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("%s %s: result does not encode: %v", name, args, err)
		}
		return res, ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s %s: error %T %v, want *Error", name, args, err, err)
	}
	if !isCode(e.Code) || e.Message == "" {
		t.Fatalf("%s %s: error %+v has an unknown code or no message", name, args, e)
	}
	if after := encode(t, b); !bytes.Equal(before, after) {
		t.Fatalf("%s %s failed with %s but changed the base:\nbefore %s\nafter  %s", name, args, e.Code, before, after)
	}
	return nil, e.Code
}

func isCode(c string) bool {
	for _, k := range Codes() {
		if k == c {
			return true
		}
	}
	return false
}

// must applies an action that has to succeed.
func must(t testing.TB, b *Base, gd *gamedata.Bundle, now time.Time, name, args string) any {
	t.Helper()
	res, code := apply(t, b, gd, now, name, args)
	if code != "" {
		t.Fatalf("%s %s: got %s, want success", name, args, code)
	}
	return res
}

// bld returns the building with id, failing the test when there is none.
func bld(t testing.TB, b *Base, id string) *Building {
	t.Helper()
	i := b.find(id)
	if i < 0 {
		t.Fatalf("no building %s", id)
	}
	return &b.Buildings[i]
}

// add places a building directly (no rules) and returns its id.
func add(b *Base, typ string, level, x, y int) string {
	id := buildingID(b.NextID)
	b.NextID++
	b.Buildings = append(b.Buildings, Building{ID: id, Type: typ, Level: level, X: x, Y: y})
	return id
}

// checkInvariants checks what must hold of any base after any action.
func checkInvariants(t testing.TB, b *Base, gd *gamedata.Bundle) {
	t.Helper()
	tot := scan(b, gd)
	for r, res := range gd.Resources {
		v := b.Res[res.ID]
		if v < 0 {
			t.Fatalf("%s is negative: %d", res.ID, v)
		}
		if r != gd.PremiumIndex() && v > tot.cap[r] {
			t.Fatalf("%s %d above capacity %d", res.ID, v, tot.cap[r])
		}
	}
	if tot.busy > tot.builders {
		t.Fatalf("%d upgrades running with %d builders", tot.busy, tot.builders)
	}
	if used := housingUsed(b, gd); used > tot.housing {
		t.Fatalf("housing %d used of %d", used, tot.housing)
	}
	ids := map[string]bool{}
	counts := map[string]int{}
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		bt := gd.Building(bl.Type)
		if bt == nil {
			t.Fatalf("%s has unknown type %s", bl.ID, bl.Type)
		}
		if ids[bl.ID] {
			t.Fatalf("duplicate building id %s", bl.ID)
		}
		ids[bl.ID] = true
		counts[bl.Type]++
		if bl.Level < 0 || bl.Level > bt.MaxLevel() || bl.Level == bt.MaxLevel() && bl.Done > 0 {
			t.Fatalf("%s level %d (done %d) out of range", bl.ID, bl.Level, bl.Done)
		}
		if bl.Level == 0 && bl.Done == 0 {
			t.Fatalf("%s at level 0 and not under construction", bl.ID)
		}
		if inside, free := b.fits(gd, bl.X, bl.Y, bt.W, bt.H, i); !inside || !free {
			t.Fatalf("%s at (%d,%d): inside %v, free %v", bl.ID, bl.X, bl.Y, inside, free)
		}
		if bt.Kind == gamedata.KindTrainer && len(bl.Queue) > 0 {
			if q := queued(bl, gd); q > bt.Level(bl.Level).Queue {
				t.Fatalf("%s queue holds %d, capacity %d", bl.ID, q, bt.Level(bl.Level).Queue)
			}
		}
		if bt.Kind == gamedata.KindHarvester && bl.Level > 0 && bl.Stored > bt.Level(bl.Level).Capacity {
			t.Fatalf("%s stores %d above its capacity", bl.ID, bl.Stored)
		}
	}
	for typ, n := range counts {
		if lim := gd.Building(typ).Count(tot.th); n > lim {
			t.Fatalf("%d %s, limit %d at town hall %d", n, typ, lim, tot.th)
		}
	}
}
