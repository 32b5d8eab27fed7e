package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/push"
)

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
		rl.store.Broadcast(push.Event(push.Gamedata, map[string]any{"version": b.Version}))
	}
	return b.Version, nil
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
