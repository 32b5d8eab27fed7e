package gamedata

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// srcFS copies src/ into memory so cases can break it.
func srcFS(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS("src"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile("src/" + p)
		m[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// edit decodes file as generic JSON, lets f change it and stores it back.
func edit(t *testing.T, m fstest.MapFS, file string, f func(v any)) {
	t.Helper()
	var v any
	if err := json.Unmarshal(m[file].Data, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	f(v)
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	m[file] = &fstest.MapFile{Data: data}
}

// at walks a generic JSON value: string keys index objects, ints arrays;
// a string key on an array finds the element whose "id" is that key.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if arr, ok := v.([]any); ok {
				for _, e := range arr {
					if e.(map[string]any)["id"] == k {
						v = e
					}
				}
				continue
			}
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func obj(v any, path ...any) map[string]any { return at(v, path...).(map[string]any) }

func TestBuildReportsProblems(t *testing.T) {
	type want struct{ file, field, msg string }
	cases := []struct {
		name   string
		break_ func(t *testing.T, m fstest.MapFS)
		want   []want
	}{
		{"unknown prerequisite", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/workshop.json", func(v any) {
				obj(v, "levels", 0, "requires", 0)["building"] = "stables"
			})
		}, []want{{"buildings/workshop.json", "levels[0].requires[0].building", `unknown building type "stables"`}}},
		{"prerequisite level out of range", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/workshop.json", func(v any) { obj(v, "levels", 0, "requires", 0)["level"] = 99 })
		}, []want{{"buildings/workshop.json", "levels[0].requires[0].level", "has no level 99"}}},
		{"unknown unit trainer", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "units.json", func(v any) { obj(v, "archer")["trained_at"] = "stables" })
		}, []want{{"units.json", "archer.trained_at", `unknown building type "stables"`}}},
		{"unit needs a trainer level that does not exist", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "units.json", func(v any) { obj(v, "drake")["level"] = 9 })
		}, []want{{"units.json", "drake.level", "barracks has no level 9"}}},
		{"missing level", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) {
				l := obj(v)["levels"].([]any)
				obj(v)["levels"] = append(l[:3:3], l[4:]...)
			})
		}, []want{{"buildings/cannon.json", "levels[3].level", "is 5, want 4"}}},
		{"non-contiguous level", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 2)["level"] = 7 })
		}, []want{{"buildings/cannon.json", "levels[2].level", "is 7, want 3"}}},
		{"negative cost", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/gold_mine.json", func(v any) { obj(v, "levels", 1, "cost")["elixir"] = -5 })
		}, []want{{"buildings/gold_mine.json", "levels[1].cost.elixir", "negative amount -5"}}},
		{"unknown resource in a cost", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/gold_mine.json", func(v any) { obj(v, "levels", 1)["cost"] = map[string]any{"mithril": 5} })
		}, []want{{"buildings/gold_mine.json", "levels[1].cost.mithril", `unknown resource "mithril"`}}},
		{"cost shrinks", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 4, "cost")["gold"] = 10 })
		}, []want{{"buildings/cannon.json", "levels[4].cost.gold", "costs must grow"}}},
		{"time shrinks", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 4)["time_s"] = 5 })
		}, []want{{"buildings/cannon.json", "levels[4].time_s", "times must grow"}}},
		{"negative time", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 0)["time_s"] = -1 })
		}, []want{{"buildings/cannon.json", "levels[0].time_s", "outside 0.."}}},
		{"capacity shrinks", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/gold_storage.json", func(v any) { obj(v, "levels", 5, "storage")["gold"] = 10 })
		}, []want{{"buildings/gold_storage.json", "levels[5].storage.gold", "must not shrink"}}},
		{"storage below upgrade cost", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/town_hall.json", func(v any) { obj(v, "levels", 4, "cost")["gold"] = 5_000_000 })
		}, []want{{"buildings/town_hall.json", "levels[4].cost.gold", "at town hall level 4 a player can store at most 115000 gold"}}},
		{"storage level below its own upgrade cost", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/gold_storage.json", func(v any) {
				for _, l := range obj(v)["levels"].([]any) {
					l.(map[string]any)["storage"] = map[string]any{"gold": 1}
				}
			})
		}, []want{{"buildings/cannon.json", "levels[4].cost.gold", "can store at most"}}},
		{"unit costs more than can be stored", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "units.json", func(v any) { obj(v, "militia", "cost")["elixir"] = 1_000_000 })
		}, []want{{"units.json", "militia.cost.elixir", "at town hall level 1 a player can store at most 5000 elixir"}}},
		{"building never allowed", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/mortar.json", func(v any) { obj(v)["max_count"] = []any{0, 0, 0, 0, 0, 0, 0, 0} })
		}, []want{{"buildings/mortar.json", "max_count", "unreachable"}}},
		{"level needs a town hall that does not exist", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 9)["th"] = 9 })
		}, []want{{"buildings/cannon.json", "levels[9].th", "town hall level 9 does not exist"}}},
		{"store item never fits", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "store.json", func(v any) { obj(v, "gold_large", "gives")["gold"] = 900_000_000 })
		}, []want{{"store.json", "gold_large.gives.gold", "never fits"}}},
		{"trainer trains nothing", func(t *testing.T, m fstest.MapFS) {
			var units, keep []any
			json.Unmarshal(m["units.json"].Data, &units)
			for _, u := range units {
				if u.(map[string]any)["trained_at"] != "workshop" {
					keep = append(keep, u)
				}
			}
			data, _ := json.Marshal(keep)
			m["units.json"] = &fstest.MapFile{Data: data}
		}, []want{{"buildings/workshop.json", "kind", "trains no unit"}}},
		{"prerequisite cycle", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/town_hall.json", func(v any) {
				obj(v, "levels", 4)["requires"] = []any{map[string]any{"building": "barracks", "level": 6}}
			})
		}, []want{{"", "", "prerequisite cycle"}, {"", "", "barracks level 6 → town_hall level 5"}}},
		{"two problems in two files", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "units.json", func(v any) { obj(v, "mage")["housing"] = 0 })
			edit(t, m, "store.json", func(v any) { obj(v, "gold_boost")["factor"] = 1 })
		}, []want{{"units.json", "mage.housing", "outside 1..1000"}, {"store.json", "gold_boost.factor", "outside 2..10"}}},
		{"syntax error", func(t *testing.T, m fstest.MapFS) {
			m["units.json"] = &fstest.MapFile{Data: []byte("[\n  {\"id\": \"a\",,}\n]")}
		}, []want{{"units.json", "line 2:", "invalid JSON"}}},
		{"unknown field", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 0)["dsp"] = 3 })
		}, []want{{"buildings/cannon.json", "", `unknown field "dsp"`}}},
		{"wrong type", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "buildings/cannon.json", func(v any) { obj(v, "levels", 0)["hp"] = "lots" })
		}, []want{{"buildings/cannon.json", "levels.hp", "got JSON string, want int"}}},
		{"id does not match file name", func(t *testing.T, m fstest.MapFS) {
			m["buildings/cannon2.json"] = m["buildings/cannon.json"]
		}, []want{{"buildings/cannon2.json", "id", "does not match the file name"}}},
		{"unexpected file", func(t *testing.T, m fstest.MapFS) {
			m["extra.yaml"] = &fstest.MapFile{Data: []byte("x")}
		}, []want{{"extra.yaml", "", "unexpected file"}}},
		{"duplicate id", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "units.json", func(v any) { obj(v, "archer")["id"] = "militia" })
		}, []want{{"units.json", "militia.id", `duplicate unit "militia"`}}},
		{"initial building overlaps", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "game.json", func(v any) {
				obj(v, "initial", "buildings", 1)["x"] = 21.0
				obj(v, "initial", "buildings", 1)["y"] = 21.0
			})
		}, []want{{"game.json", "initial.buildings[1]", "overlaps initial.buildings[0]"}}},
		{"initial resources above capacity", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "game.json", func(v any) { obj(v, "initial", "resources")["gold"] = 1e6 })
		}, []want{{"game.json", "initial.resources.gold", "above the initial storage capacity 2000"}}},
		{"no premium currency", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "resources.json", func(v any) { obj(v, "gems")["kind"] = "harvested" })
		}, []want{{"resources.json", "", "no premium currency"}}},
		{"speed-up curve must grow", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "game.json", func(v any) { obj(v, "rules", "speed_up", 2)["s"] = 30.0 })
		}, []want{{"game.json", "rules.speed_up[2].s", "must grow"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := srcFS(t)
			tc.break_(t, m)
			_, err := BuildFS(m)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("BuildFS: got %v, want Problems", err)
			}
			for _, w := range tc.want {
				found := false
				for _, p := range ps {
					if strings.HasPrefix(p.File, w.file) && strings.Contains(p.Field, w.field) && strings.Contains(p.Message, w.msg) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q %q %q in:\n%v", w.file, w.field, w.msg, err)
				}
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Version) != 16 || !bytes.Equal(b.Raw(), embedded) {
		t.Fatalf("version %q, raw %d bytes", b.Version, len(b.Raw()))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b.Gzip()))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unz, b.Raw()) {
		t.Fatalf("Gzip does not decompress to Raw: %v", err)
	}
	// Content the issue asks for.
	if len(b.Resources) < 3 || len(b.Buildings) < 10 || len(b.Units) < 6 || len(b.Store) < 10 {
		t.Errorf("content too small: %d resources, %d buildings, %d units, %d items", len(b.Resources), len(b.Buildings), len(b.Units), len(b.Store))
	}
	for _, bt := range b.Buildings {
		if len(bt.Levels) < 5 {
			t.Errorf("%s has %d levels, want at least 5", bt.ID, len(bt.Levels))
		}
	}
	kinds := map[string]bool{}
	for _, bt := range b.Buildings {
		kinds[bt.Kind] = true
	}
	for _, k := range []string{KindTownHall, KindBuilderHut, KindHarvester, KindStorage, KindTrainer, KindArmyCamp, KindDefense} {
		if !kinds[k] {
			t.Errorf("no building of kind %s", k)
		}
	}
}

func TestParseRejectsTampering(t *testing.T) {
	cases := map[string]func([]byte) []byte{
		"content edited": func(d []byte) []byte {
			return bytes.Replace(d, []byte(`"name": "Cannon"`), []byte(`"name": "Kanon"`), 1)
		},
		"version edited": func(d []byte) []byte {
			var b Bundle
			json.Unmarshal(d, &b)
			return bytes.Replace(d, []byte(b.Version), []byte("0000000000000000"), 1)
		},
		"invalid content": func(d []byte) []byte {
			return bytes.Replace(d, []byte(`"w": 44`), []byte(`"w": 4`), 1)
		},
		"not JSON":      func(d []byte) []byte { return d[:100] },
		"unknown field": func(d []byte) []byte { return bytes.Replace(d, []byte(`"grid"`), []byte(`"grod": 1, "grid"`), 1) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(f(bytes.Clone(embedded))); err == nil {
				t.Fatal("Parse accepted a tampered bundle")
			}
		})
	}
	// Whitespace does not change the version: it hashes content.
	var v any
	json.Unmarshal(embedded, &v)
	compact, _ := json.Marshal(v)
	b, err := Parse(compact)
	if err != nil {
		t.Fatalf("Parse(compact): %v", err)
	}
	e, _ := Embedded()
	if b.Version != e.Version {
		t.Fatalf("compact version %s, want %s", b.Version, e.Version)
	}
}

func TestSpeedUpCost(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ms   int64
		want int64
	}{
		{0, 0}, {-5, 0}, {1, 1}, {30_000, 1}, {60_000, 1}, {61_000, 2}, {3_600_000, 20},
		{86_400_000, 260}, {604_800_000, 1000}, {2 * 604_800_000, 2000},
	}
	prev := int64(0)
	for _, c := range cases {
		if got := b.SpeedUpCost(c.ms); got != c.want {
			t.Errorf("SpeedUpCost(%d): got %d, want %d", c.ms, got, c.want)
		}
	}
	for ms := int64(0); ms < 30*86_400_000; ms += 7_777_777 {
		got := b.SpeedUpCost(ms)
		if got < prev {
			t.Fatalf("SpeedUpCost(%d) = %d below a shorter time's %d", ms, got, prev)
		}
		prev = got
	}
}

func TestHolder(t *testing.T) {
	a, _ := Embedded()
	b, _ := Embedded()
	h := NewHolder(a)
	if h.Current() != a {
		t.Fatal("Current is not the initial bundle")
	}
	if old := h.Swap(b); old != a || h.Current() != b {
		t.Fatal("Swap did not replace the bundle")
	}
}

func TestWriteBundle(t *testing.T) {
	out := t.TempDir() + "/bundle.json"
	v, changed, err := WriteBundle("src", out)
	if err != nil || !changed || v == "" {
		t.Fatalf("first write: %s %v %v", v, changed, err)
	}
	if _, changed, err := WriteBundle("src", out); err != nil || changed {
		t.Fatalf("second write: changed %v, err %v", changed, err)
	}
	if err := Check("src", out); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(out, []byte("{}"), 0o644)
	if err := Check("src", out); !errors.Is(err, ErrStale) {
		t.Fatalf("Check on a stale file: got %v, want ErrStale", err)
	}
}

func TestLookupTable(t *testing.T) {
	ids := []string{"a", "ab", "ba", "abc", "cba", "a_c", "town_hall", "town_hell", "x", "xx", "xxx", "xxxx"}
	for n := 1; n <= len(ids); n++ {
		tab := newTable[int](n)
		vals := make([]int, n)
		for i := range n {
			vals[i] = i
			tab.put(ids[i], &vals[i])
		}
		for i, id := range ids {
			got := tab.get(id)
			if i < n && (got == nil || *got != i) || i >= n && got != nil {
				t.Fatalf("n=%d get(%q) = %v", n, id, got)
			}
		}
		if tab.get("") != nil || tab.get("zzzz") != nil {
			t.Fatal("found what was not put")
		}
	}
	var empty table[int]
	if empty.get("a") != nil {
		t.Fatal("zero table found something")
	}
	b, _ := Embedded()
	for i := range b.Buildings {
		if b.Building(b.Buildings[i].ID) != &b.Buildings[i] {
			t.Fatalf("Building(%s)", b.Buildings[i].ID)
		}
	}
	for i := range b.Units {
		if b.Unit(b.Units[i].ID) != &b.Units[i] {
			t.Fatalf("Unit(%s)", b.Units[i].ID)
		}
	}
}
