package gamedata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Source layout under the source directory (see src/README.md):
//
//	game.json          grid, rules, initial state
//	resources.json     [resource, ...]
//	buildings/<id>.json one building type per file, named after its id
//	units.json         [unit, ...]
//	store.json         [item, ...]
//	*.md               documentation, ignored
const (
	srcGame      = "game.json"
	srcResources = "resources.json"
	srcBuildings = "buildings"
	srcUnits     = "units.json"
	srcStore     = "store.json"
)

// gameSource is the shape of game.json.
type gameSource struct {
	Grid    Grid    `json:"grid"`
	Rules   Rules   `json:"rules"`
	Initial Initial `json:"initial"`
}

// Build reads the source files under srcDir, validates them and returns the
// compiled bundle (the bytes of bundle.json). When the sources are invalid
// the error is Problems, listing every problem with its file and field.
func Build(srcDir string) ([]byte, error) { return BuildFS(os.DirFS(srcDir)) }

// BuildFS is Build over any file system (tests use fstest.MapFS).
func BuildFS(fsys fs.FS) ([]byte, error) {
	b, ps := load(fsys)
	if len(ps) == 0 {
		ps = validate(b)
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return compile(b)
}

// Compile validates game data assembled in code (tests, tools) and returns
// it compiled, as Build would. Its Version is ignored and recomputed.
func Compile(b *Bundle) ([]byte, error) {
	b.locate("bundle.json")
	if ps := validate(b); len(ps) > 0 {
		return nil, ps
	}
	return compile(b)
}

func compile(b *Bundle) ([]byte, error) {
	b.Version = ""
	v, err := contentVersion(b)
	if err != nil {
		return nil, err
	}
	b.Version = v
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode game data: %w", err)
	}
	out = append(out, '\n')
	// Whatever Build writes, Parse must accept: prove it now rather than
	// at the next server start.
	if _, err := parse(out, "compiled bundle"); err != nil {
		return nil, fmt.Errorf("compiled bundle does not parse back: %w", err)
	}
	return out, nil
}

// WriteBundle builds srcDir and writes the result to out, atomically and
// only when it differs from what out holds. It returns the bundle version
// and whether the file changed. This is `rampart gamedata build`.
func WriteBundle(srcDir, out string) (version string, changed bool, err error) {
	data, err := Build(srcDir)
	if err != nil {
		return "", false, err
	}
	b, err := Parse(data)
	if err != nil {
		return "", false, err
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, data) {
		return b.Version, false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".bundle-*.json")
	if err != nil {
		return "", false, fmt.Errorf("write game data bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write game data bundle: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("write game data bundle: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", false, fmt.Errorf("write game data bundle: %w", err)
	}
	return b.Version, true, nil
}

// ErrStale is returned by Check when the compiled bundle does not match
// its sources.
var ErrStale = errors.New("compiled game data is stale: run `make gamedata`")

// Check builds srcDir and compares the result with the compiled bundle at
// out: nil when they match, ErrStale (wrapped) when they differ, Problems
// when the sources are invalid. This is `rampart gamedata check`.
func Check(srcDir, out string) error {
	data, err := Build(srcDir)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStale, err)
	}
	if !bytes.Equal(old, data) {
		return fmt.Errorf("%w: %s differs from the build of %s", ErrStale, out, srcDir)
	}
	return nil
}

// load reads and decodes every source file, recording where each entity
// came from. Decoding problems in one file do not stop the others.
func load(fsys fs.FS) (*Bundle, Problems) {
	var ps Problems
	b := &Bundle{files: files{game: srcGame, resources: srcResources, buildings: srcBuildings + "/"}}

	read := func(name string, v any) bool {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			ps = append(ps, Problem{File: name, Message: "cannot read: " + err.Error()})
			return false
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			ps = append(ps, decodeProblem(name, data, err))
			return false
		}
		if dec.More() {
			ps = append(ps, Problem{File: name, Message: "extra data after the JSON value"})
			return false
		}
		return true
	}

	var g gameSource
	if read(srcGame, &g) {
		b.Grid, b.Rules, b.Initial = g.Grid, g.Rules, g.Initial
	}
	if read(srcResources, &b.Resources) {
		for i := range b.Resources {
			b.Resources[i].src, b.Resources[i].at = srcResources, idPath(b.Resources[i].ID, i)
		}
	}
	if read(srcUnits, &b.Units) {
		for i := range b.Units {
			b.Units[i].src, b.Units[i].at = srcUnits, idPath(b.Units[i].ID, i)
		}
	}
	if read(srcStore, &b.Store) {
		for i := range b.Store {
			b.Store[i].src, b.Store[i].at = srcStore, idPath(b.Store[i].ID, i)
		}
	}

	entries, err := fs.ReadDir(fsys, srcBuildings)
	if err != nil {
		ps = append(ps, Problem{File: srcBuildings + "/", Message: "cannot read: " + err.Error()})
	}
	for _, e := range entries {
		name := path.Join(srcBuildings, e.Name())
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			ps = append(ps, Problem{File: name, Message: "unexpected file: building types are buildings/<id>.json"})
			continue
		}
		var t BuildingType
		if !read(name, &t) {
			continue
		}
		if want := strings.TrimSuffix(e.Name(), ".json"); t.ID != want {
			ps = append(ps, Problem{File: name, Field: "id", Message: fmt.Sprintf("%q does not match the file name (want %q)", t.ID, want)})
		}
		t.src = name
		b.Buildings = append(b.Buildings, t)
	}
	// Town hall first, then by id: a stable order for the compiled bundle.
	slices.SortStableFunc(b.Buildings, func(x, y BuildingType) int {
		if (x.Kind == KindTownHall) != (y.Kind == KindTownHall) {
			if x.Kind == KindTownHall {
				return -1
			}
			return 1
		}
		return strings.Compare(x.ID, y.ID)
	})

	top, err := fs.ReadDir(fsys, ".")
	if err != nil {
		ps = append(ps, Problem{File: ".", Message: "cannot read: " + err.Error()})
	}
	for _, e := range top {
		switch n := e.Name(); {
		case n == srcGame, n == srcResources, n == srcUnits, n == srcStore, n == srcBuildings,
			strings.HasSuffix(n, ".md"), strings.HasPrefix(n, "."):
		default:
			ps = append(ps, Problem{File: n, Message: "unexpected file in the game data sources"})
		}
	}
	return b, ps
}

// idPath is the field prefix for an element of a list file: its id, or its
// index while it has none.
func idPath(id string, i int) string {
	if id == "" {
		return fmt.Sprintf("[%d].", i)
	}
	return id + "."
}
