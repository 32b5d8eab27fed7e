package loadtest

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rampart/client"
	"rampart/gamedata"
)

// runner is one load test in progress.
type runner struct {
	cfg       Config
	salt      string // this run's device-id salt
	meanThink time.Duration
	mix       *mix
	client    *client.Client // shared by every player's session
	sched     *scheduler
	shards    []*shard
	players   []*player
	// sessions maps a live *client.Session to its *player, for the
	// socket readers' pushed events.
	sessions sync.Map

	gdMu sync.Mutex                  // guards gds
	gds  map[string]*gamedata.Bundle // by version: every bundle the server served this run
	gd0  *gamedata.Bundle            // the bundle at the start

	t0     time.Time
	stopAt time.Time // set before the workers start; read-only after
	// stoppedAt is when playing ended; owned by Execute.
	stoppedAt time.Time

	abort context.Context // canceled when the drain runs out of time

	stopFlag  atomic.Bool
	actions   atomic.Int64 // actions answered
	allOnline atomic.Int64 // ns after t0 when every player was first online; 0: not yet
	online    atomic.Int64
	peak      atomic.Int64
	remaining atomic.Int64
	allDone   chan struct{}

	eventsMu sync.Mutex
	events   map[string]int64 // pushed events by kind; guarded by eventsMu
	progress io.Writer
}

// Execute runs the test described by cfg, writing a progress line per
// second to progress (nil for none), and returns the report. A canceled
// ctx ends the run early: players log out and the ledger is checked within
// cfg.Drain. The report is returned even when err is not nil, if the run
// started.
func Execute(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	limit, _, _ := FileLimit()
	base, err := cfg.validate(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	kinds, _ := profile(cfg.Mix)
	if progress == nil {
		progress = io.Discard
	}
	if err := preflight(ctx, base, cfg.Timeout); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}

	abort, cancelAbort := context.WithCancel(context.Background())
	defer cancelAbort()

	r := &runner{
		cfg:       cfg,
		meanThink: time.Duration(float64(time.Minute) / cfg.APM),
		mix:       newMix(cfg.Mix, kinds),
		sched:     newScheduler(cfg.Players),
		abort:     abort,
		allDone:   make(chan struct{}),
		progress:  progress,
		gds:       map[string]*gamedata.Bundle{},
		events:    map[string]int64{},
	}
	r.client, err = r.newClient(cfg.Target, cfg.Transport)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	defer r.client.CloseIdleConnections()
	// Players predict every answer with the game data the server serves,
	// fetched as any client does.
	if r.gd0, err = r.fetchGamedata(ctx); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}

	nShards := min(cfg.Conns, 4*runtime.GOMAXPROCS(0))
	for range nShards {
		r.shards = append(r.shards, newShard())
	}

	var watch *serverWatch
	if cfg.ServerStats {
		watch = newServerWatch(base.Scheme+"://"+base.Host, cfg.ServerPID, cfg.ServerMem)
		if cfg.ServerMem || cfg.ServerPID > 0 {
			watch.rep.Before = watch.snapshot(ctx, 0, 0)
		}
	}

	r.t0 = time.Now()
	r.stopAt = r.t0.Add(cfg.Duration)
	if watch != nil && watch.rep.Before != nil {
		watch.rep.Before.AtS = -time.Since(r.t0).Seconds()
	}
	r.salt = cfg.DeviceSalt
	if r.salt == "" {
		r.salt = randomSalt()
	}
	r.players = make([]*player, cfg.Players)
	r.remaining.Store(int64(cfg.Players))
	for i := range r.players {
		p := &player{
			idx: i,
			id:  cfg.playerID(i),
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i))),
		}
		p.device = deviceID(p.id, r.salt)
		p.next = r.t0
		if cfg.Players > 1 {
			p.next = r.t0.Add(time.Duration(int64(cfg.RampUp) * int64(i) / int64(cfg.Players)))
		}
		r.players[i] = p
		r.sched.h = append(r.sched.h, p) // sorted by next already: a valid heap
	}

	schedCtx, stopSched := context.WithCancel(context.Background())
	var swg, wg sync.WaitGroup
	swg.Go(func() { r.sched.run(schedCtx) })
	workers := make([]*worker, cfg.Conns)
	var wwg sync.WaitGroup
	for i := range workers {
		w := &worker{r: r, st: r.shards[i%nShards]}
		workers[i] = w
		wwg.Go(w.run)
	}
	progDone := make(chan struct{})
	wg.Go(func() { r.progressLoop(progDone) })

	// The server is read when the measurement window opens, every 5 s
	// in it, and when playing ends.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchWG sync.WaitGroup
	var actionsAtStart int64
	if watch != nil {
		watchWG.Go(func() { actionsAtStart = r.watchWindow(watchCtx, watch) })
	}

	// Stop on time or on ctx, then give the drain its time.
	endTimer := time.NewTimer(cfg.Duration)
	interrupted := false
	select {
	case <-endTimer.C:
	case <-ctx.Done():
		interrupted = true
	case <-r.allDone:
	}
	endTimer.Stop()
	r.stoppedAt = time.Now()
	stopWatch()
	watchWG.Wait()
	if watch != nil && watch.rep.Start != nil {
		watch.rep.End = watch.snapshot(context.Background(), r.stoppedAt.Sub(r.t0).Seconds(), r.online.Load())
		watch.finish(context.Background(), r.actions.Load()-actionsAtStart)
	}
	r.stop()
	drainTimer := time.NewTimer(cfg.Drain)
	aborted := false
	select {
	case <-r.allDone:
	case <-drainTimer.C:
		aborted = true
		cancelAbort()
	}
	drainTimer.Stop()
	end := time.Now()

	// The workers finish their current exchange (aborted ones fail at once).
	stopSched()
	swg.Wait()
	close(r.sched.due)
	wwg.Wait()
	close(progDone)
	wg.Wait()

	rep := r.report(end, interrupted, aborted)
	if watch != nil {
		rep.Server = &watch.rep
	}
	rep.GameData = r.gd0.Version
	if t := r.allOnline.Load(); t > 0 {
		rep.AllOnlineS = time.Duration(t).Seconds()
	}
	if aborted {
		return rep, fmt.Errorf("loadtest: %d players did not finish logout and the ledger check within %v", r.remaining.Load(), cfg.Drain)
	}
	return rep, nil
}

// preflight fails fast when nothing listens at the target, rather than
// letting every player retry its login for the whole run.
func preflight(ctx context.Context, base *url.URL, timeout time.Duration) error {
	addr := base.Host
	if base.Port() == "" {
		addr = net.JoinHostPort(base.Hostname(), map[string]string{"http": "80", "https": "443"}[base.Scheme])
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot reach the target: %w", err)
	}
	return c.Close()
}

// newClient makes the client every player's session goes through: over
// HTTP the cheap raw pool (or net/http with --client std) with Conns idle
// connections, or a WebSocket per session; pushed events go to onEvent.
func (r *runner) newClient(target, transport string) (*client.Client, error) {
	cfg := r.cfg
	opts := []client.Option{client.WithRequestTimeout(cfg.Timeout), client.WithUserAgent("rampart-loadtest"),
		client.WithEventFunc(r.onEvent)}
	if cfg.Client == "raw" {
		opts = append(opts, client.WithRawHTTP(cfg.Conns))
	} else {
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{
			MaxIdleConns: cfg.Conns, MaxIdleConnsPerHost: cfg.Conns, IdleConnTimeout: 90 * time.Second}}))
	}
	if transport == "ws" {
		opts = append(opts, client.WithTransport(client.WebSocket))
	}
	return client.New(target, opts...)
}

// onEvent counts an event a socket reader got and flags its player when
// the event changed the base in a way the rules of this side cannot
// follow. It runs on the session's reader goroutine.
func (r *runner) onEvent(s *client.Session, ev client.Event) {
	r.eventsMu.Lock()
	r.events[ev.Kind]++
	r.eventsMu.Unlock()
	switch ev.Kind {
	case "raided", "async_result", "gamedata":
		if p, ok := r.sessions.Load(s); ok {
			p.(*player).pushed.Store(true)
		}
	}
}

// fetchGamedata fetches the server's current bundle and keeps it by
// version.
func (r *runner) fetchGamedata(ctx context.Context) (*gamedata.Bundle, error) {
	g, err := r.client.GameData(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch the game data: %w", err)
	}
	r.gdMu.Lock()
	defer r.gdMu.Unlock()
	if b := r.gds[g.Version]; b != nil {
		return b, nil
	}
	b, err := gamedata.Parse(g.Bundle)
	if err != nil {
		return nil, fmt.Errorf("game data %s: %w", g.Version, err)
	}
	r.gds[b.Version] = b
	return b, nil
}

// gamedata returns the bundle of version, fetching it if the server has
// swapped to it; the one at hand when it cannot be had.
func (r *runner) gamedata(ctx context.Context, version string) *gamedata.Bundle {
	r.gdMu.Lock()
	b := r.gds[version]
	r.gdMu.Unlock()
	if b != nil || version == "" {
		if b == nil {
			b = r.gd0
		}
		return b
	}
	if b, err := r.fetchGamedata(ctx); err == nil {
		return b
	}
	return r.gd0
}

// stopping reports whether the run is over and players should log out.
func (r *runner) stopping() bool { return r.stopFlag.Load() }

// over reports whether playing is over at now: the run was stopped, or
// its time is up (steps capped at stopAt arrive a hair before the timer).
func (r *runner) over(now time.Time) bool { return r.stopping() || !now.Before(r.stopAt) }

func (r *runner) stop() {
	r.stopFlag.Store(true)
	r.sched.stop()
}

// capNext keeps a step from being scheduled past the end of the run.
func (r *runner) capNext(t time.Time) time.Time {
	if t.After(r.stopAt) {
		return r.stopAt
	}
	return t
}

func (r *runner) finished() {
	if r.remaining.Add(-1) == 0 {
		close(r.allDone)
	}
}

// watchWindow opens the measurement window at MeasureAfter (resetting the
// server's latency table) and samples the server's load every 5 s until
// ctx ends. It returns the actions answered before the window opened.
func (r *runner) watchWindow(ctx context.Context, watch *serverWatch) int64 {
	if d := time.Until(r.t0.Add(r.cfg.MeasureAfter)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0
		}
	}
	watch.reset(ctx)
	at := r.actions.Load()
	watch.rep.Start = watch.snapshot(ctx, time.Since(r.t0).Seconds(), r.online.Load())
	if watch.mem {
		// The snapshot forced a GC: start the CPU count after it.
		if r.cfg.ServerPID > 0 {
			if c, err := procCPU(r.cfg.ServerPID); err == nil {
				watch.rep.Start.CPUS = c
			}
		}
		watch.reset(ctx)
		at = r.actions.Load()
		watch.rep.Start.AtS = time.Since(r.t0).Seconds()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return at
		case <-tick.C:
			watch.sampleLoad(ctx)
		}
	}
}

func (r *runner) changeOnline(d int64) {
	n := r.online.Add(d)
	if d > 0 && n == int64(r.cfg.Players) && r.allOnline.Load() == 0 {
		r.allOnline.CompareAndSwap(0, int64(max(time.Since(r.t0), 1)))
	}
	for {
		peak := r.peak.Load()
		if n <= peak || r.peak.CompareAndSwap(peak, n) {
			return
		}
	}
}

// progressLoop prints one line a second until done is closed.
func (r *runner) progressLoop(done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	h := newHist()
	last := time.Now()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			iv := takeInterval(r.shards, h)
			secs := now.Sub(last).Seconds()
			last = now
			phase := ""
			if r.stopping() {
				phase = fmt.Sprintf(" draining=%d", r.remaining.Load())
			}
			fmt.Fprintf(r.progress, "%5.0fs online=%d actions/s=%.0f p50=%s p99=%s errors=%d%s\n",
				now.Sub(r.t0).Seconds(), r.online.Load(), float64(iv.actions)/secs,
				fmtDur(iv.p50), fmtDur(iv.p99), iv.errors, phase)
		}
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

// deviceID is the device credential of the player called name in a run
// salted with salt: 16-128 characters of [A-Za-z0-9_-] (API.md).
func deviceID(name, salt string) string {
	d := name + "-" + salt
	if len(d) < 16 { // a short name and salt: padded, still one id per name
		d += strings.Repeat("0", 16-len(d))
	}
	if len(d) > 128 {
		d = d[len(d)-128:]
	}
	return d
}

// randomSalt is a run's device-id salt: 64 random bits, hex.
func randomSalt() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
