package metrics

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// deployDir holds the Prometheus files, from this package's directory.
var deployDir = filepath.Join("..", "deploy", "prometheus")

// promtool returns promtool's path. Like the browser tests, it fails when
// RAMPART_PROMTOOL_TESTS=1 (make test) and promtool is missing, and skips
// otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("RAMPART_PROMTOOL_TESTS") == "1" {
			t.Fatalf("RAMPART_PROMTOOL_TESTS=1 but promtool is missing (%v): install it with `apt-get install -y prometheus` (make test-deps)", err)
		}
		t.Skip("promtool not found; set RAMPART_PROMTOOL_TESTS=1 to make this a failure")
	}
	return path
}

func TestPromtool(t *testing.T) {
	bin := promtool(t)
	f := newFixture(t)
	scrape := f.get(t, "/metrics")
	tests := []struct {
		name  string
		args  []string
		stdin []byte
		want  string // in the output
	}{
		{"check rules", []string{"check", "rules", filepath.Join(deployDir, "rules.yml")}, nil, "SUCCESS: 7 rules found"},
		{"check config", []string{"check", "config", filepath.Join(deployDir, "prometheus.yml")}, nil, "is valid prometheus config file"},
		{"test rules", []string{"test", "rules", filepath.Join(deployDir, "rules_test.yml")}, nil, "SUCCESS"},
		// A scrape after real recorded traffic: the linter checks names,
		// help, units and histogram shape of every family.
		{"check metrics", []string{"check", "metrics"}, scrape, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			if tc.stdin != nil {
				cmd.Stdin = bytes.NewReader(tc.stdin)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("promtool %s said %q, want %q in it", strings.Join(tc.args, " "), out, tc.want)
			}
		})
	}
}
