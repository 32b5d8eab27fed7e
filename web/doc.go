// Package web owns the HTML pages: the /debug/ pages and the browser client.
// It reads snapshots; it never mutates game state.
//
// Every page is a method of Pages (built with the server's logger, which
// receives the errors of failing pages) returning an http.Handler; the
// package-level functions of the same names are those pages logging to
// slog.Default(). The router mounts them (and guards /debug/ for loopback
// or the admin token):
//
//	GET  /debug/                  Index(sections...): links, and KV figures read per request
//	GET  /debug/latency           Latency(profiler, sampler)
//	POST /debug/latency/reset     LatencyReset(profiler)
//	GET  /debug/latency/plot.svg  LatencyPlot(profiler)
//	GET  /debug/alerts            Alerts(alerts)
//	GET  /debug/alerts/stream     AlertStream(alerts)
//	GET  /debug/bookkeepers       Bookkeepers(registry)
//	GET  /debug/players           Players(store.Players, store.OnlineCount)
//
// Pages take a snapshot (a copy made under the profiler's, a bookkeeper's
// or a player's short lock), then render it into a buffer with html/template and no lock held,
// in the style of golang.org/x/net/trace. They use no JavaScript and no
// external assets: sorting, filtering, the period and auto-refresh are
// links and GET forms, the plot is SVG drawn on the server. Links to
// sub-pages are built from the request path, so they follow wherever the
// pages are mounted, as long as the sub-pages sit below their page.
package web
