package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-chi/chi/v5"

	"rampart/api"
	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/journal"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/mongostore"
	"rampart/web"
)

// debugDeps is what the /debug/ pages read.
type debugDeps struct {
	prof     *profiler.Profiler
	sampler  *profiler.Sampler
	alerts   *profiler.Alerts
	keepers  *bookkeeper.Registry
	store    *state.Store
	reloader *reloader
	// analytics and updates are nil without MongoDB.
	analytics *mongostore.Analytics
	updates   *mongostore.Updates
	// ws reads the api's WebSocket counters (set before serving).
	ws  func() *api.WSStats
	log *slog.Logger
	// draining ends when the drain begins: long-lived streams close then,
	// so they do not hold the HTTP drain to its deadline.
	draining context.Context
	// journal is nil with --journal-dir off.
	journal *journal.Journal
}

// debugRouter is everything under /debug (the api guards it: loopback or
// the admin token).
func debugRouter(d debugDeps) http.Handler {
	r := chi.NewRouter()
	pg := web.NewPages(d.log)
	stats := func(f func(st state.Stats) int64) func() any {
		return func() any { return f(d.store.Stats()) }
	}
	r.Method(http.MethodGet, "/", pg.Index(
		web.Section{Title: "Latency", Links: []web.Link{
			{Href: "/debug/latency", Title: "Latency table", Description: "every entry point, sorted by max"},
			{Href: "/debug/alerts", Title: "Alerts", Description: "active and recent alerts; /debug/alerts/stream is SSE"},
		}},
		web.Section{Title: "Asynchronous work", Links: []web.Link{
			{Href: "/debug/bookkeepers", Title: "Bookkeepers", Description: "queued, on the wire, waiting to retry, per channel"},
			{Href: "/debug/analytics", Title: "Analytics", Description: "events emitted, inserted, dropped (JSON)"},
		}},
		web.Section{Title: "Players", Links: []web.Link{
			{Href: "/debug/players", Title: "Online players", Description: "who is in memory, unsaved, connected"},
		}, Values: []web.KV{
			web.KVFunc("online", stats(func(st state.Stats) int64 { return st.Online })),
			web.KVFunc("sign-ins", stats(func(st state.Stats) int64 { return st.Logins })),
			web.KVFunc("loads from S3", stats(func(st state.Stats) int64 { return st.Loads })),
			web.KVFunc("new players", stats(func(st state.Stats) int64 { return st.NewPlayers })),
			web.KVFunc("saves", stats(func(st state.Stats) int64 { return st.Saves })),
			web.KVFunc("save errors", stats(func(st state.Stats) int64 { return st.SaveErrors })),
			web.KVFunc("lost ownership", stats(func(st state.Stats) int64 { return st.LostOwnership })),
			web.KVFunc("busy (409)", stats(func(st state.Stats) int64 { return st.Busy })),
			web.KVFunc("retried writes that had landed", stats(func(st state.Stats) int64 { return st.WriteConfirmed })),
			web.KVFunc("raid results lost (attacker offline, mailbox down)", stats(func(st state.Stats) int64 { return st.MailLost })),
		}},
		journalSection(d.journal),
		web.Section{Title: "WebSocket", Values: []web.KV{
			web.KVFunc("open", func() any { return d.ws().Open.Load() }),
			web.KVFunc("accepted", func() any { return d.ws().Accepted.Load() }),
			web.KVFunc("slow clients closed (1008)", func() any { return d.ws().SlowClosed.Load() }),
			web.KVFunc("sockets replaced", func() any { return d.ws().Replaced.Load() }),
		}},
		web.Section{Title: "Runtime", Links: []web.Link{
			{Href: "/debug/pprof/", Title: "pprof", Description: "Go profiles"},
		}},
	))
	r.Method(http.MethodGet, "/latency", pg.Latency(d.prof, d.sampler))
	r.Method(http.MethodPost, "/latency/reset", pg.LatencyReset(d.prof))
	r.Method(http.MethodGet, "/latency/plot.svg", pg.LatencyPlot(d.prof))
	r.Method(http.MethodGet, "/alerts", pg.Alerts(d.alerts))
	r.Method(http.MethodGet, "/alerts/stream", untilDrain(d.draining, pg.AlertStream(d.alerts)))
	r.Method(http.MethodGet, "/bookkeepers", pg.Bookkeepers(d.keepers))
	r.Method(http.MethodGet, "/players", pg.Players(d.store.Players, d.store.OnlineCount))
	r.Method(http.MethodPost, "/gamedata/reload", d.reloader.handler())
	r.Method(http.MethodGet, "/analytics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var events, index any = map[string]string{"status": "off: no MongoDB"}, nil
		if d.analytics != nil {
			events, index = d.analytics.Stats(), d.updates.Stats()
		}
		json.NewEncoder(w).Encode(map[string]any{"analytics": events, "index": index, "store": d.store.Stats()})
	}))
	r.HandleFunc("/pprof/*", pprof.Index)
	r.HandleFunc("/pprof/cmdline", pprof.Cmdline)
	r.HandleFunc("/pprof/profile", pprof.Profile)
	r.HandleFunc("/pprof/symbol", pprof.Symbol)
	r.HandleFunc("/pprof/trace", pprof.Trace)
	return r
}

// reloader wires gamedata's Reload into the server, on SIGHUP and on
// POST /debug/gamedata/reload: timed on the profiler, and a new version
// announced to online players (who reconcile with it the next time they
// are touched).
type reloader struct {
	path   string
	holder *gamedata.Holder
	store  *state.Store
	row    *profiler.Row
	log    *slog.Logger
}

// Reload swaps in the file's bundle and returns its version.
func (rl *reloader) Reload() (string, error) {
	t0 := time.Now()
	defer func() { rl.row.Record(time.Since(t0)) }()
	old, b, err := rl.holder.Reload(rl.path, rl.log)
	if err != nil {
		return "", err
	}
	if old.Version != b.Version {
		rl.store.Broadcast(state.NewEvent(state.EventGamedata, map[string]any{"version": b.Version}))
	}
	return b.Version, nil
}

func (rl *reloader) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version, err := rl.Reload()
		w.Header().Set("Content-Type", "application/json")
		var body bytes.Buffer
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(&body).Encode(map[string]any{"error": map[string]string{"code": "bad_gamedata", "message": err.Error()}})
		} else {
			json.NewEncoder(&body).Encode(map[string]string{"gamedata_version": version})
		}
		w.Write(body.Bytes())
	})
}

// addAlertRules registers the alert rules: the profiler's own and every
// bookkeeper's.
func addAlertRules(a *profiler.Alerts, p *profiler.Profiler, s *profiler.Sampler, loadThreshold float64, keepers *bookkeeper.Registry) error {
	if err := a.AddRule(profiler.LoadRule(s, loadThreshold, profiler.DefaultLoadFor)); err != nil {
		return err
	}
	if err := a.AddRule(profiler.HardLimitRule(p, profiler.DefaultHardLimitHold)); err != nil {
		return err
	}
	for _, r := range keepers.Rules() {
		if err := a.AddRule(profiler.Rule{Name: r.Name, For: r.For, Check: r.Check}); err != nil {
			return err
		}
	}
	return nil
}

// webhookNotifier posts alert transitions through the webhook bookkeeper,
// which retries what profiler.WebhookRetryable allows.
func webhookNotifier(k *bookkeeper.Keeper, client *http.Client, url string) profiler.Notifier {
	hook := profiler.NewWebhook(client, url)
	return profiler.NotifierFunc(func(ctx context.Context, body []byte) error {
		return k.Do(ctx, "webhook:post", func(ctx context.Context) error { return hook.Notify(ctx, body) })
	})
}

// untilDrain ends h's request context when draining ends (or the client
// leaves): for streams that would otherwise run until the process does.
func untilDrain(draining context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(draining, cancel)
		defer stop()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// journalSection is the /debug/ index's journal figures.
func journalSection(j *journal.Journal) web.Section {
	sec := web.Section{Title: "Journal"}
	if j == nil {
		sec.Values = []web.KV{web.KVFunc("status", func() any { return "off (--journal-dir off): acknowledged is not durable" })}
		return sec
	}
	st := func(f func(s journal.Stats) any) func() any { return func() any { return f(j.Stats()) } }
	sec.Values = []web.KV{
		web.KVFunc("records", st(func(s journal.Stats) any { return s.Records })),
		web.KVFunc("group commits", st(func(s journal.Stats) any { return s.Syncs })),
		web.KVFunc("records per commit", st(func(s journal.Stats) any {
			if s.Syncs == 0 {
				return 0.0
			}
			return float64(s.Records) / float64(s.Syncs)
		})),
		web.KVFunc("mean write+fdatasync", st(func(s journal.Stats) any {
			if s.Syncs == 0 {
				return time.Duration(0).String()
			}
			return time.Duration(s.SyncNanos / s.Syncs).String()
		})),
		web.KVFunc("longest write+fdatasync", st(func(s journal.Stats) any { return time.Duration(s.SyncMaxNanos).String() })),
		web.KVFunc("largest batch", st(func(s journal.Stats) any { return s.MaxBatchRecords })),
		web.KVFunc("write errors", st(func(s journal.Stats) any { return s.WriteErrors })),
		web.KVFunc("append errors", st(func(s journal.Stats) any { return s.AppendErrors })),
		web.KVFunc("live segments", st(func(s journal.Stats) any { return s.Segments })),
		web.KVFunc("bytes on disk", st(func(s journal.Stats) any { return s.DiskBytes })),
	}
	return sec
}
