package gamedata

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite bundle.json from src/ (same as `make gamedata`)")

// TestBundleUpToDate fails when the committed bundle.json is not what
// Build("src") produces: someone edited src/ without running
// `make gamedata`, or edited bundle.json by hand. This is how `make test`
// catches drift.
func TestBundleUpToDate(t *testing.T) {
	got, err := Build("src")
	if err != nil {
		t.Fatalf("Build(src): %v", err)
	}
	if *update {
		if err := os.WriteFile("bundle.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile("bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, got) {
		t.Fatalf("gamedata/bundle.json is stale: run `make gamedata` (or go test ./gamedata -run TestBundleUpToDate -update) and commit it")
	}
	if !bytes.Equal(embedded, got) {
		t.Fatalf("embedded bundle differs from bundle.json (rebuild the test binary)")
	}
	if err := Check("src", "bundle.json"); err != nil {
		t.Fatalf("Check: %v", err)
	}
}
