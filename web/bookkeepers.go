package web

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"rampart/bookkeeper"
)

// BookkeepersJSON is the /debug/bookkeepers?format=json document: every
// bookkeeper's snapshot in registration order.
type BookkeepersJSON struct {
	Bookkeepers []bookkeeper.Stats `json:"bookkeepers"`
}

type bookkeepersPage struct {
	Keepers    []bookkeeper.Stats
	InFlight   []inFlightRow // every keeper's, oldest first
	Omitted    int           // in flight beyond bookkeeper.StatsInFlightLimit, summed
	ListLimit  int           // bookkeeper.StatsInFlightLimit
	RateWindow time.Duration
	Refresh    int
	Refreshes  []link
	JSONURL    string
}

// inFlightRow is one call not yet landed, with its bookkeeper's name.
type inFlightRow struct {
	Keeper string
	bookkeeper.InFlight
}

// Bookkeepers is Pages.Bookkeepers logging to slog.Default().
func Bookkeepers(reg *bookkeeper.Registry) http.Handler { return (*Pages)(nil).Bookkeepers(reg) }

// Bookkeepers is the bookkeepers page, after Battlehouse's AsyncHTTP page:
// one row of counters, gauges and limits per bookkeeper, Missing in red
// when it is not 0 (a leak in the accounting), then every call in flight,
// oldest first. ?format=json gives BookkeepersJSON; ?refresh=seconds
// reloads the page. Mount at GET /debug/bookkeepers.
func (pg *Pages) Bookkeepers(reg *bookkeeper.Registry) http.Handler {
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		stats := reg.Stats() // copies, each taken under its keeper's short lock
		if wantJSON(r) {
			if stats == nil {
				stats = []bookkeeper.Stats{}
			}
			return writeJSON(w, http.StatusOK, BookkeepersJSON{Bookkeepers: stats})
		}
		return renderBookkeepers(w, basePath(r), stats, parseRefresh(r.URL.Query()))
	})
}

// renderBookkeepers writes the HTML page for stats; base is the page's path.
func renderBookkeepers(w http.ResponseWriter, base string, stats []bookkeeper.Stats, refresh int) error {
	page := bookkeepersPage{Keepers: stats, Refresh: refresh, JSONURL: base + "?format=json",
		ListLimit: bookkeeper.StatsInFlightLimit, RateWindow: bookkeeper.RateWindow}
	for _, s := range stats {
		for _, it := range s.InFlight {
			page.InFlight = append(page.InFlight, inFlightRow{Keeper: s.Name, InFlight: it})
		}
		page.Omitted += s.InFlightOmitted
	}
	slices.SortStableFunc(page.InFlight, func(a, b inFlightRow) int { return cmp.Compare(b.AgeMS, a.AgeMS) })
	page.Refreshes = refreshLinks(refresh, func(n int) string {
		v := url.Values{}
		setRefresh(v, n)
		return withQuery(base, v)
	})
	return render(w, "bookkeepers.html", page)
}

// fmtAgeMS is a span given in milliseconds.
func fmtAgeMS(ms int64) string { return fmtSpan(time.Duration(ms) * time.Millisecond) }

// fmtLimit is a limit where 0 means none.
func fmtLimit(n int) string {
	if n <= 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

// fmtErrorRate is the share of recent tries that failed, with the counts.
func fmtErrorRate(errs, tries int) string {
	if tries == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%% (%d/%d)", 100*float64(errs)/float64(tries), errs, tries)
}
