package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-chi/chi/v5"

	"rampart/bookkeeper"
	"rampart/journal"
	"rampart/profiler"
	"rampart/state"
	"rampart/web"
)

// Debug is what the /debug/ pages read, beyond the server's own store,
// profiler and counters (Config.Debug).
type Debug struct {
	Sampler *profiler.Sampler
	Alerts  *profiler.Alerts
	Keepers *bookkeeper.Registry
	// Reload swaps in the game data file and returns its version
	// (POST /debug/gamedata/reload).
	Reload func() (string, error)
	// Analytics is the MongoDB side's figures (nil without MongoDB).
	Analytics func() any
	// Cluster is the cluster's figures (nil for a server alone).
	Cluster func() any
	// Journal is nil with --journal-dir off.
	Journal *journal.Journal
	// Draining ends when the drain begins: long-lived streams close then,
	// so they do not hold the HTTP drain to its deadline.
	Draining context.Context
}

// debugRoutes is everything under /debug (routes guards it: loopback or
// the admin token).
func (s *Server) debugRoutes(d *Debug) http.Handler {
	r := chi.NewRouter()
	pg := web.NewPages(s.cfg.Log)
	store := s.cfg.Store
	stats := func(f func(st state.Stats) int64) func() any {
		return func() any { return f(store.Stats()) }
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
			{Href: "/debug/cluster", Title: "Cluster", Description: "members, handoffs, takeovers, forwarded requests (JSON)"},
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
		journalSection(d.Journal),
		web.Section{Title: "WebSocket", Values: []web.KV{
			web.KVFunc("open", func() any { return s.wsStats.Open.Load() }),
			web.KVFunc("accepted", func() any { return s.wsStats.Accepted.Load() }),
			web.KVFunc("slow clients closed (1008)", func() any { return s.wsStats.SlowClosed.Load() }),
			web.KVFunc("sockets replaced", func() any { return s.wsStats.Replaced.Load() }),
		}},
		web.Section{Title: "Runtime", Links: []web.Link{
			{Href: "/debug/pprof/", Title: "pprof", Description: "Go profiles"},
		}},
	))
	r.Method(http.MethodGet, "/latency", pg.Latency(s.cfg.Profiler, d.Sampler))
	r.Method(http.MethodPost, "/latency/reset", pg.LatencyReset(s.cfg.Profiler))
	r.Method(http.MethodGet, "/latency/plot.svg", pg.LatencyPlot(s.cfg.Profiler))
	r.Method(http.MethodGet, "/alerts", pg.Alerts(d.Alerts))
	r.Method(http.MethodGet, "/alerts/stream", untilDrain(d.Draining, pg.AlertStream(d.Alerts)))
	r.Method(http.MethodGet, "/bookkeepers", pg.Bookkeepers(d.Keepers))
	r.Method(http.MethodGet, "/players", pg.Players(store.Players, store.OnlineCount))
	r.Method(http.MethodPost, "/gamedata/reload", reloadHandler(d.Reload))
	r.Method(http.MethodGet, "/analytics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		out := map[string]any{"analytics": map[string]string{"status": "off: no MongoDB"}, "store": store.Stats()}
		if d.Analytics != nil {
			out = map[string]any{"mongodb": d.Analytics(), "store": store.Stats()}
		}
		json.NewEncoder(w).Encode(out)
	}))
	r.Method(http.MethodGet, "/cluster", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		out := map[string]any{"status": "off: one server alone (--cluster-addr empty)"}
		if d.Cluster != nil {
			out = map[string]any{"cluster": d.Cluster(), "counts": store.ClusterStats()}
		}
		json.NewEncoder(w).Encode(out)
	}))
	r.HandleFunc("/pprof/*", pprof.Index)
	r.HandleFunc("/pprof/cmdline", pprof.Cmdline)
	r.HandleFunc("/pprof/profile", pprof.Profile)
	r.HandleFunc("/pprof/symbol", pprof.Symbol)
	r.HandleFunc("/pprof/trace", pprof.Trace)
	return r
}

// reloadHandler answers POST /debug/gamedata/reload with reload.
func reloadHandler(reload func() (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if reload == nil {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no game data reload configured"}}` + "\n"))
			return
		}
		version, err := reload()
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
