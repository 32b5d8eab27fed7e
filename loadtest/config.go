package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is one load test. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Target is the server's base URL.
	Target string
	// AllowRemote permits a target that is not a loopback address.
	AllowRemote bool
	// Players is how many simulated players take part.
	Players int
	// IDPrefix starts every player id; ids are <prefix>-<seed>-<n>.
	IDPrefix string
	// DeviceSalt makes this run's device ids (the players' credentials:
	// <id>-<salt>); empty, Run draws a random one, so every run signs up
	// new accounts.
	DeviceSalt string
	// RampUp spreads the players' first logins evenly over this long.
	RampUp time.Duration
	// Duration is the run from the first login until players log out;
	// ramp-up is part of it. The logout and ledger check come after.
	Duration time.Duration
	// APM is actions per player per minute; think times are drawn around
	// 60s/APM.
	APM float64
	// Batch is the most actions one request carries (each request carries
	// 1..Batch, uniformly).
	Batch int
	// Session is a player's mean session length; when it ends the player
	// logs out, stays away a while and logs in again, and the ledger is
	// checked on that login. Zero keeps one session for the whole run.
	Session time.Duration
	// Transport is "http" (players share Conns keep-alive connections) or
	// "ws" (every online player owns a WebSocket).
	Transport string
	// Conns is the number of workers: over HTTP each owns one keep-alive
	// connection; over WebSocket it bounds the exchanges in flight.
	Conns int
	// Client is the HTTP client: "raw" (the cheap built-in one, http://
	// only) or "std" (net/http).
	Client string
	// Mix names the action profile (see Profiles).
	Mix string
	// Seed makes the players' choices and think times repeatable.
	Seed uint64
	// Timeout bounds one exchange.
	Timeout time.Duration
	// Drain bounds logout and the ledger check once the run ends or is
	// interrupted; past it, the remaining exchanges are aborted.
	Drain time.Duration
	// Verify runs the ledger check after the final logout.
	Verify bool
	// FinalLogout logs every player out when the run ends. Off (with
	// Verify off) players simply stop, as when a benchmark's server is
	// thrown away afterwards.
	FinalLogout bool

	// ServerStats reads the server's own figures (GET /debug/latency,
	// loopback only): the latency table is reset when the measurement
	// window opens and read when playing ends.
	ServerStats bool
	// MeasureAfter opens the measurement window this long after the
	// first login (0: at the first login), so ramp-up stays out of it.
	MeasureAfter time.Duration
	// ServerPID is the server's process id on this machine: its CPU time
	// and RSS are read from /proc (0: not read).
	ServerPID int
	// ServerMem reads the server's heap and goroutines (forcing a GC on
	// it) before the first login and at both ends of the window.
	ServerMem bool
	// Slice is the length of one slice of an A/B mix.
	Slice time.Duration
	// TargetB is the second server of the target-vs-b mix; ServerPIDB its
	// process id.
	TargetB    string
	ServerPIDB int
	// PlayersPerConn is how many players each worker of an A/B mix plays
	// in rotation, over its connection: the server budgets each player
	// (--rate-limit, default 20 requests/s), so a closed loop with one
	// player per worker measures that budget, not the server. Zero picks
	// enough for abPlayers players in all (see playersPerConn).
	PlayersPerConn int
}

// Hard bounds: a load test is a bounded experiment, not a daemon.
const (
	maxPlayers  = 1_000_000
	maxDuration = 4 * time.Hour
	maxConns    = 20_000
	maxAPM      = 60_000
	maxBatch    = 100

	// abPlayers is the default number of players of an A/B run: at the
	// fastest this server has been measured (about 75,000 single-action
	// WebSocket messages/s on one core) each of them sends under 10/s,
	// half the default per-player budget.
	abPlayers = 8192
)

// playersPerConn is PlayersPerConn, or when it is 0 enough players per
// worker that the A/B run has about abPlayers.
func (c *Config) playersPerConn() int {
	if c.PlayersPerConn > 0 || c.Conns < 1 {
		return c.PlayersPerConn
	}
	return (abPlayers + c.Conns - 1) / c.Conns
}

// playerID is the id of player n of the run: <prefix>-<seed>-<n>.
func (c *Config) playerID(n int) string {
	return c.IDPrefix + "-" + strconv.FormatUint(c.Seed, 10) + "-" + strconv.Itoa(n)
}

// DefaultConfig is a small, short run against a local server.
func DefaultConfig() Config {
	return Config{
		Target:    "http://127.0.0.1:8080",
		Players:   100,
		IDPrefix:  "lt",
		RampUp:    5 * time.Second,
		Duration:  30 * time.Second,
		APM:       30,
		Batch:     1,
		Transport: "http",
		Conns:     32,
		Client:    "raw",
		Mix:       "standard",
		Seed:      1,
		Timeout:   10 * time.Second,
		Drain:     60 * time.Second,
		Verify:    true,

		FinalLogout: true,
		Slice:       time.Second,
	}
}

// Run is `rampart loadtest`: it parses args, runs the test with a progress
// line per second on stderr, and writes the report to stdout (JSON with
// --json). It returns an error when the run could not be done or the ledger
// check found a mismatch.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "server base URL")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", cfg.AllowRemote, "allow a target that is not a loopback address")
	fs.IntVar(&cfg.Players, "players", cfg.Players, "simulated players")
	fs.StringVar(&cfg.IDPrefix, "id-prefix", cfg.IDPrefix, "player id prefix; ids are <prefix>-<seed>-<n>")
	fs.StringVar(&cfg.DeviceSalt, "device-salt", cfg.DeviceSalt, "salt of the players' device ids (<id>-<salt>); empty draws a random one, so a run signs up new accounts; give the same one to sign the same accounts in again")
	fs.DurationVar(&cfg.RampUp, "ramp-up", cfg.RampUp, "spread first logins over this long")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "run length including ramp-up; logout and ledger check follow")
	fs.Float64Var(&cfg.APM, "apm", cfg.APM, "actions per player per minute")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "most actions per request (1..batch each)")
	fs.DurationVar(&cfg.Session, "session", cfg.Session, "mean session length; players log out and back in (0: one session)")
	fs.StringVar(&cfg.Transport, "transport", cfg.Transport, "http or ws")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "workers: HTTP keep-alive connections, or WebSocket exchanges in flight")
	fs.StringVar(&cfg.Client, "client", cfg.Client, "HTTP client: raw (built-in, cheap) or std (net/http)")
	fs.StringVar(&cfg.Mix, "mix", cfg.Mix, "action profile: "+strings.Join(profileNames(), ", "))
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of one exchange")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "time allowed for logout and the ledger check")
	fs.BoolVar(&cfg.Verify, "verify", cfg.Verify, "check every player's ledger after logout")
	fs.BoolVar(&cfg.FinalLogout, "logout", cfg.FinalLogout, "log every player out when the run ends (false needs --verify=false)")
	fs.BoolVar(&cfg.ServerStats, "server-stats", cfg.ServerStats, "read the server's latency table and load from /debug/latency (reset when the window opens)")
	fs.DurationVar(&cfg.MeasureAfter, "measure-after", cfg.MeasureAfter, "open the measurement window this long after the first login (implies --server-stats)")
	fs.IntVar(&cfg.ServerPID, "server-pid", cfg.ServerPID, "server process id: read its CPU time and RSS from /proc (implies --server-stats)")
	fs.BoolVar(&cfg.ServerMem, "server-mem", cfg.ServerMem, "read the server's heap and goroutines before the run and in the window (forces GCs; implies --server-stats)")
	fs.DurationVar(&cfg.Slice, "slice", cfg.Slice, "A/B mixes: length of one slice")
	fs.StringVar(&cfg.TargetB, "target-b", cfg.TargetB, "target-vs-b mix: the second server's base URL")
	fs.IntVar(&cfg.ServerPIDB, "server-pid-b", cfg.ServerPIDB, "target-vs-b mix: the second server's process id")
	fs.IntVar(&cfg.PlayersPerConn, "players-per-conn", cfg.PlayersPerConn, "A/B mixes: players each worker plays in rotation, so that none exceeds the server's per-player --rate-limit (0: 8192 players in all, ceil(8192/conns) each)")
	asJSON := fs.Bool("json", false, "write the final report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("loadtest: unexpected arguments %q", fs.Args())
	}

	if cfg.MeasureAfter > 0 || cfg.ServerPID > 0 || cfg.ServerMem {
		cfg.ServerStats = true
	}
	if isAB(cfg.Mix) {
		rep, err := ExecuteAB(ctx, cfg, stderr)
		if rep != nil {
			err = writeReport(stdout, rep, *asJSON, err)
		}
		return err
	}
	rep, err := Execute(ctx, cfg, stderr)
	if rep != nil {
		err = writeReport(stdout, rep, *asJSON, err)
	}
	if err != nil {
		return err
	}
	if n := rep.Ledger.Mismatches; n > 0 {
		return fmt.Errorf("loadtest: ledger check failed for %d players", n)
	}
	if cfg.Verify && rep.Ledger.Checked == 0 {
		return errors.New("loadtest: no player could be checked (none logged in?)")
	}
	return nil
}

// report is a run's final report, a Report or an ABReport: text for
// people, or its fields as JSON.
type report interface {
	WriteText(io.Writer)
}

// writeReport writes rep to w as one indented JSON document or as text,
// and returns runErr, the run's own error, or else the write's.
func writeReport(w io.Writer, rep report, asJSON bool, runErr error) error {
	if !asJSON {
		rep.WriteText(w)
		return runErr
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil && runErr == nil {
		return err
	}
	return runErr
}

// validate checks cfg and returns the parsed target.
func (c *Config) validate(ctx context.Context, fileLimit uint64) (*url.URL, error) {
	u, err := url.Parse(c.Target)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", c.Target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("target %q: scheme must be http or https", c.Target)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("target %q: no host", c.Target)
	}
	if !c.AllowRemote {
		if err := requireLoopback(ctx, u.Hostname()); err != nil {
			return nil, err
		}
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Players < 1 || c.Players > maxPlayers {
		bad("players %d: want 1..%d", c.Players, maxPlayers)
	}
	if c.Duration <= 0 || c.Duration > maxDuration {
		bad("duration %v: want above 0 and at most %v", c.Duration, maxDuration)
	}
	if c.RampUp < 0 || c.RampUp >= c.Duration {
		bad("ramp-up %v: want 0 or more and below the duration %v", c.RampUp, c.Duration)
	}
	if !(c.APM > 0 && c.APM <= maxAPM) {
		bad("apm %v: want above 0 and at most %d", c.APM, maxAPM)
	}
	if c.Batch < 1 || c.Batch > maxBatch {
		bad("batch %d: want 1..%d", c.Batch, maxBatch)
	}
	if c.Session < 0 {
		bad("session %v: want 0 or more", c.Session)
	}
	if c.Conns < 1 || c.Conns > maxConns {
		bad("conns %d: want 1..%d", c.Conns, maxConns)
	}
	if c.Timeout <= 0 || c.Drain <= 0 {
		bad("timeout and drain must be positive")
	}
	if c.IDPrefix == "" || len(c.IDPrefix) > 32 || !validIDChars(c.IDPrefix) {
		bad("id-prefix %q: want 1..32 characters of [A-Za-z0-9_-]", c.IDPrefix)
	}
	if len(c.DeviceSalt) > 64 || !validIDChars(c.DeviceSalt) && c.DeviceSalt != "" {
		bad("device-salt %q: want at most 64 characters of [A-Za-z0-9_-]", c.DeviceSalt)
	}
	if _, ok := profile(c.Mix); !ok && !isAB(c.Mix) {
		bad("mix %q: want one of %s", c.Mix, strings.Join(profileNames(), ", "))
	}
	if !c.FinalLogout && c.Verify {
		bad("--logout=false needs --verify=false: the ledger check logs players in again after their logout")
	}
	if c.MeasureAfter < 0 || c.MeasureAfter >= c.Duration {
		bad("measure-after %v: want 0 or more and below the duration %v", c.MeasureAfter, c.Duration)
	}
	if c.ServerPID < 0 {
		bad("server-pid %d: want a process id", c.ServerPID)
	}
	if isAB(c.Mix) && c.Slice < 100*time.Millisecond {
		bad("slice %v: want at least 100ms", c.Slice)
	}
	if isAB(c.Mix) && (c.PlayersPerConn < 0 || c.Conns >= 1 && c.playersPerConn() > maxPlayers/c.Conns) {
		bad("players-per-conn %d: want 0 or more, and at most %d players in all (conns × players-per-conn)", c.PlayersPerConn, maxPlayers)
	}
	if (c.Mix == "target-vs-b") != (c.TargetB != "") {
		bad("--target-b goes with --mix target-vs-b, and that mix needs it")
	}
	switch c.Client {
	case "raw":
		if u.Scheme == "https" {
			bad("client raw speaks http:// only; use --client std for https")
		}
	case "std":
	default:
		bad("client %q: want raw or std", c.Client)
	}
	// Every connection is a file; keep headroom for the runtime and logs.
	files := uint64(c.Conns) + 64
	switch c.Mix {
	case "http-vs-ws": // a socket per player
		files += uint64(c.Conns) * uint64(max(c.playersPerConn(), 0))
	case "target-vs-b":
		files += uint64(c.Conns)
	}
	switch c.Transport {
	case "http":
	case "ws":
		files += uint64(c.Players)
		if isAB(c.Mix) {
			bad("A/B mix %s chooses its own transports; leave --transport at http", c.Mix)
		}
	default:
		bad("transport %q: want http or ws", c.Transport)
	}
	if fileLimit > 0 && files > fileLimit && isAB(c.Mix) {
		bad("mix %s with %d conns and %d players per conn needs about %d open files; the limit is %d",
			c.Mix, c.Conns, c.playersPerConn(), files, fileLimit)
	} else if fileLimit > 0 && files > fileLimit {
		bad("%s transport with %d players and %d conns needs about %d open files; the limit is %d",
			c.Transport, c.Players, c.Conns, files, fileLimit)
	}
	return u, errors.Join(errs...)
}

func validIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// requireLoopback refuses a host that is not, or does not resolve only to,
// loopback addresses.
func requireLoopback(ctx context.Context, host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s is not a loopback address; pass --allow-remote to load a remote server", host)
		}
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve target %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s resolves to %s, not loopback; pass --allow-remote to load a remote server", host, ip)
		}
	}
	return nil
}
