package web

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strings"
	"time"

	"rampart/profiler"
)

const (
	plotW, plotH                   = 760, 360
	padL, padR, padT, padB float64 = 80, 24, 44, 48
)

// plotSVG draws a percentile plot: latency (y, linear) against percentile
// on a "nines" axis (x = log10(1/(1-q)), so 90%, 99%, 99.9% are evenly
// spaced) — the usual HdrHistogram picture, where the tail is visible.
func plotSVG(d profiler.Distribution, hardLimit time.Duration) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, plotW, plotH, plotW, plotH)
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>`)
	title := d.Name + " — latency by percentile, " + map[bool]string{true: "last minute", false: "since start"}[d.Period == profiler.Recent]
	if d.Name == "" {
		title = "no row chosen"
	}
	fmt.Fprintf(&b, `<text x="%g" y="20" font-size="14" font-weight="bold">%s</text>`, padL, html.EscapeString(title))

	if len(d.Points) == 0 {
		msg := "no measurements"
		if d.Calls == 0 && d.Max == 0 && d.Name != "" && d.Name != "ALL" {
			msg = "no measurements for this row"
		}
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d" text-anchor="middle" fill="#666">%s</text></svg>`, plotW/2, plotH/2, msg)
		return b.Bytes()
	}
	fmt.Fprintf(&b, `<text x="%g" y="36" fill="#555">%d calls, max %s</text>`, padL, d.Calls, fmtMs(d.Max))

	// x: nines up to the last finite percentile, at least 99.9%.
	nines := func(pct float64) float64 { return -math.Log10(1 - pct/100) }
	xmax := 3.0
	for _, p := range d.Points {
		if p.Percentile < 100 {
			xmax = max(xmax, math.Ceil(nines(p.Percentile)-1e-9))
		}
	}
	ymax, step := niceScale(d.Max)
	pw, ph := float64(plotW)-padL-padR, float64(plotH)-padT-padB
	X := func(n float64) float64 { return padL + pw*min(n, xmax)/xmax }
	Y := func(v time.Duration) float64 { return padT + ph*(1-float64(v)/float64(ymax)) }

	// Grid and axes.
	b.WriteString(`<g stroke="#ddd">`)
	for v := time.Duration(0); v <= ymax; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, padL+pw, Y(v), Y(v))
	}
	for n := 0.0; n <= xmax; n++ {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, X(n), X(n), padT, padT+ph)
	}
	b.WriteString(`</g><g fill="#333">`)
	for v := time.Duration(0); v <= ymax; v += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-6, Y(v)+4, fmtMs(v))
	}
	for n := 0.0; n <= xmax; n++ {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, X(n), padT+ph+18, ninesLabel(n))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">percentile</text>`, padL+pw/2, padT+ph+38)
	b.WriteString(`</g>`)

	if hardLimit > 0 && hardLimit <= ymax {
		fmt.Fprintf(&b, `<line class="limit" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/>`, padL, padL+pw, Y(hardLimit), Y(hardLimit))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#c00" text-anchor="end">hard limit %s</text>`, padL+pw-4, Y(hardLimit)-4, fmtMs(hardLimit))
	}

	// The curve: a step up at each percentile, ending at the max.
	var path strings.Builder
	for i, p := range d.Points {
		x := xmax
		if p.Percentile < 100 {
			x = nines(p.Percentile)
		}
		if i == 0 {
			fmt.Fprintf(&path, "M%.1f %.1f", X(x), Y(p.Value))
			continue
		}
		fmt.Fprintf(&path, " H%.1f V%.1f", X(x), Y(p.Value))
	}
	fmt.Fprintf(&b, `<path class="curve" d="%s" fill="none" stroke="#1f5fbf" stroke-width="2"/>`, path.String())
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// niceScale returns an axis top ≥ v and a tick step of 1, 2 or 5 × 10^k
// with about five ticks.
func niceScale(v time.Duration) (top, step time.Duration) {
	v = max(v, time.Microsecond)
	raw := float64(v) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	s := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			s = m * mag
			break
		}
	}
	step = time.Duration(s)
	top = time.Duration(math.Ceil(float64(v)/s) * s)
	return top, step
}

func ninesLabel(n float64) string {
	if n == 0 {
		return "0%"
	}
	pct := 100 * (1 - math.Pow(10, -n))
	return fmt.Sprintf("%.*f%%", max(0, int(n)-2), pct)
}
