package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"rampart/internal/testenv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	ctx := testenv.Chromium(t, 90*time.Second)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", testenv.ChromiumPath, err)
	}
	return ctx
}

// openPage serves h, starts the browser and opens path on it, waiting
// until the element sel is visible.
func openPage(t *testing.T, h http.Handler, path, sel string) context.Context {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+path),
		chromedp.WaitVisible(chromedp.CSS(sel)),
	); err != nil {
		t.Fatalf("load page: %v", err)
	}
	return ctx
}

const rowNamesJS = `[...document.querySelectorAll('#latency tbody tr.row td.name')].map(td => td.textContent)`

func TestLatencyPageInBrowser(t *testing.T) {
	ctx := openPage(t, newFixture(t).mux, "/debug/latency", `#latency`)
	byMax, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](rowNamesJS))
	if err != nil {
		t.Fatalf("read rows: %v", err)
	}
	if !slices.Equal(byMax, wantByMax) {
		t.Errorf("rows = %q, want by max %q", byMax, wantByMax)
	}
	// The SVG plot of the top row has loaded and has its size.
	plotWidth, err := chromedp.Run(ctx, chromedp.Poll[int](
		`(() => { const i = document.getElementById('plot'); return i && i.complete ? i.naturalWidth : 0 })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || plotWidth != plotW {
		t.Errorf("plot natural width = %d (%v), want %d: the SVG did not render", plotWidth, err, plotW)
	}
	if path := os.Getenv("RAMPART_BROWSER_SCREENSHOT"); path != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(path, png, 0o644)
		}
	}

	// Clicking a column header sorts by it (a plain link: no JavaScript).
	for _, tc := range []struct {
		key  string
		want []string
	}{
		{"name", slices.Sorted(slices.Values(wantByMax))},
		{"calls", []string{"GET /api/v1/state", "POST /api/v1/actions", "action:build", "autosave", "s3:get"}},
		{"max", wantByMax},
	} {
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`th a[data-sort="`+tc.key+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`th.sorted a[data-sort="`+tc.key+`"]`)),
		); err != nil {
			t.Fatalf("click %s header: %v", tc.key, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](rowNamesJS))
		if err != nil {
			t.Fatalf("read rows: %v", err)
		}
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatalf("location: %v", err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after clicking %s: rows %q, want %q", tc.key, got, tc.want)
		}
		if tc.key != "max" && !strings.Contains(loc, "sort="+tc.key) {
			t.Errorf("after clicking %s: location %s, want ?sort=%s", tc.key, loc, tc.key)
		}
	}

	// The reset button posts, and the page comes back empty.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#reset button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#latency tbody tr.row`)),
	); err != nil {
		t.Fatalf("reset: %v", err)
	}
	empty, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#latency tbody`)))
	if err != nil {
		t.Fatalf("read table: %v", err)
	}
	if !strings.Contains(empty, "Nothing recorded") {
		t.Errorf("after reset the table says %q, want nothing recorded", empty)
	}
}

func TestBookkeepersPageInBrowser(t *testing.T) {
	ctx := openPage(t, newKeeperFixture(t).mux, "/debug/bookkeepers", `#bookkeepers`)
	keepers, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#bookkeepers tbody tr.keeper td.name')].map(td => td.textContent)`))
	if err != nil {
		t.Fatalf("read rows: %v", err)
	}
	if want := []string{"s3", "mongo", "idle"}; !slices.Equal(keepers, want) {
		t.Errorf("bookkeepers %q, want %q", keepers, want)
	}
	ops, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#inflight tbody tr')].map(tr => tr.cells[1].textContent)`))
	if err != nil {
		t.Fatalf("read in flight: %v", err)
	}
	if want := []string{"s3:put", "mongo:save", "s3:get"}; !slices.Equal(ops, want) {
		t.Errorf("in flight %q, want oldest first %q", ops, want)
	}
	// Missing is 0 everywhere, so nothing is red.
	red, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#bookkeepers td.missing-nonzero').length`))
	if err != nil || red != 0 {
		t.Errorf("%d red missing cells (%v), want 0", red, err)
	}
}
