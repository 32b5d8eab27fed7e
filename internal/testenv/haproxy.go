package testenv

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HaproxyPath is Debian's haproxy package (`make test-deps` installs it).
const HaproxyPath = "/usr/sbin/haproxy"

// HaproxyConfig is the committed production config, deploy/haproxy.cfg.
func HaproxyConfig() string { return filepath.Join(moduleRoot(), "deploy", "haproxy.cfg") }

// Haproxy is a haproxy process started by a test.
type Haproxy struct {
	// URL is the frontend, e.g. http://127.0.0.1:41234.
	URL string
	// StatsURL is the stats page (append ";csv" for the CSV form).
	StatsURL string
	log      SyncBuffer
}

// Log is what haproxy logged so far (its request log goes to stdout).
func (h *Haproxy) Log() string { return h.log.String() }

// HaproxyServer is one server's row on the stats page.
type HaproxyServer struct {
	Backend, Name string
	// Status is haproxy's: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2"
	// (coming up), "MAINT", "no check".
	Status string
	// Sessions is how many sessions (requests, with keep-alive reuse) it
	// was sent in all.
	Sessions int
	// Health is the check counter, from 0 to Rise+Fall-1: UP from Rise
	// on. haproxy starts a server at Rise (one failed check takes it
	// down); Rise+Fall-1 is fully healthy (Fall failed checks to go down).
	Health, Rise, Fall int
}

// Steady reports whether the server is UP with its check counter full.
func (s HaproxyServer) Steady() bool { return s.Status == "UP" && s.Health == s.Rise+s.Fall-1 }

// Servers reads the stats page: every backend server's row.
func (h *Haproxy) Servers(ctx context.Context) ([]HaproxyServer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.StatsURL+";csv", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("haproxy stats: %s", resp.Status)
	}
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("haproxy stats csv: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats csv: empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	var servers []HaproxyServer
	for _, row := range rows[1:] {
		field := func(name string) string {
			if i, ok := col[name]; ok && i < len(row) {
				return row[i]
			}
			return ""
		}
		if sv := field("svname"); sv == "FRONTEND" || sv == "BACKEND" || sv == "" {
			continue
		}
		num := func(name string) int {
			n, _ := strconv.Atoi(field(name))
			return n
		}
		servers = append(servers, HaproxyServer{Backend: field("pxname"), Name: field("svname"), Status: field("status"),
			Sessions: num("stot"), Health: num("check_health"), Rise: num("check_rise"), Fall: num("check_fall")})
	}
	return servers, nil
}

// StartHaproxy runs haproxy in the foreground with the config at cfgPath
// (HaproxyConfig() for the committed one) and env added to its environment:
// the backends' addresses, for deploy/haproxy.cfg RAMPART_NODE1..3. The
// frontend and the stats page listen on free loopback ports, passed as
// RAMPART_HAPROXY_BIND and RAMPART_HAPROXY_STATS (unless env names them).
// It returns once the frontend accepts connections, and stops haproxy when
// t ends. Without haproxy t is skipped, unless $RAMPART_REQUIRE_HAPROXY is
// set (as `make test` does): then it fails.
func StartHaproxy(t testing.TB, cfgPath string, env map[string]string) *Haproxy {
	t.Helper()
	requireHaproxy(t)
	vars := map[string]string{
		"RAMPART_HAPROXY_BIND":  FreeAddr(t),
		"RAMPART_HAPROXY_STATS": FreeAddr(t),
		"RAMPART_HAPROXY_LOG":   "stdout",
	}
	for k, v := range env {
		vars[k] = v
	}
	h := &Haproxy{URL: "http://" + vars["RAMPART_HAPROXY_BIND"], StatsURL: "http://" + vars["RAMPART_HAPROXY_STATS"] + "/haproxy"}
	// -db: stay in the foreground, no master process.
	cmd := exec.Command(HaproxyPath, "-db", "-f", cfgPath)
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = &h.log, &h.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Cleanup(func() { // once haproxy has stopped
		if t.Failed() {
			t.Logf("haproxy log (last 4 KiB):\n%s", tail(h.Log(), 4096))
		}
	})
	// SIGTERM is the hard stop: close everything now.
	exited := startProcess(t, "haproxy", cmd, syscall.SIGTERM, 10*time.Second)
	for _, addr := range []string{vars["RAMPART_HAPROXY_BIND"], vars["RAMPART_HAPROXY_STATS"]} {
		if err := WaitListening(addr, exited, 10*time.Second); err != nil {
			t.Fatalf("haproxy: %v\n%s", err, h.Log())
		}
	}
	return h
}

// CheckHaproxyConfig runs `haproxy -c` on cfgPath with env added to the
// environment and returns its output, or fails t if haproxy refuses it.
func CheckHaproxyConfig(t testing.TB, cfgPath string, env map[string]string) string {
	t.Helper()
	requireHaproxy(t)
	cmd := exec.Command(HaproxyPath, "-c", "-f", cfgPath)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", cfgPath, err, out)
	}
	return string(out)
}

func requireHaproxy(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(HaproxyPath); err != nil {
		if os.Getenv("RAMPART_REQUIRE_HAPROXY") != "" {
			t.Fatalf("RAMPART_REQUIRE_HAPROXY is set but %s is missing (%v): make test-deps installs it", HaproxyPath, err)
		}
		t.Skipf("%s not found (make test-deps installs it); set RAMPART_REQUIRE_HAPROXY=1 to make this a failure", HaproxyPath)
	}
}
