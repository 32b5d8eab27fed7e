// Package metrics owns GET /metrics: the Prometheus text exposition of the
// profiler's latency table, the bookkeepers, unhalted load, the alerts,
// the Go runtime and the process, plus whatever counters and gauges the
// wiring registers, all read at scrape time.
//
// Nothing here is on a hot path. Latency comes from the profiler only (no
// second clock read per request): at each scrape a profiler.Exporter folds
// every row's since-reset HDR histogram into fixed buckets (DefaultBuckets,
// plus the hard limit) and the collector hands them to Prometheus as a
// histogram. Bookkeeper figures come from the same Stats snapshots the
// /debug/bookkeepers page serves, alert states from the engine's Snapshot.
//
// # Series
//
// Labels are bounded by construction: route is a profiler row name (chi
// route patterns and fixed internal names, never a raw path or a player
// id), channel a bookkeeper name, rule an alert rule name. The wiring's own
// labelled series are declared one by one with fixed label values
// (FuncVec.Func), at most MaxSeriesPerVec per name.
//
//	rampart_request_duration_seconds{route,kind}      histogram, since start or the last reset of the table
//	rampart_request_duration_max_seconds{route,kind}  gauge: the max over the recent window (last minute)
//	rampart_requests_in_flight{route,kind}            gauge: begun and not ended
//	rampart_request_outcomes_total{route,outcome}     counter, request rows: aborted (499), client_error, server_error
//	rampart_request_hard_limit_breaches_total{route}  counter, request rows
//	rampart_request_hard_limit_seconds                gauge
//	rampart_requests_over_hard_limit_in_flight        gauge: still running past the hard limit
//	rampart_request_oldest_in_flight_seconds          gauge
//	rampart_requests_in_flight_untracked_total        counter: the in-flight table was full
//	rampart_unhalted_load_ratio                       gauge, 0–1, over the sampler's window (10 s)
//	rampart_unhalted_load_recent_ratio                gauge, 0–1, over the last sample (1 s)
//	rampart_sched_latency_p99_seconds                 gauge
//	rampart_alert_firing{rule}, rampart_alert_value{rule}
//	rampart_alert_notifications_dropped_total, rampart_alert_notifications_failed_total
//	rampart_bookkeeper_{accepted,attempted,ok,errors,retries,dropped,cancelled}_total{channel}
//	rampart_bookkeeper_{in_queue,on_wire,waiting_for_retry,missing}{channel}
//	rampart_bookkeeper_{queue_limit,concurrency_limit}{channel}   0: none
//	rampart_bookkeeper_{oldest_age,longest_try}_seconds{channel}
//	rampart_bookkeeper_recent_{tries,errors}{channel}              tries ended in the last 10 s, and failed
//	go_*, process_*                                    client_golang's collectors
//
// kind is "request" for client requests (profiler.Options.IsRequest) and
// "internal" for the rest (actions, S3 phases, autosave). The histogram's
// counts restart from 0 after POST /debug/latency/reset, which Prometheus'
// rate() reads as a counter reset.
//
// # Cost
//
// A scrape of 100 routes that have all recorded, 3 bookkeepers and 14
// alert rules (BenchmarkScrape: go test -run '^$' -bench Scrape
// -benchtime=30x ./metrics) takes 6.5–7.3 ms of wall time on the shared
// 2-core box (about 5 ms of CPU, most of it client_golang's text
// encoding), 1 MB and 17,900 allocations, for a 264 KB body: at one scrape
// every 5 s, about 0.1% of a core. Recording pays nothing for it.
//
// deploy/prometheus/rules.yml holds alerting rules mirroring the built-in
// alerts over these series; deploy/grafana/ a dashboard over them.
package metrics
