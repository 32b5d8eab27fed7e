package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"rampart/profiler"
)

type alertsPage struct {
	S         profiler.AlertsSnapshot
	Refresh   int
	StreamURL string
	JSONURL   string
}

// Alerts is Pages.Alerts logging to slog.Default().
func Alerts(a *profiler.Alerts) http.Handler { return (*Pages)(nil).Alerts(a) }

// Alerts is the alerts page: active alerts, every rule's state and the last
// transitions (100 by default); ?format=json gives profiler.AlertsSnapshot;
// ?refresh=seconds reloads the page. Mount at GET /debug/alerts.
func (pg *Pages) Alerts(a *profiler.Alerts) http.Handler {
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		s := a.Snapshot() // a copy: rendering holds no lock
		if wantJSON(r) {
			return writeJSON(w, http.StatusOK, s)
		}
		page := alertsPage{S: s, Refresh: parseRefresh(r.URL.Query()), JSONURL: basePath(r) + "?format=json"}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		page.StreamURL = scheme + "://" + r.Host + basePath(r) + "/stream"
		return render(w, "alerts.html", page)
	})
}

// streamKeepAlive is how often an idle stream sends a comment, so proxies
// and clients can tell a quiet stream from a dead one.
const streamKeepAlive = 15 * time.Second

// AlertStream is Pages.AlertStream.
func AlertStream(a *profiler.Alerts) http.Handler { return (*Pages)(nil).AlertStream(a) }

// AlertStream is a server-sent-events stream of alert transitions, for
// `curl -N`. On connect it sends one "active" event (a JSON array of the
// firing events), then one "alert" event per transition (a profiler.Event,
// id = its seq), and a comment every 15 s. It clears the server's write
// deadline for its connection. Mount at GET /debug/alerts/stream.
func (pg *Pages) AlertStream(a *profiler.Alerts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout; unsupported writers are fine

		// Subscribe before the snapshot, so no transition falls between
		// them; ones already in the snapshot are skipped by seq.
		events, cancel := a.Subscribe()
		defer cancel()
		snap := a.Snapshot()
		var lastSeq uint64
		if len(snap.Recent) > 0 {
			lastSeq = snap.Recent[0].Seq
		}

		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)

		active, _ := json.Marshal(snap.Active)
		if _, err := fmt.Fprintf(w, "retry: 5000\nevent: active\ndata: %s\n\n", active); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		keepAlive := time.NewTicker(streamKeepAlive)
		defer keepAlive.Stop()
		for {
			var err error
			select {
			case <-r.Context().Done():
				return
			case <-keepAlive.C:
				_, err = fmt.Fprint(w, ": keep-alive\n\n")
			case ev := <-events:
				if ev.Seq <= lastSeq {
					continue
				}
				body, _ := json.Marshal(ev) // an Event always encodes
				_, err = fmt.Fprintf(w, "id: %d\nevent: alert\ndata: %s\n\n", ev.Seq, body)
			}
			if err != nil || rc.Flush() != nil {
				return
			}
		}
	})
}
