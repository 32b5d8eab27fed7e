package actions

import (
	"reflect"
	"testing"
	"time"

	"rampart/gamedata"
	"rampart/internal/testenv/fixture"
)

// A new player (see game.json): b1 town hall 1 at (20,20), b2 and b3
// builder huts, b4 gold mine, b5 elixir collector; 1000 gold, 1000
// elixir, 250 gems; town hall storage 2000 each. Setups add b6, b7...
type tc struct {
	name  string
	setup func(b *Base, gd *gamedata.Bundle)
	after time.Duration // now = t0 + after
	args  string
	code  string // "" = success
	check func(t *testing.T, b *Base, res any)
}

func run(t *testing.T, action string, cases []tc) {
	t.Helper()
	gd := bundle(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := New(gd, t0)
			if c.setup != nil {
				c.setup(&b, gd)
			}
			res, code := apply(t, &b, gd, at(c.after), action, c.args)
			if code != c.code {
				t.Fatalf("got code %q, want %q (result %+v)", code, c.code, res)
			}
			if c.check != nil {
				c.check(t, &b, res)
			}
			checkInvariants(t, &b, gd)
		})
	}
}

func setRes(res string, n int64) func(*Base, *gamedata.Bundle) {
	return func(b *Base, _ *gamedata.Bundle) { b.Res[res] = n }
}

func setups(fs ...func(*Base, *gamedata.Bundle)) func(*Base, *gamedata.Bundle) {
	return func(b *Base, gd *gamedata.Bundle) {
		for _, f := range fs {
			f(b, gd)
		}
	}
}

func townHall(level int) func(*Base, *gamedata.Bundle) {
	return func(b *Base, _ *gamedata.Bundle) { b.Buildings[0].Level = level }
}

// army adds b6 barracks (level) at (8,8) and b7 army camp 1 at (8,30).
func army(level int) func(*Base, *gamedata.Bundle) {
	return func(b *Base, _ *gamedata.Bundle) {
		add(b, "barracks", level, 8, 8)
		add(b, "army_camp", 1, 8, 30)
		if level == 0 {
			b.Buildings[5].Done = ms(time.Minute)
		}
	}
}

// goldStorage adds b6 gold storage 1 (capacity 1500) at (34,8).
func goldStorage(b *Base, _ *gamedata.Bundle) { add(b, "gold_storage", 1, 34, 8) }

// busyBuilders starts upgrades on both builder huts' worth of buildings.
func busyBuilders(b *Base, _ *gamedata.Bundle) {
	b.Buildings[3].Done = ms(time.Hour)
	b.Buildings[4].Done = ms(time.Hour)
	b.Buildings[3].Since, b.Buildings[4].Since = 0, 0
}

func wantRes(t *testing.T, b *Base, res string, n int64) {
	t.Helper()
	if got := b.Res[res]; got != n {
		t.Fatalf("%s: got %d, want %d", res, got, n)
	}
}

func wantResult(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("result: got %+v, want %+v", got, want)
	}
}

func TestPingAndUnknown(t *testing.T) {
	gd := bundle(t)
	b := New(gd, t0)
	wantResult(t, must(t, &b, gd, t0, Ping, ``), Empty{})
	if _, code := apply(t, &b, gd, t0, "fly", `{}`); code != CodeUnknownAction {
		t.Fatalf("got %q, want unknown_action", code)
	}
	for _, args := range []string{`[1]`, `{"x": "a"}`, `{`, `"s"`} {
		if _, code := apply(t, &b, gd, t0, Build, args); code != CodeBadArgs {
			t.Fatalf("args %s: got %q, want bad_args", args, code)
		}
	}
}

func TestBuild(t *testing.T) {
	run(t, Build, []tc{
		{name: "starts construction", args: `{"type":"barracks","x":8,"y":8}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, BuildResult{BuildingID: "b6", Done: ms(10 * time.Second)})
			wantRes(t, b, "elixir", 800)
			if bl := bld(t, b, "b6"); bl.Level != 0 || bl.X != 8 || bl.Y != 8 {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "instant needs no builder", setup: setups(townHall(2), busyBuilders), args: `{"type":"wall","x":0,"y":0}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, BuildResult{BuildingID: "b6"})
			wantRes(t, b, "gold", 950)
			if bl := bld(t, b, "b6"); bl.Level != 1 || bl.Done != 0 {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "harvester built produces from completion", setup: townHall(2), args: `{"type":"gold_mine","x":0,"y":0}`, check: func(t *testing.T, b *Base, _ any) {
			gd := bundle(t)
			CatchUp(b, gd, at(time.Hour))
			if bl := bld(t, b, "b6"); bl.Level != 1 || bl.Since != ms(10*time.Second) {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "missing type", args: `{"x":1,"y":1}`, code: CodeBadArgs},
		{name: "missing x", args: `{"type":"barracks","y":1}`, code: CodeBadArgs},
		{name: "unknown type", args: `{"type":"dragon_lair","x":1,"y":1}`, code: CodeNotFound},
		{name: "none allowed at this town hall", args: `{"type":"archer_tower","x":1,"y":1}`, code: CodeRequirementNotMet},
		{name: "prerequisite missing", setup: townHall(5), args: `{"type":"workshop","x":1,"y":1}`, code: CodeRequirementNotMet},
		{name: "count limit", args: `{"type":"gold_mine","x":1,"y":1}`, code: CodeLimitReached},
		{name: "outside right", args: `{"type":"barracks","x":42,"y":1}`, code: CodeOutOfBounds},
		{name: "negative", args: `{"type":"barracks","x":-1,"y":1}`, code: CodeOutOfBounds},
		{name: "overlaps town hall", args: `{"type":"barracks","x":18,"y":18}`, code: CodeOccupied},
		{name: "edge to edge is free", args: `{"type":"barracks","x":17,"y":20}`},
		{name: "no free builder", setup: busyBuilders, args: `{"type":"barracks","x":8,"y":8}`, code: CodeNoFreeBuilder},
		{name: "cannot pay", setup: setRes("elixir", 199), args: `{"type":"barracks","x":8,"y":8}`, code: CodeNotEnoughResources},
		{name: "premium cost", setup: setups(townHall(3), setRes("gems", 249)), args: `{"type":"builder_hut","x":0,"y":0}`, code: CodeNotEnoughResources},
		{name: "premium cost paid", setup: townHall(3), args: `{"type":"builder_hut","x":0,"y":0}`, check: func(t *testing.T, b *Base, _ any) {
			wantRes(t, b, "gems", 0)
			if s := Summary(b, bundle(t)); s.Builders != 3 {
				t.Fatalf("builders: got %d, want 3", s.Builders)
			}
		}},
	})
}

func TestMoveBuilding(t *testing.T) {
	run(t, MoveBuilding, []tc{
		{name: "moves", args: `{"building_id":"b4","x":0,"y":0}`, check: func(t *testing.T, b *Base, _ any) {
			if bl := bld(t, b, "b4"); bl.X != 0 || bl.Y != 0 {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "overlapping only itself", args: `{"building_id":"b1","x":21,"y":21}`},
		{name: "while upgrading", setup: busyBuilders, args: `{"building_id":"b4","x":0,"y":0}`},
		{name: "missing id", args: `{"x":0,"y":0}`, code: CodeBadArgs},
		{name: "missing y", args: `{"building_id":"b4","x":0}`, code: CodeBadArgs},
		{name: "unknown id", args: `{"building_id":"b99","x":0,"y":0}`, code: CodeNotFound},
		{name: "outside", args: `{"building_id":"b4","x":0,"y":42}`, code: CodeOutOfBounds},
		{name: "onto another", args: `{"building_id":"b4","x":20,"y":18}`, code: CodeOccupied},
	})
}

func TestUpgradeBuilding(t *testing.T) {
	run(t, UpgradeBuilding, []tc{
		{name: "harvester pauses", after: time.Hour, args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, UpgradeResult{Level: 2, Done: ms(time.Hour + time.Minute)})
			wantRes(t, b, "elixir", 700)
			bl := bld(t, b, "b4")
			if bl.Since != 0 || bl.Stored != 200 {
				t.Fatalf("production not set aside: %+v", bl)
			}
			CatchUp(b, bundle(t), at(2*time.Hour+time.Minute))
			if bl := bld(t, b, "b4"); bl.Level != 2 || bl.Since != ms(time.Hour+time.Minute) {
				t.Fatalf("after: %+v", bl)
			}
		}},
		{name: "town hall", args: `{"building_id":"b1"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, UpgradeResult{Level: 2, Done: ms(10 * time.Second)})
			wantRes(t, b, "gold", 0)
		}},
		{name: "instant", setup: setups(townHall(2), func(b *Base, _ *gamedata.Bundle) { add(b, "wall", 1, 0, 0) }),
			args: `{"building_id":"b6"}`, check: func(t *testing.T, b *Base, res any) {
				wantResult(t, res, UpgradeResult{Level: 2})
				wantRes(t, b, "gold", 0)
			}},
		{name: "missing id", args: `{}`, code: CodeBadArgs},
		{name: "unknown id", args: `{"building_id":"x"}`, code: CodeNotFound},
		{name: "already upgrading", setup: busyBuilders, args: `{"building_id":"b4"}`, code: CodeBusy},
		{name: "max level", setup: func(b *Base, _ *gamedata.Bundle) { b.Buildings[1].Level = 5 }, args: `{"building_id":"b2"}`, code: CodeMaxLevel},
		{name: "town hall too low", args: `{"building_id":"b2"}`, code: CodeRequirementNotMet},
		{name: "no free builder", setup: func(b *Base, gd *gamedata.Bundle) {
			b.Buildings[0].Done = ms(time.Hour)
			b.Buildings[4].Done, b.Buildings[4].Since = ms(time.Hour), 0
		}, args: `{"building_id":"b4"}`, code: CodeNoFreeBuilder},
		{name: "cannot pay", setup: setRes("elixir", 299), args: `{"building_id":"b4"}`, code: CodeNotEnoughResources},
	})
}

func TestCancelUpgrade(t *testing.T) {
	upgrading := func(b *Base, gd *gamedata.Bundle) { must(t, b, gd, t0, UpgradeBuilding, `{"building_id":"b4"}`) }
	building := func(b *Base, gd *gamedata.Bundle) { must(t, b, gd, t0, Build, `{"type":"barracks","x":8,"y":8}`) }
	run(t, CancelUpgrade, []tc{
		{name: "upgrade refunded by half", setup: upgrading, after: 30 * time.Second, args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CancelUpgradeResult{Refund: Amounts{{"elixir", 150}}})
			wantRes(t, b, "elixir", 850)
			if bl := bld(t, b, "b4"); bl.Level != 1 || bl.Done != 0 || bl.Since != ms(30*time.Second) {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "construction removed", setup: building, args: `{"building_id":"b6"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CancelUpgradeResult{Refund: Amounts{{"elixir", 100}}, Removed: true})
			if b.find("b6") >= 0 {
				t.Fatal("b6 still there")
			}
		}},
		{name: "refund capped by storage", setup: setups(upgrading, setRes("elixir", 1950)), args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CancelUpgradeResult{Refund: Amounts{{"elixir", 50}}})
			wantRes(t, b, "elixir", 2000)
		}},
		{name: "idle", args: `{"building_id":"b4"}`, code: CodeNotUpgrading},
		{name: "finished meanwhile", setup: upgrading, after: time.Minute, args: `{"building_id":"b4"}`, code: CodeNotUpgrading},
		{name: "unknown id", args: `{"building_id":"b0"}`, code: CodeNotFound},
		{name: "missing id", args: `null`, code: CodeBadArgs},
	})
}

func TestSpeedUp(t *testing.T) {
	upgradingTH := func(b *Base, gd *gamedata.Bundle) {
		b.Buildings[0].Level = 3
		b.Res["gold"] = 25000
		add(b, "gold_storage", 5, 34, 8)
		add(b, "gold_storage", 5, 34, 12)
		must(t, b, gd, t0, UpgradeBuilding, `{"building_id":"b1"}`) // 3 h
	}
	training := func(b *Base, gd *gamedata.Bundle) {
		army(1)(b, gd)
		must(t, b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"militia","count":10}`) // 200 s
	}
	run(t, SpeedUp, []tc{
		{name: "upgrade", setup: upgradingTH, after: time.Hour, args: `{"building_id":"b1"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, SpeedUpResult{Spent: 31}) // 2 h: 20 + ⌈3600×240/82800⌉
			wantRes(t, b, "gems", 219)
			if bl := bld(t, b, "b1"); bl.Level != 4 || bl.Done != 0 {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "training by default when idle", setup: training, after: 20 * time.Second, args: `{"building_id":"b6"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, SpeedUpResult{Spent: 2}) // 180 s left: 1 + ⌈120×19/3540⌉
			if b.Army["militia"] != 10 || len(bld(t, b, "b6").Queue) != 0 {
				t.Fatalf("army %v, queue %v", b.Army, bld(t, b, "b6").Queue)
			}
		}},
		{name: "training explicitly", setup: training, args: `{"building_id":"b6","kind":"training"}`},
		{name: "upgrade when only training runs", setup: training, args: `{"building_id":"b6","kind":"upgrade"}`, code: CodeNothingToSpeedUp},
		{name: "idle", args: `{"building_id":"b4"}`, code: CodeNothingToSpeedUp},
		{name: "cannot pay", setup: setups(upgradingTH, setRes("gems", 30)), after: time.Hour, args: `{"building_id":"b1"}`, code: CodeNotEnoughResources},
		{name: "bad kind", setup: training, args: `{"building_id":"b6","kind":"later"}`, code: CodeBadArgs},
		{name: "unknown id", args: `{"building_id":"b66"}`, code: CodeNotFound},
		{name: "missing id", args: `{}`, code: CodeBadArgs},
	})
}

func TestCollect(t *testing.T) {
	run(t, Collect, []tc{
		{name: "an hour of production", after: time.Hour, args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 200}}})
			wantRes(t, b, "gold", 1200)
			if bl := bld(t, b, "b4"); bl.Stored != 0 || bl.Since != ms(time.Hour) {
				t.Fatalf("got %+v", bl)
			}
		}},
		{name: "capped by harvester", setup: setRes("gold", 0), after: 100 * time.Hour, args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 1000}}})
		}},
		{name: "capped by storage, rest stays", setup: setRes("gold", 1900), after: 2 * time.Hour, args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 100}}})
			if bl := bld(t, b, "b4"); bl.Stored != 300 {
				t.Fatalf("stored: got %d, want 300", bl.Stored)
			}
		}},
		{name: "all harvesters", after: 90 * time.Minute, args: `{}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 300}, {"elixir", 300}}})
		}},
		{name: "boosted", setup: func(b *Base, gd *gamedata.Bundle) { must(t, b, gd, t0, BuyItem, `{"item":"gold_boost"}`) },
			after: time.Hour, args: `{"building_id":"b4"}`, check: func(t *testing.T, b *Base, res any) {
				wantResult(t, res, CollectResult{Collected: Amounts{{"gold", 400}}})
			}},
		{name: "storage full", setup: setRes("gold", 2000), after: time.Hour, args: `{"building_id":"b4"}`, code: CodeStorageFull},
		{name: "nothing yet", args: `{"building_id":"b4"}`, code: CodeNothingToCollect},
		{name: "nothing anywhere", after: time.Second, args: `{}`, code: CodeNothingToCollect},
		{name: "upgrading harvester produces nothing", setup: busyBuilders, after: time.Minute, args: `{"building_id":"b4"}`, code: CodeNothingToCollect},
		{name: "not a harvester", args: `{"building_id":"b1"}`, code: CodeWrongBuilding},
		{name: "unknown id", args: `{"building_id":"b9"}`, code: CodeNotFound},
	})
}

func TestTrainUnits(t *testing.T) {
	run(t, TrainUnits, []tc{
		{name: "queues", setup: army(1), args: `{"building_id":"b6","unit":"militia","count":5}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, TrainResult{Done: ms(100 * time.Second)})
			wantRes(t, b, "elixir", 875)
			CatchUp(b, bundle(t), at(45*time.Second))
			if b.Army["militia"] != 2 || bld(t, b, "b6").Queue[0].N != 3 {
				t.Fatalf("after 45 s: army %v, queue %v", b.Army, bld(t, b, "b6").Queue)
			}
		}},
		{name: "count defaults to one", setup: army(1), args: `{"building_id":"b6","unit":"militia"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, TrainResult{Done: ms(20 * time.Second)})
		}},
		{name: "same unit merges", setup: setups(army(2), func(b *Base, gd *gamedata.Bundle) {
			must(t, b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"militia","count":2}`)
		}), args: `{"building_id":"b6","unit":"militia","count":3}`, check: func(t *testing.T, b *Base, _ any) {
			if q := bld(t, b, "b6").Queue; !reflect.DeepEqual(q, []Training{{"militia", 5}}) {
				t.Fatalf("queue %v", q)
			}
		}},
		{name: "missing unit", setup: army(1), args: `{"building_id":"b6"}`, code: CodeBadArgs},
		{name: "count zero", setup: army(1), args: `{"building_id":"b6","unit":"militia","count":0}`, code: CodeBadArgs},
		{name: "count above max_train", setup: army(1), args: `{"building_id":"b6","unit":"militia","count":101}`, code: CodeBadArgs},
		{name: "unknown unit", setup: army(1), args: `{"building_id":"b6","unit":"dragon"}`, code: CodeNotFound},
		{name: "unknown building", setup: army(1), args: `{"building_id":"b60","unit":"militia"}`, code: CodeNotFound},
		{name: "not a trainer", setup: army(1), args: `{"building_id":"b1","unit":"militia"}`, code: CodeWrongBuilding},
		{name: "trained elsewhere", setup: army(1), args: `{"building_id":"b6","unit":"ram"}`, code: CodeWrongBuilding},
		{name: "trainer level too low", setup: army(1), args: `{"building_id":"b6","unit":"archer"}`, code: CodeRequirementNotMet},
		{name: "under construction", setup: army(0), args: `{"building_id":"b6","unit":"militia"}`, code: CodeRequirementNotMet},
		{name: "queue full", setup: army(1), args: `{"building_id":"b6","unit":"militia","count":21}`, code: CodeQueueFull},
		{name: "housing full", setup: setups(army(1), func(b *Base, _ *gamedata.Bundle) { b.Army = map[string]int{"militia": 16} }),
			args: `{"building_id":"b6","unit":"militia","count":5}`, code: CodeHousingFull},
		{name: "cannot pay", setup: setups(army(1), setRes("elixir", 124)), args: `{"building_id":"b6","unit":"militia","count":5}`, code: CodeNotEnoughResources},
	})
}

func TestCancelTraining(t *testing.T) {
	queue := func(b *Base, gd *gamedata.Bundle) {
		army(2)(b, gd)
		must(t, b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"militia","count":3}`)
		must(t, b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"archer","count":2}`)
		must(t, b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"militia","count":2}`)
	} // elixir 1000 - 75 - 100 - 50 = 775
	run(t, CancelTraining, []tc{
		{name: "latest first", setup: queue, args: `{"building_id":"b6","unit":"militia","count":3}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CancelTrainingResult{Cancelled: 3, Refund: Amounts{{"elixir", 75}}})
			wantRes(t, b, "elixir", 850)
			if bl := bld(t, b, "b6"); !reflect.DeepEqual(bl.Queue, []Training{{"militia", 2}, {"archer", 2}}) || bl.QAt != ms(0) {
				t.Fatalf("queue %v at %d", bl.Queue, bl.QAt)
			}
		}},
		{name: "head run gone restarts the next", setup: queue, after: 10 * time.Second, args: `{"building_id":"b6","unit":"militia"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CancelTrainingResult{Cancelled: 5, Refund: Amounts{{"elixir", 125}}})
			if bl := bld(t, b, "b6"); !reflect.DeepEqual(bl.Queue, []Training{{"archer", 2}}) || bl.QAt != ms(10*time.Second) {
				t.Fatalf("queue %v at %d", bl.Queue, bl.QAt)
			}
		}},
		{name: "middle run gone merges neighbours", setup: queue, args: `{"building_id":"b6","unit":"archer"}`, check: func(t *testing.T, b *Base, _ any) {
			if q := bld(t, b, "b6").Queue; !reflect.DeepEqual(q, []Training{{"militia", 5}}) {
				t.Fatalf("queue %v", q)
			}
		}},
		{name: "more than queued", setup: queue, args: `{"building_id":"b6","unit":"archer","count":50}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, CancelTrainingResult{Cancelled: 2, Refund: Amounts{{"elixir", 100}}})
		}},
		{name: "not queued", setup: queue, args: `{"building_id":"b6","unit":"raider"}`, code: CodeNotInQueue},
		{name: "already trained", setup: queue, after: time.Hour, args: `{"building_id":"b6","unit":"militia"}`, code: CodeNotInQueue},
		{name: "count zero", setup: queue, args: `{"building_id":"b6","unit":"militia","count":0}`, code: CodeBadArgs},
		{name: "missing unit", setup: queue, args: `{"building_id":"b6"}`, code: CodeBadArgs},
		{name: "unknown building", setup: queue, args: `{"building_id":"b66","unit":"militia"}`, code: CodeNotFound},
	})
}

func TestBuyItem(t *testing.T) {
	run(t, BuyItem, []tc{
		{name: "resources", setup: goldStorage, args: `{"item":"gold_small"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, BuyResult{Spent: 20, Gained: Amounts{{"gold", 2500}}})
			wantRes(t, b, "gold", 3500)
			wantRes(t, b, "gems", 230)
		}},
		{name: "would not fit", args: `{"item":"gold_small"}`, code: CodeStorageFull},
		{name: "boost", args: `{"item":"elixir_boost"}`, check: func(t *testing.T, b *Base, res any) {
			wantResult(t, res, BuyResult{Spent: 50, Until: ms(24 * time.Hour)})
		}},
		{name: "boost extends", setup: func(b *Base, gd *gamedata.Bundle) { must(t, b, gd, t0, BuyItem, `{"item":"gold_boost"}`) },
			after: time.Hour, args: `{"item":"gold_boost"}`, check: func(t *testing.T, b *Base, res any) {
				wantResult(t, res, BuyResult{Spent: 50, Until: ms(48 * time.Hour)})
				if len(b.Boosts) != 1 || bld(t, b, "b4").Stored != 400 {
					t.Fatalf("boosts %v, mine %+v", b.Boosts, bld(t, b, "b4"))
				}
			}},
		{name: "builder potion", setup: func(b *Base, gd *gamedata.Bundle) {
			must(t, b, gd, t0, UpgradeBuilding, `{"building_id":"b4"}`) // 1 min
			b.Buildings[0].Done = ms(2 * time.Hour)                     // town hall, by hand
		}, args: `{"item":"builder_potion"}`, check: func(t *testing.T, b *Base, _ any) {
			if bl := bld(t, b, "b4"); bl.Level != 2 || bl.Since != ms(0) {
				t.Fatalf("mine %+v", bl)
			}
			if bl := bld(t, b, "b1"); bl.Done != ms(time.Hour) {
				t.Fatalf("town hall %+v", bl)
			}
		}},
		{name: "training potion", setup: func(b *Base, gd *gamedata.Bundle) {
			army(1)(b, gd)
			must(t, b, gd, t0, TrainUnits, `{"building_id":"b6","unit":"militia","count":20}`)
		}, args: `{"item":"training_potion"}`, check: func(t *testing.T, b *Base, _ any) {
			if b.Army["militia"] != 20 || len(bld(t, b, "b6").Queue) != 0 {
				t.Fatalf("army %v", b.Army)
			}
		}},
		{name: "potion with nothing running", args: `{"item":"builder_potion"}`, code: CodeNothingToSpeedUp},
		{name: "town hall too low", args: `{"item":"gold_large"}`, code: CodeRequirementNotMet},
		{name: "cannot pay", setup: setups(goldStorage, setRes("gems", 19)), args: `{"item":"gold_small"}`, code: CodeNotEnoughResources},
		{name: "unknown item", args: `{"item":"gold_huge"}`, code: CodeNotFound},
		{name: "missing item", args: `{}`, code: CodeBadArgs},
	})
}

func TestNewPlayerScript(t *testing.T) {
	gd := bundle(t)
	for _, pace := range []time.Duration{0, 300 * time.Millisecond} {
		b := New(gd, t0)
		now := t0
		for i, s := range fixture.NewPlayerScript() {
			now = now.Add(pace)
			_, code := apply(t, &b, gd, now, s.Name, string(s.Args))
			if code != s.Code {
				t.Fatalf("pace %v step %d %s %s: got %q, want %q", pace, i, s.Name, s.Args, code, s.Code)
			}
			checkInvariants(t, &b, gd)
		}
		if b.Res["gems"] >= 250 {
			t.Fatal("no gems spent")
		}
	}
}
