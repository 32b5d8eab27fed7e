package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"rampart/gamedata"
	"rampart/internal/testenv/fixture"
)

// step is one logged action: replaying the log from the same initial base
// must give byte-identical bases.
type step struct {
	at   time.Time
	name string
	args string
}

// randomStep picks an action and arguments, mostly plausible, sometimes
// nonsense, from what the base holds.
func randomStep(rng *rand.Rand, b *Base, gd *gamedata.Bundle) (string, string) {
	pick := func(n int) int { return rng.IntN(n) }
	id := func() string {
		if len(b.Buildings) == 0 || pick(20) == 0 {
			return fmt.Sprintf("b%d", pick(100))
		}
		return b.Buildings[pick(len(b.Buildings))].ID
	}
	ofKind := func(kind string) string {
		var ids []string
		for _, bl := range b.Buildings {
			if bt := gd.Building(bl.Type); bt != nil && bt.Kind == kind {
				ids = append(ids, bl.ID)
			}
		}
		if len(ids) == 0 || pick(10) == 0 {
			return id()
		}
		return ids[pick(len(ids))]
	}
	upgrading := func() string {
		for range 5 {
			if i := pick(len(b.Buildings) + 1); i < len(b.Buildings) && b.Buildings[i].Done > 0 {
				return b.Buildings[i].ID
			}
		}
		return id()
	}
	xy := func() (int, int) { return pick(gd.Grid.W+4) - 2, pick(gd.Grid.H+4) - 2 }
	unit := func() string { return gd.Units[pick(len(gd.Units))].ID }
	switch pick(20) {
	case 0:
		return Ping, `{}`
	case 1, 2, 3:
		x, y := xy()
		return Build, fmt.Sprintf(`{"type":%q,"x":%d,"y":%d}`, gd.Buildings[pick(len(gd.Buildings))].ID, x, y)
	case 4:
		x, y := xy()
		return MoveBuilding, fmt.Sprintf(`{"building_id":%q,"x":%d,"y":%d}`, id(), x, y)
	case 5, 6, 7, 8:
		return UpgradeBuilding, fmt.Sprintf(`{"building_id":%q}`, id())
	case 9:
		return CancelUpgrade, fmt.Sprintf(`{"building_id":%q}`, upgrading())
	case 10:
		kinds := []string{"", "", "upgrade", "training", "soon"}
		return SpeedUp, fmt.Sprintf(`{"building_id":%q,"kind":%q}`, upgrading(), kinds[pick(len(kinds))])
	case 11, 12, 13:
		if pick(3) == 0 {
			return Collect, `{}`
		}
		return Collect, fmt.Sprintf(`{"building_id":%q}`, ofKind(gamedata.KindHarvester))
	case 14, 15, 16:
		return TrainUnits, fmt.Sprintf(`{"building_id":%q,"unit":%q,"count":%d}`, ofKind(gamedata.KindTrainer), unit(), pick(12)-1)
	case 17:
		bid, u := ofKind(gamedata.KindTrainer), unit()
		for _, bl := range b.Buildings {
			if len(bl.Queue) > 0 && pick(2) == 0 {
				bid, u = bl.ID, bl.Queue[pick(len(bl.Queue))].Unit
			}
		}
		if pick(2) == 0 {
			return CancelTraining, fmt.Sprintf(`{"building_id":%q,"unit":%q}`, bid, u)
		}
		return CancelTraining, fmt.Sprintf(`{"building_id":%q,"unit":%q,"count":%d}`, bid, u, pick(5))
	default:
		return BuyItem, fmt.Sprintf(`{"item":%q}`, gd.Store[pick(len(gd.Store))].ID)
	}
}

// randomGap is how long the player waits before the next action: mostly
// seconds, sometimes hours, rarely days.
func randomGap(rng *rand.Rand) time.Duration {
	switch rng.IntN(10) {
	case 0:
		return 0
	case 1:
		return time.Duration(rng.Int64N(int64(8 * time.Hour)))
	case 2:
		if rng.IntN(10) == 0 {
			return time.Duration(rng.Int64N(int64(72 * time.Hour)))
		}
	}
	return time.Duration(rng.Int64N(int64(2 * time.Minute)))
}

// walk applies n random actions to b, checking invariants after each, and
// returns the log and how many succeeded per action. From step reloadAt
// on (when reload is not nil) the game data is reload, as after a hot
// reload.
func walk(t *testing.T, rng *rand.Rand, b *Base, gd, reload *gamedata.Bundle, reloadAt int, start time.Time, n int) ([]step, map[string]int) {
	t.Helper()
	var log []step
	ok := map[string]int{}
	now := start
	prem := gd.PremiumID()
	old := gd
	for i := range n {
		if i == reloadAt && reload != nil {
			gd = reload
		}
		now = now.Add(randomGap(rng))
		name, args := randomStep(rng, b, gd)
		gems := b.Res[prem]
		log = append(log, step{now, name, args})
		_, code := apply(t, b, gd, now, name, args) // checks failures change nothing
		if code == "" {
			ok[name]++
		}
		if b.Res[prem] > gems {
			t.Fatalf("step %d %s %s: premium currency went from %d to %d", i, name, args, gems, b.Res[prem])
		}
		// After a reload the base is reconciled by its first successful
		// action; failures leave it as it was, under the old data.
		if b.GD == gd.Version {
			checkInvariants(t, b, gd)
		} else {
			checkInvariants(t, b, old)
		}
	}
	return log, ok
}

func TestRandomSequences(t *testing.T) {
	gd := bundle(t)
	next := variant(t)
	seeds, steps := 24, 1500
	if testing.Short() {
		seeds, steps = 4, 500
	}
	total := map[string]int{}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			start := func() Base {
				if seed%2 == 0 {
					return New(gd, t0)
				}
				return MidGame(gd, t0)
			}
			b := start()
			if seed%2 == 0 {
				// Enough to get going, as a player who collects would.
				b.Res["gems"] = 5000
			}
			initial := encode(t, &b)
			// Every third seed gets a hot reload half way.
			var reload *gamedata.Bundle
			if seed%3 == 2 {
				reload = next
			}
			log, ok := walk(t, rng, &b, gd, reload, steps/2, t0, steps)
			for k, v := range ok {
				total[k] += v
			}

			// Determinism: replay the log from the same initial base.
			var r Base
			if err := json.Unmarshal(initial, &r); err != nil {
				t.Fatal(err)
			}
			for i, s := range log {
				g := gd
				if reload != nil && i >= steps/2 {
					g = reload
				}
				Apply(&r, g, s.at, s.name, json.RawMessage(s.args))
			}
			if a, b := encode(t, &b), encode(t, &r); !bytes.Equal(a, b) {
				t.Fatalf("replay differs:\n%s\n%s", a, b)
			}
		})
	}
	// The walk must exercise every action's success path, not just its
	// failures.
	for _, name := range Names() {
		if total[name] == 0 {
			t.Errorf("%s never succeeded in %d random steps", name, seeds*steps)
		}
	}
	t.Logf("successes: %v", total)
}

// FuzzApply throws arbitrary action names, argument bytes and delays at a
// mid-game base. Whatever comes in: no panic, a failure is an *Error with a
// known code that changed nothing (apply checks both), a success keeps
// every invariant and never creates premium currency. The seed corpus is
// in testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	gd := bundle(f)
	base := MidGame(gd, t0)
	for _, s := range fixture.NewPlayerScript() {
		f.Add(s.Name, []byte(s.Args), int64(0))
	}
	f.Fuzz(func(t *testing.T, name string, args []byte, gap int64) {
		b := base.Clone()
		now := t0.Add(time.Duration(gap%(30*24*3600)) * time.Second)
		gems := b.Res["gems"]
		apply(t, &b, gd, now, name, string(args))
		if b.Res["gems"] > gems {
			t.Fatalf("premium currency created: %d → %d", gems, b.Res["gems"])
		}
		checkInvariants(t, &b, gd)
		if _, err := json.Marshal(&b); err != nil {
			t.Fatal(err)
		}
	})
}
