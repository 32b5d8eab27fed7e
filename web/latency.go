package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"rampart/profiler"
)

// LatencyJSON is the /debug/latency?format=json document: the same rows,
// sort and filter as the page.
type LatencyJSON struct {
	Period      string    `json:"period"` // "start" or "recent"
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	WallSeconds float64   `json:"wall_seconds"`
	Sort        string    `json:"sort"`
	Filter      string    `json:"filter,omitempty"`

	// Unhalted load over the sampler's window (see package profiler).
	UnhaltedLoadPct     *float64 `json:"unhalted_load_pct"` // null until the sampler has two samples
	UnhaltedLoadSeconds float64  `json:"unhalted_load_window_seconds"`
	SchedLatencyP99Ms   *float64 `json:"sched_latency_p99_ms"`
	GOMAXPROCS          int      `json:"gomaxprocs,omitempty"` // the CPUs the load is over: GOMAXPROCS, at most the CPUs the process may use
	AvgRequestMs        float64  `json:"avg_request_ms"`
	HardLimitMs         float64  `json:"hard_limit_ms"`
	HardLimitBreaches   uint64   `json:"hard_limit_breaches"`

	All  RowJSON   `json:"all"`
	Rows []RowJSON `json:"rows"`

	// InFlight is what has begun (profiler Row.Begin) and not ended: a
	// hung request shows here before it is recorded.
	InFlight InFlightJSON `json:"in_flight"`
}

// InFlightJSON counts the measurements running now and lists the oldest.
type InFlightJSON struct {
	Total     int          `json:"total"`
	Untracked uint64       `json:"untracked"` // since start: the in-flight table was full
	Oldest    []FlightJSON `json:"oldest"`    // oldest first, at most InFlightListLimit
}

// FlightJSON is one measurement in flight.
type FlightJSON struct {
	Name          string    `json:"name"`
	Request       bool      `json:"request"`
	Started       time.Time `json:"started"`
	AgeMs         float64   `json:"age_ms"`
	OverHardLimit bool      `json:"over_hard_limit"`
}

// InFlightListLimit is how many in-flight measurements the page lists.
const InFlightListLimit = 20

func inFlightJSON(p *profiler.Profiler) InFlightJSON {
	rep := p.InFlight(InFlightListLimit)
	doc := InFlightJSON{Total: rep.Total, Untracked: rep.Untracked, Oldest: make([]FlightJSON, len(rep.Oldest))}
	hl := p.HardLimit()
	for i, f := range rep.Oldest {
		doc.Oldest[i] = FlightJSON{Name: f.Name, Request: f.Request, Started: f.Started, AgeMs: float64(f.Age) / 1e6,
			OverHardLimit: f.Request && hl > 0 && f.Age > hl}
	}
	return doc
}

// RowJSON is one row; durations in milliseconds, total in seconds.
type RowJSON struct {
	Name     string  `json:"name"`
	Request  bool    `json:"request"`
	Calls    int64   `json:"calls"`
	AvgMs    float64 `json:"avg_ms"`
	P50Ms    float64 `json:"p50_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p999_ms"`
	MaxMs    float64 `json:"max_ms"`
	TotalS   float64 `json:"total_s"`
	TotalPct float64 `json:"total_pct"`
	// Outcomes since start, request rows only (profiler Row.RecordStatus).
	Aborted      uint64 `json:"aborted,omitempty"`
	ClientErrors uint64 `json:"client_errors,omitempty"`
	ServerErrors uint64 `json:"server_errors,omitempty"`
}

func rowJSON(s profiler.Stats) RowJSON {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return RowJSON{Name: s.Name, Request: s.Request, Calls: s.Calls, AvgMs: ms(s.Avg), P50Ms: ms(s.P50), P95Ms: ms(s.P95),
		P99Ms: ms(s.P99), P999Ms: ms(s.P999), MaxMs: ms(s.Max), TotalS: s.Total.Seconds(), TotalPct: s.TotalPct}
}

// withOutcomes adds a request row's outcomes (the row exists: it is in a
// snapshot).
func withOutcomes(p *profiler.Profiler, j RowJSON) RowJSON {
	if j.Request {
		o := p.Row(j.Name).Outcomes()
		j.Aborted, j.ClientErrors, j.ServerErrors = o.Aborted, o.ClientErrors, o.ServerErrors
	}
	return j
}

// sortKeys are the ?sort= values, in column order ("" is Total %, which
// sorts like total).
var sortKeys = []string{"name", "avg", "p50", "p95", "p99", "p999", "max", "total", "", "calls"}

// latencyQuery is the page's state, all in the URL so it works without
// JavaScript and can be bookmarked.
type latencyQuery struct {
	Sort    string
	Period  profiler.Period
	Filter  string
	Row     string // plotted row
	Refresh int    // seconds; 0: off
}

func parseLatencyQuery(r *http.Request) latencyQuery {
	v := r.URL.Query()
	q := latencyQuery{Sort: "max", Filter: strings.TrimSpace(v.Get("q")), Row: v.Get("row")}
	for _, k := range sortKeys {
		if k != "" && v.Get("sort") == k {
			q.Sort = k
		}
	}
	q.Period, _ = profiler.ParsePeriod(v.Get("period"))
	q.Refresh = parseRefresh(v)
	return q
}

// url is the page's URL with some fields changed.
func (q latencyQuery) url(base string, change func(*latencyQuery)) string {
	if change != nil {
		change(&q)
	}
	v := url.Values{}
	if q.Sort != "max" {
		v.Set("sort", q.Sort)
	}
	if q.Period != profiler.SinceReset {
		v.Set("period", q.Period.String())
	}
	if q.Filter != "" {
		v.Set("q", q.Filter)
	}
	if q.Row != "" {
		v.Set("row", q.Row)
	}
	setRefresh(v, q.Refresh)
	return withQuery(base, v)
}

type latencyPage struct {
	Q         latencyQuery
	Base      string
	Table     profiler.Table
	Rows      []profiler.Stats
	Load      profiler.Load
	HasLoad   bool
	HardLimit time.Duration
	Breaches  uint64
	Columns   []column
	Periods   []link
	Refreshes []link
	PlotRow   string
	PlotURL   string
	RowURLs   map[string]string
	ResetURL  string
	JSONURL   string
	InFlight  InFlightJSON
}

type column struct {
	Key, Title, URL string
	Sorted          bool
}

type link struct {
	Title, URL string
	Current    bool
}

var columnTitles = map[string]string{"name": "Request", "calls": "#Calls", "avg": "Average", "p50": "p50", "p95": "p95",
	"p99": "p99", "p999": "p99.9", "max": "Max", "total": "Total", "": "Total %"}

// Latency is Pages.Latency logging to slog.Default().
func Latency(p *profiler.Profiler, sampler *profiler.Sampler) http.Handler {
	return (*Pages)(nil).Latency(p, sampler)
}

// Latency is the latency table page, /debug/latency: sortable (?sort=max
// (default), avg, p50, p95, p99, p999, total, calls, name), filterable by
// name (?q=), two periods (?period=start (default) or recent), optional
// auto-refresh (?refresh=seconds), the percentile plot of one row (?row=),
// and ?format=json. sampler may be nil (the load then shows as n/a).
// Mount at GET /debug/latency; LatencyPlot and LatencyReset go below it.
func (pg *Pages) Latency(p *profiler.Profiler, sampler *profiler.Sampler) http.Handler {
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		q := parseLatencyQuery(r)
		tab := p.Snapshot(q.Period) // a copy: rendering below holds no lock
		rows := filterRows(tab.Rows, q.Filter)
		profiler.SortRows(rows, q.Sort)
		var load profiler.Load
		if sampler != nil {
			load = sampler.Load()
		}

		if wantJSON(r) {
			doc := LatencyJSON{Period: q.Period.String(), From: tab.From, To: tab.To, WallSeconds: tab.Wall().Seconds(),
				Sort: q.Sort, Filter: q.Filter, All: rowJSON(tab.All), Rows: make([]RowJSON, 0, len(rows)),
				AvgRequestMs: float64(tab.Requests.Avg) / 1e6, HardLimitMs: float64(p.HardLimit()) / 1e6,
				HardLimitBreaches: p.Breaches()}
			if load.Valid {
				pct, sched := load.Unhalted*100, float64(load.SchedP99)/1e6
				doc.UnhaltedLoadPct, doc.SchedLatencyP99Ms = &pct, &sched
				doc.UnhaltedLoadSeconds, doc.GOMAXPROCS = load.Span.Seconds(), load.Procs
			}
			for _, s := range rows {
				doc.Rows = append(doc.Rows, withOutcomes(p, rowJSON(s)))
			}
			doc.InFlight = inFlightJSON(p)
			return writeJSON(w, http.StatusOK, doc)
		}

		base := basePath(r)
		page := latencyPage{Q: q, Base: base, Table: tab, Rows: rows, Load: load, HasLoad: load.Valid,
			HardLimit: p.HardLimit(), Breaches: p.Breaches(), RowURLs: map[string]string{},
			ResetURL: base + "/reset"}
		page.JSONURL = withParam(q.url(base, nil), "format", "json")
		page.InFlight = inFlightJSON(p)
		for _, k := range sortKeys {
			c := column{Key: k, Title: columnTitles[k]}
			if k != "" {
				c.Sorted, c.URL = k == q.Sort, q.url(base, func(q *latencyQuery) { q.Sort = k })
			}
			page.Columns = append(page.Columns, c)
		}
		for _, per := range []struct {
			p     profiler.Period
			title string
		}{{profiler.SinceReset, "since start"}, {profiler.Recent, "last minute"}} {
			page.Periods = append(page.Periods, link{Title: per.title, Current: q.Period == per.p,
				URL: q.url(base, func(q *latencyQuery) { q.Period = per.p })})
		}
		page.Refreshes = refreshLinks(q.Refresh, func(n int) string {
			return q.url(base, func(q *latencyQuery) { q.Refresh = n })
		})
		for _, s := range rows {
			page.RowURLs[s.Name] = q.url(base, func(q *latencyQuery) { q.Row = s.Name })
		}
		page.RowURLs["ALL"] = q.url(base, func(q *latencyQuery) { q.Row = "ALL" })
		page.PlotRow = q.Row
		if page.PlotRow == "" && len(rows) > 0 {
			page.PlotRow = rows[0].Name
		}
		if page.PlotRow != "" {
			v := url.Values{"row": {page.PlotRow}}
			if q.Period != profiler.SinceReset {
				v.Set("period", q.Period.String())
			}
			page.PlotURL = base + "/plot.svg?" + v.Encode()
		}
		return render(w, "latency.html", page)
	})
}

func filterRows(rows []profiler.Stats, filter string) []profiler.Stats {
	if filter == "" {
		return rows
	}
	f := strings.ToLower(filter)
	out := rows[:0:0]
	for _, s := range rows {
		if strings.Contains(strings.ToLower(s.Name), f) {
			out = append(out, s)
		}
	}
	return out
}

// LatencyReset is Pages.LatencyReset logging to slog.Default().
func LatencyReset(p *profiler.Profiler) http.Handler { return (*Pages)(nil).LatencyReset(p) }

// LatencyReset empties the table (both periods) on POST and redirects back
// to the page (303), or answers JSON with ?format=json. It refuses other
// methods (405) and cross-site posts (403). Mount at POST
// /debug/latency/reset.
func (pg *Pages) LatencyReset(p *profiler.Profiler) http.Handler {
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "reset needs POST", http.StatusMethodNotAllowed)
			return nil
		}
		if !sameOrigin(r) {
			http.Error(w, "cross-site reset refused", http.StatusForbidden)
			return nil
		}
		p.Reset()
		if wantJSON(r) {
			return writeJSON(w, http.StatusOK, struct {
				Reset bool `json:"reset"`
			}{true})
		}
		back, ok := strings.CutSuffix(basePath(r), "/reset")
		if !ok || back == "" {
			back = "/debug/latency"
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	})
}

// LatencyPlot is Pages.LatencyPlot logging to slog.Default().
func LatencyPlot(p *profiler.Profiler) http.Handler { return (*Pages)(nil).LatencyPlot(p) }

// LatencyPlot draws the percentile distribution of one row (?row=NAME, or
// ALL; ?period=start|recent) as SVG, server-side. Mount at GET
// /debug/latency/plot.svg.
func (pg *Pages) LatencyPlot(p *profiler.Profiler) http.Handler {
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		v := r.URL.Query()
		period, _ := profiler.ParsePeriod(v.Get("period"))
		name := v.Get("row")
		status := http.StatusOK
		d, ok := p.Distribution(name, period)
		if !ok {
			status = http.StatusNotFound
		}
		svg := plotSVG(d, p.HardLimit())
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.WriteHeader(status)
		_, err := w.Write(svg)
		return err
	})
}
