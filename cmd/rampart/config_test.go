package main

import (
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The README's configuration table lists every flag with its variable.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg serveConfig
	cfg.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		row := "| `--" + f.Name + "` | `" + envName(f.Name) + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README configuration table has no row starting %s", row)
		}
	})
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		addr    string
		wantErr bool
	}{
		{"default", nil, nil, "127.0.0.1:8080", false},
		{"from env", nil, map[string]string{"RAMPART_ADDR": "127.0.0.1:9"}, "127.0.0.1:9", false},
		{"flag wins", []string{"--addr", "127.0.0.1:7"}, map[string]string{"RAMPART_ADDR": "127.0.0.1:9"}, "127.0.0.1:7", false},
		{"bad env value", nil, map[string]string{"RAMPART_AUTOSAVE": "soon"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var cfg serveConfig
			cfg.flags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := applyEnv(fs, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && cfg.Addr != tt.addr {
				t.Fatalf("addr = %q, want %q", cfg.Addr, tt.addr)
			}
		})
	}
}

func TestJournalPace(t *testing.T) {
	tests := []struct {
		flag, want time.Duration
	}{
		{2 * time.Millisecond, 2 * time.Millisecond}, // the default
		{5 * time.Millisecond, 5 * time.Millisecond},
		{0, -1}, // no pacing
		{-time.Second, -1},
	}
	for _, tt := range tests {
		if got := journalPace(tt.flag); got != tt.want {
			t.Errorf("journalPace(%v) = %v, want %v", tt.flag, got, tt.want)
		}
	}
}

// TestREADMEListsEveryPackage: the README's project structure table has a
// row for every package of the module (a subpackage may share its
// parent's row when the row names it).
func TestREADMEListsEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		dir := strings.TrimPrefix(strings.TrimPrefix(pkg, "rampart"), "/")
		if dir == "" {
			continue
		}
		row := "| `" + dir + "` |"
		parent := "| `" + dir[:max(strings.LastIndexByte(dir, '/'), 0)] + "` |"
		leaf := "`" + dir[strings.LastIndexByte(dir, '/')+1:] + "`"
		if !strings.Contains(string(readme), row) && !(strings.Contains(string(readme), parent) && strings.Contains(string(readme), leaf)) {
			t.Errorf("README's project structure has no row for %s", dir)
		}
	}
}

func TestMinProcs(t *testing.T) {
	tests := []struct {
		env       string
		cur, want int
	}{
		{"", 1, 2},  // one CPU: a second P for the fdatasync
		{"", 2, 2},  // enough already
		{"", 8, 8},  // never lowered
		{"1", 1, 1}, // the operator said so
	}
	for _, tt := range tests {
		if got := minProcs(tt.env, tt.cur); got != tt.want {
			t.Errorf("minProcs(%q, %d) = %d, want %d", tt.env, tt.cur, got, tt.want)
		}
	}
}

// TestURIWriteConcern: the analytics insert states the write concern the
// --mongo-uri asks for, and none when it asks for none.
func TestURIWriteConcern(t *testing.T) {
	tests := []struct {
		uri  string
		want any // W; nil: no write concern
	}{
		{"", nil},
		{"off", nil},
		{"mongodb://127.0.0.1:27017/", nil},
		{"mongodb://127.0.0.1:27017/?w=majority", "majority"},
		{"mongodb://127.0.0.1:27017/?w=2", 2},
	}
	for _, tt := range tests {
		wc := uriWriteConcern(tt.uri)
		if (wc == nil) != (tt.want == nil) || (wc != nil && wc.W != tt.want) {
			t.Errorf("uriWriteConcern(%q) = %+v, want W %v", tt.uri, wc, tt.want)
		}
	}
}
