package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"rampart/accounts"
	"rampart/api"
	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/internal/devstores"
	"rampart/journal"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/blob"
	"rampart/state/mongostore"
	"rampart/state/s3store"
	"rampart/web/game"
)

// serve runs the game server: build the app, run it until ctx ends, then
// drain it.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	a, err := newApp(args, getenv, stderr)
	if a == nil || err != nil {
		return err // nil with -h
	}
	defer a.close()
	if err := a.build(ctx); err != nil {
		return err
	}
	if err := a.run(ctx, stdout); err != nil {
		return err
	}
	return a.drain()
}

// newApp reads the configuration (flags, environment, secret files) and
// checks it; nil, nil after -h.
func newApp(args []string, getenv func(string) string, stderr io.Writer) (*app, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return nil, err
	}
	if err := refuseSecretFlags(fs); err != nil {
		return nil, err
	}
	if err := applyEnv(fs, getenv); err != nil {
		return nil, err
	}
	if err := cfg.readSecretFiles(); err != nil {
		return nil, err
	}
	if cfg.DevLogin && !loopbackAddr(cfg.Addr) {
		return nil, fmt.Errorf("--dev-login signs anyone in as anyone: refused on --addr %s (listen on 127.0.0.1 or [::1])", cfg.Addr)
	}
	if err := cfg.checkCluster(); err != nil {
		return nil, err
	}
	if cfg.S3Concurrency < 1 {
		return nil, fmt.Errorf("--s3-concurrency %d: at least 1 call must be allowed on the wire", cfg.S3Concurrency)
	}
	trusted, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	ticketKey, err := cfg.ticketPublicKey()
	if err != nil {
		return nil, err
	}
	log, err := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, log: log, getenv: getenv, trusted: trusted, ticketKey: ticketKey}, nil
}

// app is one server process: what build makes, run serves and drain
// takes down in order.
type app struct {
	cfg       serveConfig
	log       *slog.Logger
	getenv    func(string) string
	trusted   []netip.Prefix
	ticketKey ed25519.PublicKey

	bundle    *gamedata.Bundle
	rl        *reloader
	prof      *profiler.Profiler
	sampler   *profiler.Sampler
	alerts    *profiler.Alerts
	ready     *api.Readiness
	keepers   *bookkeeper.Registry
	store     *state.Store
	analytics *mongostore.Analytics // nil without MongoDB
	updates   *mongostore.Updates
	cl        *clusterSide // nil for a server alone
	srv       *api.Server
	httpSrv   *http.Server
	ln        net.Listener

	drainBegins context.CancelFunc
	// stopRecovery ends the background journal recovery (nil: none runs).
	stopRecovery context.CancelFunc
	stopLoops    context.CancelFunc
	loopsDone    chan struct{}
	closers      []func()
	// drained lists the drain's steps as they run (drain order test).
	drained []string
}

// onClose registers f to run when the app closes, last registered first.
func (a *app) onClose(f func()) { a.closers = append(a.closers, f) }

// close releases what build opened.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// build opens the stores, recovers the journal, joins the cluster and
// makes the server, its listener and its pages; nothing is served yet.
// minProcs is the GOMAXPROCS the server runs with: at least two, even on
// one CPU (taskset, a 1-vCPU container), unless the GOMAXPROCS variable
// says otherwise. The journal's fdatasync holds its thread — and with one
// P, the only P — in the kernel for a millisecond or more, and nothing else
// runs meanwhile, not the handlers, not the network poller. Measured with
// the server pinned to one core (BENCHMARKS.md, 2026-12-01): closed-loop
// pings 2,000/s with 1-s stalls at GOMAXPROCS=1, 7,300/s with none over
// 150 ms at 2.
func minProcs(env string, cur int) int {
	if env != "" {
		return cur
	}
	return max(cur, 2)
}

func (a *app) build(ctx context.Context) error {
	cfg, log, getenv, trusted, ticketKey := a.cfg, a.log, a.getenv, a.trusted, a.ticketKey
	var err error
	// Players are a large, long-lived heap and the S3 SDK makes a lot of
	// short-lived garbage: collecting at 100% growth spent ~15 points of a
	// core at 30,000 players (BENCHMARKS.md). The heap may grow to 5x live.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if n := minProcs(getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)); n != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
		log.Info("one CPU: running two Ps, so the journal's fdatasync does not stop the server", "gomaxprocs", n)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	secret, err := sessionSecret(cfg.SessionSecret, cfg.DataDir)
	if err != nil {
		return err
	}
	bundle, err := loadBundle(cfg.GamedataFile)
	if err != nil {
		return err
	}
	gd := gamedata.NewHolder(bundle)

	prof := profiler.NewWithOptions(profiler.Options{HardLimit: cfg.HardLimit})
	prof.SetEnabled(cfg.Profiler)
	sampler := profiler.NewSampler(profiler.SamplerOptions{})

	// Stores: real ones when configured, embedded stand-ins otherwise.
	s3cfg := s3store.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey}
	awsCfg := aws.Config{Region: cfg.S3Region}
	if cfg.S3Endpoint == "" {
		s3srv, err := devstores.StartS3(cfg.DataDir, cfg.S3Bucket, log)
		if err != nil {
			return err
		}
		a.onClose(func() { s3srv.Close() })
		s3cfg.Endpoint, s3cfg.AccessKey, s3cfg.SecretKey = s3srv.URL, s3srv.AccessKey, s3srv.SecretKey
		log.Info("embedded S3 started", "endpoint", s3srv.URL, "file", filepath.Join(cfg.DataDir, "s3.bolt"))
	} else if cfg.S3AccessKey == "" {
		if awsCfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(cfg.S3Region)); err != nil {
			return fmt.Errorf("aws config: %w", err)
		}
	}
	// The SDK's default transport keeps 10 idle connections per host while
	// the s3 bookkeeper runs --s3-concurrency calls at once: every call past
	// 10 would dial anew (measured: a login storm spent 10% of its CPU
	// dialling).
	s3cfg.HTTPClient = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConns:        2 * cfg.S3Concurrency,
		MaxIdleConnsPerHost: cfg.S3Concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}}
	blobs := s3store.New(s3cfg, awsCfg)
	if err := blobs.EnsureBucket(ctx); err != nil {
		return err
	}

	mongoClient, closeMongo, err := connectMongo(ctx, cfg, log)
	if err != nil {
		return err
	}
	a.onClose(func() { closeMongo() })

	// Every asynchronous path has a bookkeeper.
	s3keeper := bookkeeper.New(bookkeeper.Config{
		Name: "s3", Concurrency: cfg.S3Concurrency, QueueLimit: 10000, Timeout: 2 * time.Second, MaxTries: 3,
		Retryable: s3store.Retryable, Answer: blob.IsAnswer, Observe: prof.Record, Log: log,
	})
	webhookKeeper := bookkeeper.New(bookkeeper.Config{
		Name: "webhook", Concurrency: 4, QueueLimit: 256, Timeout: 5 * time.Second, MaxTries: 3,
		Retryable: profiler.WebhookRetryable, Observe: prof.Record, Log: log,
	})
	mongoKeeper := bookkeeper.New(bookkeeper.Config{
		Name: "mongo", Concurrency: 16, QueueLimit: 5000, Timeout: 10 * time.Second, MaxTries: 3,
		Retryable: mongostore.Retryable, Observe: prof.Record, Log: log,
	})
	probeKeeper := newProbeKeeper(prof, log)
	keepers := bookkeeper.NewRegistry(s3keeper, mongoKeeper, webhookKeeper, probeKeeper)

	var mongoSide state.Mongo
	var analytics *mongostore.Analytics
	var updates *mongostore.Updates
	if mongoClient != nil {
		ms, err := mongostore.Open(ctx, mongoClient, "rampart", mongoKeeper, log)
		if err != nil {
			return fmt.Errorf("mongodb: %w", err)
		}
		analytics = mongostore.NewAnalytics(ms, mongostore.AnalyticsConfig{WriteConcern: uriWriteConcern(cfg.MongoURI)})
		updates = mongostore.NewUpdates(ms, mongostore.UpdatesConfig{})
		mongoSide = state.Mongo{Index: ms, Updates: updates, Mail: ms, Analytics: analytics}
		if cfg.IndexSnapshot > 0 {
			snap := state.NewIndexSnapshot(ms, updates, ms.Summaries, state.SnapshotConfig{Every: cfg.IndexSnapshot, Log: log})
			mongoSide.Index, mongoSide.Updates = snap, snap
		}
	}
	var ticketSecret []byte
	if cfg.TicketSecret != "" {
		ticketSecret = []byte(cfg.TicketSecret)
	}
	accts, err := accounts.New(accounts.Config{TokenKey: secret, TicketSecret: ticketSecret,
		TicketPublicKey: ticketKey}, state.AccountBlobs{B: blobs}, s3keeper)
	if err != nil {
		return err
	}
	serverID, err := stableServerID(cfg.DataDir)
	if err != nil {
		return err
	}
	// In a cluster: register before any player is taken (a lease naming
	// a server absent from the membership is a dead server's).
	var cl *clusterSide
	if cfg.ClusterAddr != "" {
		if cl, err = startCluster(ctx, cfg, serverID, mongoClient, prof, log); err != nil {
			return err
		}
		a.onClose(func() { cl.ln.Close() })
		keepers.Add(cl.keeper)
		keepers.Add(cl.membersKeeper)
	}
	jrnl, jdir, err := openJournal(cfg, log)
	if err != nil {
		return err
	}
	if jrnl != nil {
		a.onClose(func() { jrnl.Close() })
	}
	var stateCluster state.Cluster // a nil *Peers must stay a nil interface
	if cl != nil {
		stateCluster = cl.peers
	}
	store := state.NewStore(state.Config{
		ServerID: serverID, Autosave: cfg.Autosave, IdleTimeout: cfg.IdleTimeout, LeaseTTL: cfg.LeaseTTL,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, MaxPlayers: cfg.MaxPlayers,
	}, state.Deps{Blobs: blobs, S3: s3keeper, GameData: gd, Accounts: accts, Profiler: prof, Log: log,
		Mongo: mongoSide, Journal: jrnl, JournalDir: jdir, Chunks: blobs, Cluster: stateCluster})
	if updates != nil {
		updates.SetOnDrop(store.Unindexed)
	}
	if jrnl != nil {
		// Before any request the journal is read: a player it holds
		// records of replays them at its load, so players sign in at
		// once, and the others are recovered (replayed and saved) in the
		// background.
		// It stops when the drain begins: what it has not reached is
		// recovered at the next start (the journal keeps it).
		recovering, stopRecovery := context.WithCancel(context.WithoutCancel(ctx))
		a.onClose(stopRecovery)
		a.stopRecovery = stopRecovery
		pending, done, err := store.RecoverInBackground(recovering, jdir)
		if err != nil {
			return err
		}
		log.Info("journal read; recovering its players in the background", "players", pending)
		go func() {
			r := <-done
			st := r.Stats
			if r.Err != nil {
				log.Error("journal recovery stopped; the rest is recovered at their sign-in or the next start", "err", r.Err)
			}
			log.Info("journal recovered", "players", st.Players, "records", st.Replayed, "saved", st.Saved,
				"loaded_first", st.Loaded, "diverged", st.Diverged, "skipped", st.Skipped, "corrupt_frames", st.Corrupt, "took_ms", st.Took)
		}()
	}

	alertOpts := profiler.AlertOptions{Log: log}
	if cfg.AlertWebhook != "" {
		alertOpts.Notifier = webhookNotifier(webhookKeeper, &http.Client{}, cfg.AlertWebhook)
	}
	alerts := profiler.NewAlerts(alertOpts)
	if err := addAlertRules(alerts, prof, sampler, cfg.AlertLoad, keepers); err != nil {
		return err
	}
	rl := &reloader{path: cfg.GamedataFile, holder: gd, store: store, row: prof.Row("gamedata:reload"), log: log}
	var srv *api.Server // the pages and metrics below read its counters once it serves
	wsStats := func() *api.WSStats { return srv.WSStats() }
	draining, drainBegins := context.WithCancel(context.Background())
	a.onClose(func() { drainBegins() })
	debug := &api.Debug{Sampler: sampler, Alerts: alerts, Keepers: keepers, Reload: rl.Reload, Draining: draining, Journal: jrnl}
	if analytics != nil {
		debug.Analytics = func() any { return map[string]any{"analytics": analytics.Stats(), "index": updates.Stats()} }
	}
	if cl != nil {
		debug.Cluster = func() any {
			return map[string]any{"self": cl.members.Self(), "alive": cl.members.Alive(), "fenced": cl.members.Fenced()}
		}
	}
	mx := newMetrics(prof, sampler, alerts, keepers, store, jrnl, wsStats, func() *api.SignInStats { return srv.SignIns() }, log)
	ready := api.NewReadiness(nil, readinessChecks(probeKeeper, blobs, mongoClient)...)

	apiCfg := api.Config{
		Store: store, GameData: gd, Profiler: prof, Log: log,
		AdminToken: cfg.AdminToken, Debug: debug, Client: game.Handler(), IdleTimeout: cfg.IdleTimeout,
		Metrics: mx.Handler(), Ready: ready,
		Accounts: accts, DevLogin: cfg.DevLogin, SignInLimiter: signInLimiter(cfg), TrustedProxies: trusted,
	}
	if cl != nil {
		apiCfg.Forward = cl.peers
		cl.addMetrics(mx, store)
	}
	srv = api.New(apiCfg)
	if cl != nil {
		cl.serve(store, srv, log)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.MaxConnsPerIP > 0 {
		ln = api.LimitConns(ln, cfg.MaxConnsPerIP, trusted)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	a.bundle, a.rl, a.prof, a.sampler, a.alerts, a.ready, a.keepers = bundle, rl, prof, sampler, alerts, ready, keepers
	a.store, a.analytics, a.updates, a.cl, a.srv, a.httpSrv, a.ln = store, analytics, updates, cl, srv, httpSrv, ln
	a.drainBegins = drainBegins
	return nil
}

// run starts the background loops and serves until ctx ends (nil) or the
// listener fails.
func (a *app) run(ctx context.Context, stdout io.Writer) error {
	log, store := a.log, a.store
	fmt.Fprintf(stdout, "rampart listening on http://%s\n", a.ln.Addr())
	log.Info("serving", "addr", a.ln.Addr().String(), "server_id", store.ServerID(), "gamedata_version", a.bundle.Version)

	// Background loops, stopped after the HTTP server has drained.
	loops, stopLoops := context.WithCancel(context.Background())
	a.stopLoops = stopLoops
	var loopGroup sync.WaitGroup
	for _, run := range []func(context.Context) error{a.prof.Run, a.sampler.Run, a.alerts.Run, a.ready.Run} {
		loopGroup.Go(func() { run(loops) })
	}
	loopGroup.Go(func() { store.Run(loops) })
	loopGroup.Go(func() { store.ShipJournal(loops) })
	if a.analytics != nil {
		loopGroup.Go(func() { a.analytics.Run(loops) })
		loopGroup.Go(func() { a.updates.Run(loops) })
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	a.onClose(func() { signal.Stop(hup) })
	loopGroup.Go(func() {
		for {
			select {
			case <-loops.Done():
				return
			case <-hup:
				if _, err := a.rl.Reload(); err != nil {
					log.Error("SIGHUP: game data not reloaded", "err", err)
				}
			}
		}
	})
	a.loopsDone = make(chan struct{})
	go func() { loopGroup.Wait(); close(a.loopsDone) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- a.httpSrv.Serve(a.ln) }()
	select {
	case err := <-serveErr:
		stopLoops()
		<-a.loopsDone
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// step runs one named step of the drain.
func (a *app) step(name string, f func()) {
	a.drained = append(a.drained, name)
	f()
}

// drain takes the server down, in budgets so that no phase can eat the
// next one's: stop taking players and finish requests (long-lived streams
// are told to end at once); land the asynchronous work; then the final
// checkpoint of everyone, which has the whole drain timeout to itself;
// then what trails it (journal, MongoDB writes, the cluster, the
// bookkeepers). TestDrainOrder checks the order.
func (a *app) drain() error {
	cfg, log, store := a.cfg, a.log, a.store
	log.Info("shutting down", "online", store.OnlineCount(), "drain_timeout", cfg.DrainTimeout.String())
	a.step("not ready", func() {
		a.srv.Drain()
		store.Drain()
		a.drainBegins()
		if a.stopRecovery != nil {
			a.stopRecovery() // the rest of the journal waits for the next start
		}
	})
	if a.cl != nil {
		// /readyz answers 503 now; keep serving for the balancer's checks
		// to notice (deploy/haproxy.cfg: fall 2 x inter 1s) before the
		// listener closes, so it moves this server's players, not its
		// retries.
		a.step("balancer grace", func() { a.cl.grace(min(clusterDrainGrace, cfg.DrainTimeout/3)) })
	}
	a.step("http", func() {
		httpCtx, cancel := context.WithTimeout(context.Background(), min(cfg.DrainTimeout/3, 10*time.Second))
		defer cancel()
		if err := a.httpSrv.Shutdown(httpCtx); err != nil {
			log.Warn("http shutdown: requests cut off", "err", err)
			a.httpSrv.Close()
		}
	})
	a.step("loops", func() {
		a.stopLoops()
		<-a.loopsDone
	})
	a.step("async", func() {
		asyncCtx, cancel := context.WithTimeout(context.Background(), min(cfg.DrainTimeout/3, 10*time.Second))
		defer cancel()
		if err := store.WaitAsync(asyncCtx); err != nil {
			log.Warn("shutdown", "err", err)
		}
	})
	drain, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	var saveErr error
	a.step("checkpoint", func() { saveErr = store.SaveAll(drain) })
	a.step("journal", store.ReleaseJournal)
	if a.analytics != nil {
		a.step("mongodb", func() {
			if err := a.updates.Close(drain); err != nil {
				log.Warn("player index not fully written at shutdown", "err", err)
			}
			if err := a.analytics.Close(drain); err != nil {
				log.Warn("analytics events not flushed at shutdown", "err", err)
			}
		})
	}
	if a.cl != nil {
		// Every player is saved and released: leave the membership, so
		// the others need not wait out DeadAfter, then stop answering.
		a.step("cluster", func() { a.cl.leave(drain, saveErr == nil) })
	}
	a.step("bookkeepers", func() {
		if err := a.keepers.WaitIdle(drain); err != nil {
			log.Warn("async work still in flight at shutdown", "err", err)
		}
	})
	if saveErr != nil {
		log.Error("players left unsaved at shutdown", "err", saveErr)
		return fmt.Errorf("shutdown: %w", saveErr)
	}
	log.Info("shutdown complete", "stats", store.Stats())
	return nil
}

// newLogger returns slog: text on a terminal, JSON otherwise, unless format
// says which.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want auto, text or json, got %q", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// sessionSecret returns the configured secret, or the one kept in the data
// dir, generating it on first start.
func sessionSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, errors.New("--session-secret: at least 32 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "session.key")
	if data, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(data))
		if len(key) >= 32 {
			return []byte(key), nil
		}
		return nil, fmt.Errorf("%s: too short; delete it to generate a new one", path)
	}
	var b [32]byte
	rand.Read(b[:])
	key := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keep session secret: %w", err)
	}
	return []byte(key), nil
}

// loopbackAddr reports whether addr (host:port) listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// signInLimiter is the per-address budget of the sign-in routes (nil with
// --signin-rate 0). A million addresses cost about 70 MB (accounts).
func signInLimiter(cfg serveConfig) *accounts.KeyedLimiter {
	if cfg.SignInRate <= 0 {
		return nil
	}
	return accounts.NewKeyedLimiter(cfg.SignInRate, cfg.SignInBurst, 1<<20, nil)
}

// loadBundle reads the compiled game data from path, or the embedded one.
func loadBundle(path string) (*gamedata.Bundle, error) {
	if path == "" {
		return gamedata.Embedded()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read game data: %w", err)
	}
	return gamedata.Parse(data)
}

// connectMongo connects to cfg.MongoURI, or starts the embedded FerretDB.
// uriWriteConcern is the write concern a --mongo-uri asks for (w, j);
// nil for none, or for the embedded store.
func uriWriteConcern(uri string) *writeconcern.WriteConcern {
	if uri == "" || uri == "off" {
		return nil
	}
	return options.Client().ApplyURI(uri).WriteConcern
}

func connectMongo(ctx context.Context, cfg serveConfig, log *slog.Logger) (*mongo.Client, func(), error) {
	if cfg.MongoURI == "off" {
		return nil, func() {}, nil
	}
	uri := cfg.MongoURI
	var embedded *devstores.Mongo
	if uri == "" {
		var err error
		if embedded, err = devstores.StartMongo(cfg.DataDir, log); err != nil {
			return nil, nil, err
		}
		uri = embedded.URI
		log.Info("embedded FerretDB started", "uri", uri, "dir", filepath.Join(cfg.DataDir, "mongo"))
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(5 * time.Second))
	if err != nil {
		if embedded != nil {
			embedded.Close()
		}
		return nil, nil, fmt.Errorf("connect mongodb: %w", err)
	}
	return client, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		client.Disconnect(ctx)
		if embedded != nil {
			embedded.Close()
		}
	}, nil
}

// stableServerID is this server's name in leases, kept in
// <data-dir>/server.id: a server restarted on the same data dir (after a
// crash) recognises its own leases and takes its players back at once.
func stableServerID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server.id")
	if data, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(data)); state.ValidID(id) {
			return id, nil
		}
		return "", fmt.Errorf("%s: not a server id; delete it to make a new one", path)
	}
	id := "rampart-" + state.NewSessionID()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("keep server id: %w", err)
	}
	return id, nil
}

// journalPace is journal.Options.SyncInterval for --journal-sync-interval
// d: the flag's 0 is no pacing, which the journal spells negative (its 0
// is its default).
func journalPace(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// openJournal opens the action journal (nil with --journal-dir off).
func openJournal(cfg serveConfig, log *slog.Logger) (*journal.Journal, string, error) {
	dir := cfg.JournalDir
	switch dir {
	case "off":
		log.Warn("running without the journal: a crash loses everything since each player's last checkpoint")
		return nil, "", nil
	case "":
		dir = filepath.Join(cfg.DataDir, "journal")
	}
	j, err := journal.Open(dir, journal.Options{SyncInterval: journalPace(cfg.JournalSync)})
	if err != nil {
		return nil, "", fmt.Errorf("journal: %w", err)
	}
	return j, dir, nil
}
