package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

var dashboardPath = filepath.Join("..", "deploy", "grafana", "rampart.json")

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
	Templ  struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type    string                   `json:"type"`
	Title   string                   `json:"title"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// registerWiring registers the wiring's series the way cmd/rampart will
// (names.go), with fixed label sets.
func registerWiring(m *Metrics) {
	zero := func() float64 { return 0 }
	for _, g := range []string{PlayersOnline, PlayersConnected, PlayersLoading, JournalBytes, WSOpen} {
		m.GaugeFunc(g, "wired gauge", zero)
	}
	for _, c := range []string{SavesTotal, SaveErrorsTotal, LostOwnershipTotal, JournalAppendsTotal, JournalSyncsTotal, WSSlowClosedTotal, WSReplacedTotal} {
		m.CounterFunc(c, "wired counter", zero)
	}
	v := m.CounterVec(SignInsTotal, "sign-ins", "kind", "result")
	for _, kind := range []string{"password", "token", "refresh", "guest"} {
		for _, result := range []string{"ok", "bad_credentials", "locked", "banned", "error"} {
			v.Func(zero, kind, result)
		}
	}
	m.CounterVec(RateLimitedTotal, "rate limited", "scope").Func(zero, "player").Func(zero, "address")
}

// quoted and matchers are stripped before looking for metric names:
// label values and label names are not metrics.
var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	metricName = regexp.MustCompile(`\b(?:rampart|go|process)_[a-zA-Z0-9_]+\b`)
)

// metricNames are the metric names a PromQL expression uses.
func metricNames(expr string) []string {
	e := matchers.ReplaceAllString(quoted.ReplaceAllString(expr, `""`), "{}")
	return metricName.FindAllString(e, -1)
}

// missingNames are the names used by exprs that no family in s serves (a
// histogram serves its _bucket, _count and _sum).
func missingNames(s scrape, exprs []string) []string {
	var missing []string
	for _, e := range exprs {
		for _, n := range metricNames(e) {
			if s[n] != nil {
				continue
			}
			found := false
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				if base, ok := strings.CutSuffix(n, suf); ok && s[base] != nil && s[base].GetType() == dto.MetricType_HISTOGRAM {
					found = true
				}
			}
			if !found && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	return missing
}

func loadDashboard(t *testing.T) (dashboard, []string) {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templ.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	return d, exprs
}

func TestDashboardMetricsExist(t *testing.T) {
	d, exprs := loadDashboard(t)
	if d.UID == "" || d.Title == "" || len(exprs) < 20 {
		t.Fatalf("dashboard %q (uid %q) with %d queries, want a title, a uid and its queries", d.Title, d.UID, len(exprs))
	}
	f := newFixture(t)
	registerWiring(f.m)
	s := f.scrape(t)
	if missing := missingNames(s, exprs); len(missing) > 0 {
		t.Errorf("the dashboard queries %v, which a scrape does not serve (have %v)", missing, s.names())
	}
	used := 0
	for _, e := range exprs {
		used += len(metricNames(e))
	}
	if used < len(exprs) {
		t.Errorf("%d metric names in %d queries: the name extraction is broken", used, len(exprs))
	}

	// The checker itself: a name the scrape lacks is reported, label
	// names and values are not names, histogram suffixes resolve.
	tests := []struct {
		expr string
		want []string
	}{
		{`rate(rampart_nope_total[1m])`, []string{"rampart_nope_total"}},
		{`sum by (le) (rate(rampart_request_duration_seconds_bucket{route="rampart_fake"}[1m]))`, nil},
		{`rampart_request_duration_seconds_total`, []string{"rampart_request_duration_seconds_total"}},
		{`rampart_bookkeeper_on_wire{channel="s3"} / rampart_bookkeeper_queue_limit`, nil},
	}
	for _, tc := range tests {
		if got := missingNames(s, []string{tc.expr}); !slices.Equal(got, tc.want) {
			t.Errorf("missing in %s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestDashboardLayout(t *testing.T) {
	d, _ := loadDashboard(t)
	for _, p := range d.Panels {
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q at x=%d w=%d: outside Grafana's 24 columns", p.Title, p.GridPos.X, p.GridPos.W)
		}
		if p.Type == "row" {
			continue
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: target %+v, want an expr and a unique refId", p.Title, tg)
			}
			refs[tg.RefID] = true
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
	}
}

// TestDashboardQueriesParse has promtool parse every dashboard query, as
// recording rules, with Grafana's variables filled in.
func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	_, all := loadDashboard(t)
	var exprs []string
	for _, e := range all {
		if !strings.HasPrefix(e, "label_values(") { // Grafana's, not PromQL
			exprs = append(exprs, e)
		}
	}
	fill := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(fill.Replace(e)) // a JSON string is a YAML string
		b.WriteString("      - record: dashboard:q" + strconv.Itoa(i) + "\n        expr: " + string(q) + "\n")
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: "+strconv.Itoa(len(exprs))+" rules found") {
		t.Errorf("promtool check rules on the dashboard's %d queries: %v\n%s", len(exprs), err, out)
	}
}
