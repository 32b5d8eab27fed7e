package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"ms":      fmtMs,
	"total":   fmtTotal,
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
	"when":    fmtWhen,
	"since":   func(t, now time.Time) string { return fmtSpan(now.Sub(t)) },
	"span":    fmtSpan,
	"value":   fmtValue,
	"notzero": func(t time.Time) bool { return !t.IsZero() },
	"loadpct": func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"agems":   fmtAgeMS,
	"limit":   fmtLimit,
	"errrate": fmtErrorRate,
	"until":   fmtUntil,
}).ParseFS(templateFS, "templates/*.html"))

// Pages builds the debug pages with the server's logger: a page that
// fails (a template bug, a client gone mid-write) logs through it. The
// package-level constructors (Latency, Alerts, ...) are the same pages
// logging to slog.Default().
type Pages struct {
	log *slog.Logger
}

// NewPages returns the pages logging to log (nil: slog.Default()).
func NewPages(log *slog.Logger) *Pages { return &Pages{log: log} }

// logger is the pages' logger; nil-safe so the package-level constructors
// can pass a nil *Pages.
func (pg *Pages) logger() *slog.Logger {
	if pg == nil || pg.log == nil {
		return slog.Default()
	}
	return pg.log
}

// Section is one group of links on the /debug/ index, and optionally of
// key/value figures read when the page is served (tsweb's debug KVs):
// counters with no page of their own, such as the WebSocket's slow clients
// closed and sockets replaced.
type Section struct {
	Title  string
	Links  []Link
	Values []KV
}

// KV is one figure on the index: Value is called on every request, must
// not block, and returns something fmt prints well (a number, a string, a
// time.Duration) or encoding/json encodes for ?format=json.
type KV struct {
	Key   string
	Value func() any
}

// KVFunc is a KV.
func KVFunc(key string, value func() any) KV { return KV{Key: key, Value: value} }

// IndexJSON is the /debug/?format=json document: each section's title,
// links and figures.
type IndexJSON struct {
	Sections []IndexSectionJSON `json:"sections"`
}

// IndexSectionJSON is one section of IndexJSON; Values keep their order in
// Keys.
type IndexSectionJSON struct {
	Title  string         `json:"title"`
	Links  []Link         `json:"links"`
	Keys   []string       `json:"keys,omitempty"`
	Values map[string]any `json:"values,omitempty"`
}

// Link is one debug page.
type Link struct {
	Href        string `json:"href"` // absolute ("/debug/latency") or relative to /debug/
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Index is Pages.Index logging to slog.Default().
func Index(sections ...Section) http.Handler { return (*Pages)(nil).Index(sections...) }

type indexSection struct {
	Title  string
	Links  []Link
	Values []kvRow
}

type kvRow struct {
	Key   string
	Value any
}

// Index is the /debug/ index page listing sections of links and figures,
// so pages added later (/debug/bookkeepers, /debug/players, /debug/pprof/)
// appear by passing them here; ?format=json gives IndexJSON. Mount at GET
// /debug/.
func (pg *Pages) Index(sections ...Section) http.Handler {
	sections = append([]Section(nil), sections...)
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		secs := make([]indexSection, len(sections))
		for i, s := range sections {
			secs[i] = indexSection{Title: s.Title, Links: s.Links}
			for _, kv := range s.Values {
				secs[i].Values = append(secs[i].Values, kvRow{kv.Key, kv.Value()})
			}
		}
		if wantJSON(r) {
			doc := IndexJSON{Sections: make([]IndexSectionJSON, len(secs))}
			for i, s := range secs {
				js := IndexSectionJSON{Title: s.Title, Links: s.Links}
				if js.Links == nil {
					js.Links = []Link{}
				}
				if len(s.Values) > 0 {
					js.Values = map[string]any{}
				}
				for _, kv := range s.Values {
					js.Keys = append(js.Keys, kv.Key)
					js.Values[kv.Key] = kv.Value
				}
				doc.Sections[i] = js
			}
			return writeJSON(w, http.StatusOK, doc)
		}
		return render(w, "index.html", struct{ Sections []indexSection }{secs})
	})
}

// handler adapts a handler that returns an error: the error is logged
// through the pages' logger and becomes a 500 with no internal detail
// (pages render into a buffer, so nothing has been written yet).
func (pg *Pages) handler(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	log := pg.logger()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			log.ErrorContext(r.Context(), "debug page", "path", r.URL.Path, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	})
}

// render executes a template into a buffer, then writes it with headers
// that keep the page self-contained.
func render(w http.ResponseWriter, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	_, err := w.Write(buf.Bytes())
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// wantJSON is ?format=json, or an Accept header asking for JSON only.
func wantJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "text/html" || mt == "*/*") {
			return false
		}
	}
	return strings.Contains(accept, "application/json")
}

// sameOrigin rejects cross-site form posts: a page elsewhere must not be
// able to reset the table through an operator's browser.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// basePath is the page's own path without a trailing slash, so links to
// sub-pages work wherever the router mounts it.
func basePath(r *http.Request) string { return strings.TrimSuffix(r.URL.Path, "/") }

// maxRefresh bounds ?refresh=: an hour.
const maxRefresh = 3600

// refreshChoices are the auto-refresh periods every page offers, in
// seconds (0: off).
var refreshChoices = []int{0, 2, 5, 10, 30}

// parseRefresh is ?refresh=seconds, at most maxRefresh; 0 (off) when
// absent or not a positive number.
func parseRefresh(v url.Values) int {
	if n, err := strconv.Atoi(v.Get("refresh")); err == nil && n > 0 {
		return min(n, maxRefresh)
	}
	return 0
}

// setRefresh is parseRefresh's inverse: it puts ?refresh=n in v, or
// nothing when n is 0 (off).
func setRefresh(v url.Values, n int) {
	if n > 0 {
		v.Set("refresh", strconv.Itoa(n))
	}
}

// refreshLinks are the auto-refresh choices for a page refreshing every
// current seconds; urlFor is the page's URL refreshing every n.
func refreshLinks(current int, urlFor func(n int) string) []link {
	links := make([]link, 0, len(refreshChoices))
	for _, n := range refreshChoices {
		title := "off"
		if n > 0 {
			title = strconv.Itoa(n) + "s"
		}
		links = append(links, link{Title: title, URL: urlFor(n), Current: current == n})
	}
	return links
}

// withQuery is base with the query v, or base alone when v is empty.
func withQuery(base string, v url.Values) string {
	if len(v) == 0 {
		return base
	}
	return base + "?" + v.Encode()
}

// withParam adds k=v to a URL that may already have a query.
func withParam(u, k, v string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v)
}

func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "0 ms"
	case ms < 0.1:
		return fmt.Sprintf("%.3f ms", ms)
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.1f ms", ms)
	}
}

func fmtTotal(d time.Duration) string {
	if d < time.Second {
		return fmtMs(d)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtSpan(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

func fmtValue(v float64, unit string) string {
	s := fmt.Sprintf("%.1f", v)
	switch unit {
	case "":
		return s
	case "%":
		return s + "%"
	default:
		return s + " " + unit
	}
}
