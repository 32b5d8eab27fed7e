package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkReplayTool runs `rampart replay` on the dead server's journal: the
// player's history verifies up to at least acked; a checkpoint that does
// not match the journal is a divergence and fails. The journal a kill -9
// leaves is the realistic input, so TestKill9LosesNothingAcknowledged
// calls it.
func checkReplayTool(t *testing.T, dataDir, id string, acked int64) {
	t.Helper()
	jdir := filepath.Join(dataDir, "journal")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "--journal-dir", jdir, "--player", id}, os.Getenv, &out, &errOut); err != nil {
		t.Fatalf("rampart replay: %v\n%s", err, out.String())
	}
	var applied int64
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if _, err := fmt.Sscanf(last, "%d records applied and verified", &applied); err != nil || applied < acked {
		t.Fatalf("rampart replay: %q; want at least %d records verified", last, acked)
	}
	bad := filepath.Join(t.TempDir(), "checkpoint.json")
	os.WriteFile(bad, []byte(`{"schema":1,"id":"`+id+`","rev":0,"base":{"res":{"gold":1}}}`), 0o644)
	out.Reset()
	err := run(context.Background(), []string{"replay", "--journal-dir", jdir, "--player", id, "--checkpoint", bad}, os.Getenv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("replay from a checkpoint the journal does not continue: %v, want a divergence", err)
	}
}
