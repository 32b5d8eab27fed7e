package gamedata

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHolderReload(t *testing.T) {
	dir := t.TempDir()
	embedded, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	// A designer's change: the same sources with more initial gold.
	src := filepath.Join(dir, "src")
	if err := os.CopyFS(src, os.DirFS("src")); err != nil {
		t.Fatal(err)
	}
	game, _ := os.ReadFile(filepath.Join(src, "game.json"))
	tunedGame := strings.Replace(string(game), `"gold": 1000`, `"gold": 1200`, 1)
	if tunedGame == string(game) {
		t.Fatal("test fixture: no initial gold to tune in src/game.json")
	}
	os.WriteFile(filepath.Join(src, "game.json"), []byte(tunedGame), 0o644)
	tuned := filepath.Join(dir, "tuned.json")
	tunedVersion, _, err := WriteBundle(src, tuned)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		version string // current after the reload
		err     string // in the error; "" for success
	}{
		{"the same bundle", file("same.json", embedded.Raw()), embedded.Version, ""},
		{"a new version", tuned, tunedVersion, ""},
		{"a broken file", file("broken.json", []byte(`{"version":"x"}`)), embedded.Version, "broken.json"},
		{"a hand-edited bundle", file("edited.json", bytes.Replace(embedded.Raw(), []byte(`"gold"`), []byte(`"gold "`), 1)), embedded.Version, "edited.json"},
		{"no such file", filepath.Join(dir, "missing.json"), embedded.Version, "no such file"},
		{"no file configured", "", embedded.Version, "embedded bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHolder(embedded)
			var logged bytes.Buffer
			old, cur, err := h.Reload(tt.path, slog.New(slog.NewJSONHandler(&logged, nil)))
			if got := h.Current().Version; got != tt.version {
				t.Fatalf("current version %s, want %s", got, tt.version)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || old != nil || cur != nil || h.Current() != embedded {
					t.Fatalf("got %v (old %v, cur %v), want an error naming %q and the bundle kept", err, old, cur, tt.err)
				}
				if logged.Len() != 0 {
					t.Fatalf("a refused reload logged %s", logged.Bytes())
				}
				if tt.name == "no such file" && !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("got %v, want fs.ErrNotExist", err)
				}
				return
			}
			if err != nil || old != embedded || cur != h.Current() || cur == embedded {
				t.Fatalf("got %v, old %p cur %p, want the embedded bundle replaced by a new one", err, old, cur)
			}
			var line struct{ Msg, File, Version, Previous string }
			if err := json.Unmarshal(logged.Bytes(), &line); err != nil ||
				line != (struct{ Msg, File, Version, Previous string }{"game data reloaded", tt.path, tt.version, embedded.Version}) {
				t.Fatalf("logged %s (%v), want the file and both versions", logged.Bytes(), err)
			}
		})
	}
}
