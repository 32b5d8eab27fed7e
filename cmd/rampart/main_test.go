package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rampart/gamedata"
	"rampart/internal/testenv"
)

func TestMain(m *testing.M) {
	// Re-executed as the real binary by tests that send it signals.
	if os.Getenv("RAMPART_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server is one run() of `rampart serve` on a loopback port.
type server struct {
	URL    string
	cancel context.CancelFunc
	done   chan error
}

// startServer runs serve with the embedded stores in dataDir.
func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{cancel: cancel, done: make(chan error, 1)}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "error"}, extra...)
	go func() {
		err := run(ctx, args, func(string) string { return "" }, pw, io.Discard)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		s.done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	go io.Copy(io.Discard, pr)
	s.URL = strings.TrimSpace(strings.TrimPrefix(line, "rampart listening on "))
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop shuts the server down as SIGTERM does and checks it exits cleanly.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil {
		t.Errorf("serve returned %v, want nil after a clean shutdown", err)
	}
}

// call sends a JSON request and decodes the JSON answer into out.
func call(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, url, data, err)
		}
	}
	return resp.StatusCode
}

type loginReply struct {
	Session         string `json:"session"`
	Refresh         string `json:"refresh"`
	PlayerID        string `json:"player_id"`
	Created         bool   `json:"created"`
	GamedataVersion string `json:"gamedata_version"`
	Player          struct {
		ID      string `json:"id"`
		LastSeq int64  `json:"last_seq"`
	} `json:"player"`
}

type actionsReply struct {
	Results []struct {
		Seq       int64 `json:"seq"`
		OK        bool  `json:"ok"`
		Duplicate bool  `json:"duplicate"`
		Error     *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"results"`
	GamedataVersion string `json:"gamedata_version"`
}

type errorReply struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// deviceID is the device credential a test's player name stands for.
func deviceID(name string) string { return "test-device-" + name + "-0123456789" }

// loginAs signs name's device in, making the account the first time.
func loginAs(t *testing.T, base, name string) loginReply {
	t.Helper()
	var lr loginReply
	if code := call(t, "POST", base+"/api/v1/auth/device", "", `{"device_id":"`+deviceID(name)+`","create":true}`, &lr); code != 200 {
		t.Fatalf("sign in %s: status %d", name, code)
	}
	return lr
}

// untilClosed calls step(0), step(1), … back to back until stop is
// closed (checked before each step) or step returns false: the loop of a
// test's load goroutine.
func untilClosed(stop <-chan struct{}, step func(n int) bool) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if !step(n) {
			return
		}
	}
}

func pings(seqs ...int64) string {
	var b strings.Builder
	b.WriteString(`{"actions":[`)
	for i, s := range seqs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"seq":%d,"name":"ping","args":{}}`, s)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestLifecycleAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)

	lr := loginAs(t, s.URL, "alice")
	if !lr.Created || lr.PlayerID == "" || lr.Player.ID != lr.PlayerID || lr.Player.LastSeq != 0 || lr.GamedataVersion == "" || lr.Refresh == "" {
		t.Fatalf("new player sign-in = %+v", lr)
	}
	alice := lr.PlayerID
	var ar actionsReply
	if code := call(t, "POST", s.URL+"/api/v1/actions", lr.Session, pings(1, 2), &ar); code != 200 {
		t.Fatalf("actions: status %d", code)
	}
	if len(ar.Results) != 2 || !ar.Results[0].OK || !ar.Results[1].OK || ar.Results[1].Duplicate {
		t.Fatalf("first pings = %+v", ar.Results)
	}
	ar = actionsReply{}
	call(t, "POST", s.URL+"/api/v1/actions", lr.Session, pings(2), &ar)
	if len(ar.Results) != 1 || !ar.Results[0].Duplicate || !ar.Results[0].OK {
		t.Fatalf("resent seq 2 = %+v, want ok duplicate", ar.Results)
	}
	if code := call(t, "POST", s.URL+"/api/v1/logout", lr.Session, "", nil); code != 200 {
		t.Fatalf("logout: status %d", code)
	}
	if code := call(t, "GET", s.URL+"/api/v1/player", lr.Session, "", nil); code != 401 {
		t.Fatalf("player after logout: status %d, want 401", code)
	}
	s.stop(t)

	s = startServer(t, dir)
	lr = loginAs(t, s.URL, "alice")
	if lr.Player.LastSeq != 2 || lr.Created || lr.PlayerID != alice {
		t.Fatalf("after restart: %+v, want %s with last_seq 2, not created", lr, alice)
	}
	ar = actionsReply{}
	call(t, "POST", s.URL+"/api/v1/actions", lr.Session, pings(2, 3), &ar)
	if !ar.Results[0].Duplicate || ar.Results[1].Duplicate || !ar.Results[1].OK {
		t.Fatalf("after restart: %+v, want seq 2 duplicate and seq 3 applied", ar.Results)
	}
}

func TestErrorStatuses(t *testing.T) {
	s := startServer(t, t.TempDir())
	good := loginAs(t, s.URL, "bob").Session
	replaced := good
	good = loginAs(t, s.URL, "bob").Session // the second login replaces the first
	forged := good[:len(good)-4] + "AAAA"
	big := `{"device_id":"` + strings.Repeat("x", 70<<10) + `"}`

	tests := []struct {
		name         string
		method, path string
		token, body  string
		status       int
		code         string
	}{
		{"sign-in not json", "POST", "/api/v1/auth/device", "", `nope`, 400, "bad_request"},
		{"sign-in wrong type", "POST", "/api/v1/auth/device", "", `{"device_id":7}`, 400, "bad_request"},
		{"sign-in bad device id", "POST", "/api/v1/auth/device", "", `{"device_id":"a b c d e f g h i j k"}`, 400, "bad_request"},
		{"sign-in missing device id", "POST", "/api/v1/auth/device", "", `{}`, 400, "bad_request"},
		{"sign-in too large", "POST", "/api/v1/auth/device", "", big, 413, "too_large"},
		{"sign-in unknown device", "POST", "/api/v1/auth/device", "", `{"device_id":"never-seen-0123456789"}`, 404, "not_found"},
		{"dev door closed", "POST", "/api/v1/login", "", `{"player_id":"alice"}`, 404, "not_found"},
		{"actions no session", "POST", "/api/v1/actions", "", pings(1), 401, "unauthorized"},
		{"actions forged session", "POST", "/api/v1/actions", forged, pings(1), 401, "unauthorized"},
		{"actions replaced session", "POST", "/api/v1/actions", replaced, pings(1), 401, "unauthorized"},
		{"actions malformed", "POST", "/api/v1/actions", good, `{"actions":[`, 400, "bad_request"},
		{"actions seq not a number", "POST", "/api/v1/actions", good, `{"actions":[{"seq":"1","name":"ping"}]}`, 400, "bad_request"},
		{"actions seq zero", "POST", "/api/v1/actions", good, `{"actions":[{"seq":0,"name":"ping"}]}`, 400, "bad_request"},
		{"actions empty", "POST", "/api/v1/actions", good, `{"actions":[]}`, 400, "bad_request"},
		{"player no session", "GET", "/api/v1/player", "", "", 401, "unauthorized"},
		{"logout forged", "POST", "/api/v1/logout", forged, "", 401, "unauthorized"},
		{"unknown route", "GET", "/api/v1/nope", "", "", 404, "not_found"},
		{"wrong method", "GET", "/api/v1/auth/device", "", "", 405, "method_not_allowed"},
		{"wrong method healthz", "DELETE", "/healthz", "", "", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var er errorReply
			status := call(t, tt.method, s.URL+tt.path, tt.token, tt.body, &er)
			if status != tt.status || er.Error.Code != tt.code || er.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s with a message", status, er, tt.status, tt.code)
			}
		})
	}
	// Nothing was lost by the bad requests: the good session still works.
	var ar actionsReply
	if code := call(t, "POST", s.URL+"/api/v1/actions", good, pings(1), &ar); code != 200 || !ar.Results[0].OK {
		t.Fatalf("good session after bad requests: %d %+v", code, ar)
	}
}

// TestConcurrentLoginsOverHTTP signs in one player 16 times at once and 16
// distinct players at once: every sign-in answers 200, each player is
// loaded from S3 once, exactly one of the shared player's 16 sessions is
// live (the others answer 401), every distinct player's session is live,
// and a later sign-in replaces the live one.
func TestConcurrentLoginsOverHTTP(t *testing.T) {
	s := startServer(t, t.TempDir())
	const n = 16
	type answer struct {
		code    int
		session string
		err     error
	}
	signIn := func(id string) answer {
		resp, err := http.Post(s.URL+"/api/v1/auth/device", "application/json", strings.NewReader(`{"device_id":"`+deviceID(id)+`","create":true}`))
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		var lr loginReply
		json.NewDecoder(resp.Body).Decode(&lr)
		return answer{code: resp.StatusCode, session: lr.Session}
	}
	same, distinct := make([]answer, n), make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { same[i] = signIn("carol") })
		wg.Go(func() { distinct[i] = signIn(fmt.Sprintf("dave%02d", i)) })
	}
	wg.Wait()
	for i := range n {
		for _, a := range []answer{same[i], distinct[i]} {
			if a.err != nil || a.code != 200 || a.session == "" {
				t.Errorf("sign-in %d: %d %v (session %q), want 200 with a session", i, a.code, a.err, a.session)
			}
		}
	}
	live := 0
	for i, a := range same {
		var e errorReply
		switch code := call(t, "GET", s.URL+"/api/v1/player", a.session, "", &e); {
		case code == 200:
			live++
		case code != 401 || e.Error.Code != "unauthorized":
			t.Errorf("carol's session %d: %d %q, want 200, or 401 unauthorized once replaced", i, code, e.Error.Code)
		}
	}
	if live != 1 {
		t.Errorf("carol's 16 concurrent sessions: %d live, want exactly 1 (each sign-in replaces the last)", live)
	}
	for i, a := range distinct {
		if code := call(t, "GET", s.URL+"/api/v1/player", a.session, "", nil); code != 200 {
			t.Errorf("dave%02d's only session: %d, want 200", i, code)
		}
	}
	// One more sign-in, after the others: it is the live one, all 16
	// before it answer 401, and carol is still not loaded again.
	if last := signIn("carol"); last.code != 200 || call(t, "GET", s.URL+"/api/v1/player", last.session, "", nil) != 200 {
		t.Errorf("carol's sign-in after the burst: %d %v, want 200 and a live session", last.code, last.err)
	}
	for i, a := range same {
		if code := call(t, "GET", s.URL+"/api/v1/player", a.session, "", nil); code != 401 {
			t.Errorf("carol's session %d after a later sign-in: %d, want 401", i, code)
		}
	}
	var stats struct {
		Store struct {
			Loads int64 `json:"loads"`
		} `json:"store"`
	}
	call(t, "GET", s.URL+"/debug/analytics", "", "", &stats)
	if stats.Store.Loads != n+1 {
		t.Errorf("loads from S3: %d, want %d (carol once, each other player once)", stats.Store.Loads, n+1)
	}
}

// process is the test binary re-executed as the real server, so tests can
// send it signals and give it its own GOMAXPROCS.
type process struct {
	Base    string // http://127.0.0.1:port
	Cmd     *exec.Cmd
	Stderr  *syncBuffer
	Exited  chan struct{} // closed when it has exited
	ExitErr error         // set before Exited closes
}

// startProcess runs `rampart serve args...` as a child with extra
// environment, waits until it listens, and kills it when the test ends.
func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(append(os.Environ(), "RAMPART_TEST_MAIN=1"), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{Cmd: cmd, Stderr: &syncBuffer{}, Exited: make(chan struct{})}
	cmd.Stderr = p.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.ExitErr = cmd.Wait(); close(p.Exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.Exited
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("binary did not start: %v\n%s", err, p.Stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	p.Base = strings.TrimSpace(strings.TrimPrefix(line, "rampart listening on "))
	return p
}

// syncBuffer is testenv's child-output buffer.
type syncBuffer = testenv.SyncBuffer

// TestSIGTERMSavesEveryone runs the real binary, puts players online with
// unsaved progress, sends SIGTERM and checks the exit and the saves.
func TestSIGTERMSavesEveryone(t *testing.T) {
	dir := t.TempDir()
	proc := startProcess(t, nil, "--data-dir", dir, "--autosave", "1h")
	base := proc.Base
	players := []string{"p1", "p2", "p3", "p4", "p5"}
	for i, id := range players {
		lr := loginAs(t, base, id)
		if code := call(t, "POST", base+"/api/v1/actions", lr.Session, pings(int64(10+i)), nil); code != 200 {
			t.Fatalf("actions for %s: %d", id, code)
		}
	}
	if err := proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proc.Exited:
		if proc.ExitErr != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", proc.ExitErr, proc.Stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60s after SIGTERM\n%s", proc.Stderr.String())
	}

	s := startServer(t, dir)
	for i, id := range players {
		if got := loginAs(t, s.URL, id).Player.LastSeq; got != int64(10+i) {
			t.Errorf("%s last_seq after SIGTERM = %d, want %d", id, got, 10+i)
		}
	}
}

func TestSecondProcessOnDataDirFailsClearly(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir)
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second serve on the same data dir: got %v, want a clear lock error", err)
	}
}

func TestEnvironmentConfig(t *testing.T) {
	addr := testenv.FreeAddr(t)
	dir := t.TempDir()
	env := map[string]string{"RAMPART_ADDR": addr, "RAMPART_DATA_DIR": dir, "RAMPART_MONGO_URI": "off", "RAMPART_LOG_LEVEL": "error"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, pw, io.Discard)
		pw.Close()
	}()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "rampart listening on http://" + addr; strings.TrimSpace(line) != want {
		t.Fatalf("got %q, want %q", line, want)
	}
	if _, err := os.Stat(dir + "/session.key"); err != nil {
		t.Fatalf("session secret not kept in the data dir: %v", err)
	}
}

func TestDebugLatencyAfterTraffic(t *testing.T) {
	s := startServer(t, t.TempDir())
	lr := loginAs(t, s.URL, "lat")
	call(t, "POST", s.URL+"/api/v1/actions", lr.Session, pings(1, 2, 3), nil)
	call(t, "GET", s.URL+"/api/v1/player", lr.Session, "", nil)
	call(t, "POST", s.URL+"/api/v1/logout", lr.Session, "", nil)
	// Signed in again: a returning player is read from S3 (a sign-up
	// writes its new player without reading it).
	loginAs(t, s.URL, "lat")

	var table struct {
		Sort string `json:"sort"`
		Rows []struct {
			Name  string  `json:"name"`
			Calls int64   `json:"calls"`
			MaxMs float64 `json:"max_ms"`
		} `json:"rows"`
	}
	if code := call(t, "GET", s.URL+"/debug/latency?format=json", "", "", &table); code != 200 {
		t.Fatalf("/debug/latency: %d", code)
	}
	calls := map[string]int64{}
	for i, r := range table.Rows {
		calls[r.Name] = r.Calls
		if i > 0 && r.MaxMs > table.Rows[i-1].MaxMs {
			t.Errorf("rows not sorted by max: %s (%.3f) after %s (%.3f)", r.Name, r.MaxMs, table.Rows[i-1].Name, table.Rows[i-1].MaxMs)
		}
	}
	for name, want := range map[string]int64{
		"POST /api/v1/auth/device": 2, "POST /api/v1/actions": 1, "GET /api/v1/player": 1, "POST /api/v1/logout": 1,
		"action:ping": 3, "login:load": 1, "login:lease": 2, "save:put": 1,
	} {
		if calls[name] < want {
			t.Errorf("row %q has %d calls, want at least %d", name, calls[name], want)
		}
	}
	if calls["s3:get"] < 1 || calls["s3:put"] < 2 {
		t.Errorf("S3 rows: get %d put %d, want the bookkeeper's tries timed", calls["s3:get"], calls["s3:put"])
	}
	for _, r := range table.Rows {
		if strings.Contains(r.Name, "lat") || strings.Contains(r.Name, "/debug/latency?") {
			t.Errorf("row %q is keyed by a raw path or player", r.Name)
		}
	}
}

func TestGamedataReload(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/bundle.json"
	orig, err := os.ReadFile("../../gamedata/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "--gamedata-file", file)
	lr := loginAs(t, s.URL, "tuner")
	v1 := lr.GamedataVersion

	// A designer changes a number and rebuilds.
	src := copyDir(t, "../../gamedata/src", dir+"/src")
	game, _ := os.ReadFile(src + "/game.json")
	tuned := strings.Replace(string(game), `"gold": 1000`, `"gold": 1200`, 1)
	if tuned == string(game) {
		t.Fatal("test fixture: no initial gold to tune in game.json")
	}
	os.WriteFile(src+"/game.json", []byte(tuned), 0o644)
	if _, _, err := gamedata.WriteBundle(src, file); err != nil {
		t.Fatal(err)
	}
	var rr struct {
		Version string `json:"gamedata_version"`
	}
	if code := call(t, "POST", s.URL+"/debug/gamedata/reload", "", "", &rr); code != 200 || rr.Version == v1 || rr.Version == "" {
		t.Fatalf("reload: %d version %q, want 200 and a version other than %s", code, rr.Version, v1)
	}
	var ar actionsReply
	call(t, "POST", s.URL+"/api/v1/actions", lr.Session, pings(1), &ar)
	if ar.GamedataVersion != rr.Version {
		t.Fatalf("reply carries %s, want the reloaded %s", ar.GamedataVersion, rr.Version)
	}

	// A broken file is refused and the running bundle stays.
	os.WriteFile(file, []byte(`{"version":"x"}`), 0o644)
	var er errorReply
	if code := call(t, "POST", s.URL+"/debug/gamedata/reload", "", "", &er); code != 400 || er.Error.Message == "" {
		t.Fatalf("reload of a broken file: %d %+v, want 400 with a message", code, er)
	}
	call(t, "POST", s.URL+"/api/v1/actions", lr.Session, pings(2), &ar)
	if ar.GamedataVersion != rr.Version {
		t.Fatalf("after a refused reload the version is %s, want %s", ar.GamedataVersion, rr.Version)
	}
}

func copyDir(t *testing.T, from, to string) string {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	return to
}
