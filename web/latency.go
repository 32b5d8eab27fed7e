package web

import (
	"net/http"
	"net/url"
	"strconv"
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
	GOMAXPROCS          int      `json:"gomaxprocs,omitempty"`
	AvgRequestMs        float64  `json:"avg_request_ms"`
	HardLimitMs         float64  `json:"hard_limit_ms"`
	HardLimitBreaches   uint64   `json:"hard_limit_breaches"`

	All  RowJSON   `json:"all"`
	Rows []RowJSON `json:"rows"`
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
}

func rowJSON(s profiler.Stats) RowJSON {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return RowJSON{Name: s.Name, Request: s.Request, Calls: s.Calls, AvgMs: ms(s.Avg), P50Ms: ms(s.P50), P95Ms: ms(s.P95),
		P99Ms: ms(s.P99), P999Ms: ms(s.P999), MaxMs: ms(s.Max), TotalS: s.Total.Seconds(), TotalPct: s.TotalPct}
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
	if n, err := strconv.Atoi(v.Get("refresh")); err == nil && n > 0 {
		q.Refresh = min(n, 3600)
	}
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
	if q.Refresh > 0 {
		v.Set("refresh", strconv.Itoa(q.Refresh))
	}
	if len(v) == 0 {
		return base
	}
	return base + "?" + v.Encode()
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

// Latency is the latency table page, /debug/latency: sortable (?sort=max
// (default), avg, p50, p95, p99, p999, total, calls, name), filterable by
// name (?q=), two periods (?period=start (default) or recent), optional
// auto-refresh (?refresh=seconds), the percentile plot of one row (?row=),
// and ?format=json. sampler may be nil (the load then shows as n/a).
// Mount at GET /debug/latency; LatencyPlot and LatencyReset go below it.
func Latency(p *profiler.Profiler, sampler *profiler.Sampler) http.Handler {
	return handler(func(w http.ResponseWriter, r *http.Request) error {
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
				doc.Rows = append(doc.Rows, rowJSON(s))
			}
			return writeJSON(w, http.StatusOK, doc)
		}

		base := basePath(r)
		pg := latencyPage{Q: q, Base: base, Table: tab, Rows: rows, Load: load, HasLoad: load.Valid,
			HardLimit: p.HardLimit(), Breaches: p.Breaches(), RowURLs: map[string]string{},
			ResetURL: base + "/reset"}
		pg.JSONURL = withParam(q.url(base, nil), "format", "json")
		for _, k := range sortKeys {
			c := column{Key: k, Title: columnTitles[k]}
			if k != "" {
				c.Sorted, c.URL = k == q.Sort, q.url(base, func(q *latencyQuery) { q.Sort = k })
			}
			pg.Columns = append(pg.Columns, c)
		}
		for _, per := range []struct {
			p     profiler.Period
			title string
		}{{profiler.SinceReset, "since start"}, {profiler.Recent, "last minute"}} {
			pg.Periods = append(pg.Periods, link{Title: per.title, Current: q.Period == per.p,
				URL: q.url(base, func(q *latencyQuery) { q.Period = per.p })})
		}
		for _, n := range []int{0, 2, 5, 10, 30} {
			title := "off"
			if n > 0 {
				title = strconv.Itoa(n) + "s"
			}
			pg.Refreshes = append(pg.Refreshes, link{Title: title, Current: q.Refresh == n,
				URL: q.url(base, func(q *latencyQuery) { q.Refresh = n })})
		}
		for _, s := range rows {
			pg.RowURLs[s.Name] = q.url(base, func(q *latencyQuery) { q.Row = s.Name })
		}
		pg.RowURLs["ALL"] = q.url(base, func(q *latencyQuery) { q.Row = "ALL" })
		pg.PlotRow = q.Row
		if pg.PlotRow == "" && len(rows) > 0 {
			pg.PlotRow = rows[0].Name
		}
		if pg.PlotRow != "" {
			v := url.Values{"row": {pg.PlotRow}}
			if q.Period != profiler.SinceReset {
				v.Set("period", q.Period.String())
			}
			pg.PlotURL = base + "/plot.svg?" + v.Encode()
		}
		return render(w, "latency.html", pg)
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

// LatencyReset empties the table (both periods) on POST and redirects back
// to the page (303), or answers JSON with ?format=json. It refuses other
// methods (405) and cross-site posts (403). Mount at POST
// /debug/latency/reset.
func LatencyReset(p *profiler.Profiler) http.Handler {
	return handler(func(w http.ResponseWriter, r *http.Request) error {
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

// LatencyPlot draws the percentile distribution of one row (?row=NAME, or
// ALL; ?period=start|recent) as SVG, server-side. Mount at GET
// /debug/latency/plot.svg.
func LatencyPlot(p *profiler.Profiler) http.Handler {
	return handler(func(w http.ResponseWriter, r *http.Request) error {
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
