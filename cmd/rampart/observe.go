package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"rampart/api"
	"rampart/bookkeeper"
	"rampart/journal"
	"rampart/metrics"
	"rampart/profiler"
	"rampart/state"
)

// newMetrics is /metrics: the profiler, bookkeepers, load and alerts, and
// the store's, the journal's and the WebSocket's counters, all read at
// scrape time.
func newMetrics(prof *profiler.Profiler, sampler *profiler.Sampler, alerts *profiler.Alerts, keepers *bookkeeper.Registry,
	store *state.Store, jrnl *journal.Journal, ws func() *api.WSStats, signins func() *api.SignInStats, log *slog.Logger) *metrics.Metrics {
	m := metrics.New(metrics.Sources{Profiler: prof, Sampler: sampler, Alerts: alerts, Keepers: keepers, Log: log})
	if jrnl != nil {
		js := func(f func(st journal.Stats) float64) func() float64 {
			return func() float64 { return f(jrnl.Stats()) }
		}
		m.CounterFunc(metrics.JournalAppendsTotal, "Journal records committed.", js(func(st journal.Stats) float64 { return float64(st.Records) }))
		m.CounterFunc(metrics.JournalSyncsTotal, "Journal group commits (fdatasyncs).", js(func(st journal.Stats) float64 { return float64(st.Syncs) }))
		m.GaugeFunc(metrics.JournalBytes, "Bytes in live journal segments.", js(func(st journal.Stats) float64 { return float64(st.DiskBytes) }))
		m.CounterFunc("rampart_journal_sync_seconds_total", "Time spent writing and syncing journal batches.", js(func(st journal.Stats) float64 { return float64(st.SyncNanos) / 1e9 }))
		m.GaugeFunc("rampart_journal_sync_max_seconds", "Longest journal write+fdatasync so far.", js(func(st journal.Stats) float64 { return float64(st.SyncMaxNanos) / 1e9 }))
		m.CounterFunc("rampart_journal_write_errors_total", "Journal batches whose write or sync failed.", js(func(st journal.Stats) float64 { return float64(st.WriteErrors) }))
		m.GaugeFunc("rampart_journal_segments", "Live journal segments.", js(func(st journal.Stats) float64 { return float64(st.Segments) }))
	}
	stat := func(f func(st state.Stats) int64) func() float64 {
		return func() float64 { return float64(f(store.Stats())) }
	}
	m.GaugeFunc(metrics.PlayersOnline, "Players in memory.", func() float64 { return float64(store.OnlineCount()) })
	m.GaugeFunc(metrics.PlayersConnected, "Players with an open WebSocket.", func() float64 { return float64(ws().Open.Load()) })
	m.CounterFunc(metrics.SavesTotal, "Player saves (checkpoints) written to S3.", stat(func(st state.Stats) int64 { return st.Saves }))
	m.CounterFunc(metrics.SaveErrorsTotal, "Player saves that failed.", stat(func(st state.Stats) int64 { return st.SaveErrors }))
	m.CounterFunc(metrics.LostOwnershipTotal, "Saves refused: another server owns the player.", stat(func(st state.Stats) int64 { return st.LostOwnership }))
	m.CounterFunc("rampart_player_loads_total", "Players loaded from S3.", stat(func(st state.Stats) int64 { return st.Loads }))
	m.CounterFunc("rampart_players_new_total", "Players created.", stat(func(st state.Stats) int64 { return st.NewPlayers }))
	m.CounterFunc("rampart_player_busy_total", "Sign-ins refused: the player is live on another server.", stat(func(st state.Stats) int64 { return st.Busy }))
	m.CounterFunc("rampart_journal_errors_total", "Changes the journal could not take (answered 503).", stat(func(st state.Stats) int64 { return st.JournalErrors }))
	m.CounterFunc("rampart_raid_results_lost_total", "Raid results an offline attacker never got (its mailbox was down).", stat(func(st state.Stats) int64 { return st.MailLost }))
	m.CounterFunc(metrics.WSSlowClosedTotal, "WebSockets closed (1008): the client read too slowly.", func() float64 { return float64(ws().SlowClosed.Load()) })
	m.CounterFunc(metrics.WSReplacedTotal, "WebSockets replaced by the same player's new sign-in.", func() float64 { return float64(ws().Replaced.Load()) })
	m.GaugeFunc(metrics.WSOpen, "Open WebSockets.", func() float64 { return float64(ws().Open.Load()) })
	sign := m.CounterVec(metrics.SignInsTotal, "Sign-ins by kind and result.", "kind", "result")
	for _, kind := range []string{"device", "email", "ticket", "refresh", "dev"} {
		for _, res := range []string{"ok", "bad_credentials", "not_found", "rate_limited", "banned", "error"} {
			sign.Func(func() float64 { return float64(signins().Count(kind, res)) }, kind, res)
		}
	}
	limited := m.CounterVec(metrics.RateLimitedTotal, "Requests refused by a budget (429), by scope.", "scope")
	limited.Func(func() float64 { return float64(signins().LimitedPlayer.Load()) }, "player")
	limited.Func(func() float64 { return float64(signins().LimitedAddress.Load()) }, "address")
	m.GaugeFunc(metrics.PlayersLoading, "Sign-ins loading a player from S3 now.", func() float64 { return float64(store.Loading()) })
	return m
}

// newProbeKeeper is the bookkeeper of /readyz's probes: their own channel,
// so that a probe cut short by its timeout while a store hangs is not one
// of the game's S3 or MongoDB calls (and is counted as the error it is).
func newProbeKeeper(prof *profiler.Profiler, log *slog.Logger) *bookkeeper.Keeper {
	return bookkeeper.New(bookkeeper.Config{Name: "probe", Concurrency: 2, QueueLimit: 4, Timeout: time.Second,
		MaxTries: 1, Observe: prof.Record, Log: log})
}

// readinessChecks are what /readyz watches: S3 answers (a missing object
// is an answer) and MongoDB answers a ping, through the probe keeper.
func readinessChecks(pk *bookkeeper.Keeper, blobs state.Blobs, client *mongo.Client) []api.Check {
	checks := []api.Check{{Name: "s3", Fn: func(ctx context.Context) error {
		return pk.Do(ctx, "probe:s3", func(ctx context.Context) error {
			_, _, err := blobs.Get(ctx, "ready/probe")
			if errors.Is(err, state.ErrNotFound) {
				return nil
			}
			return err
		})
	}}}
	if client != nil {
		checks = append(checks, api.Check{Name: "mongodb", Fn: func(ctx context.Context) error {
			return pk.Do(ctx, "probe:mongodb", func(ctx context.Context) error { return client.Ping(ctx, nil) })
		}})
	}
	return checks
}
