package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rampart/bookkeeper"
	"rampart/profiler"
)

// collector turns the sources' snapshots into const metrics at scrape
// time.
type collector struct {
	src Sources
	exp *profiler.Exporter // nil without a profiler
	le  []float64          // exp's bounds in seconds

	duration, recentMax, inFlight                 *prometheus.Desc
	outcomes, breaches                            *prometheus.Desc
	hardLimit, overLimit, oldestFlight, untracked *prometheus.Desc
	load, loadRecent, schedP99                    *prometheus.Desc
	alertFiring, alertValue                       *prometheus.Desc
	notifyDropped, notifyFailed                   *prometheus.Desc
	bk                                            []bkDesc
}

// bkDesc is one bookkeeper series, read from its Stats.
type bkDesc struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(s *bkStats) float64
}

func newCollector(src Sources) *collector {
	c := &collector{src: src}
	if p := src.Profiler; p != nil {
		bounds := src.Buckets
		if bounds == nil {
			bounds = DefaultBuckets
		}
		if hl := p.HardLimit(); hl > 0 && !slices.Contains(bounds, hl) {
			bounds = append(slices.Clone(bounds), hl)
		}
		c.exp = p.NewExporter(bounds)
		for _, b := range c.exp.Bounds() {
			c.le = append(c.le, b.Seconds())
		}
	}
	rk := []string{"route", "kind"}
	d := prometheus.NewDesc
	c.duration = d("rampart_request_duration_seconds", "Latency per entry point, from the profiler's HDR histograms (since start or the last reset of the table).", rk, nil)
	c.recentMax = d("rampart_request_duration_max_seconds", "Slowest measurement per entry point over the profiler's recent window (the last minute).", rk, nil)
	c.inFlight = d("rampart_requests_in_flight", "Measurements begun and not yet ended, per entry point.", rk, nil)
	c.outcomes = d("rampart_request_outcomes_total", "Requests that did not succeed, per route: aborted (the client went away, 499), client_error (4xx), server_error (5xx).", []string{"route", "outcome"}, nil)
	c.breaches = d("rampart_request_hard_limit_breaches_total", "Requests that took longer than the hard limit, per route.", []string{"route"}, nil)
	c.hardLimit = d("rampart_request_hard_limit_seconds", "The latency no request may exceed.", nil, nil)
	c.overLimit = d("rampart_requests_over_hard_limit_in_flight", "Requests still running past the hard limit.", nil, nil)
	c.oldestFlight = d("rampart_request_oldest_in_flight_seconds", "Age of the oldest measurement in flight (0: none).", nil, nil)
	c.untracked = d("rampart_requests_in_flight_untracked_total", "Measurements that found the in-flight table full and ran unlisted.", nil, nil)
	c.load = d("rampart_unhalted_load_ratio", "Unhalted load: process CPU over GOMAXPROCS × wall time, over the sampler's window (10 s).", nil, nil)
	c.loadRecent = d("rampart_unhalted_load_recent_ratio", "Unhalted load over the last sample interval (1 s); the built-in alert watches it.", nil, nil)
	c.schedP99 = d("rampart_sched_latency_p99_seconds", "99th percentile of how long runnable goroutines waited for a thread, over the sampler's window.", nil, nil)
	c.alertFiring = d("rampart_alert_firing", "1 while the built-in alert rule is firing.", []string{"rule"}, nil)
	c.alertValue = d("rampart_alert_value", "The built-in alert rule's value at its last evaluation, in the rule's unit.", []string{"rule"}, nil)
	c.notifyDropped = d("rampart_alert_notifications_dropped_total", "Alert webhook notifications dropped: queue full.", nil, nil)
	c.notifyFailed = d("rampart_alert_notifications_failed_total", "Alert webhook notifications that failed.", nil, nil)

	ch := []string{"channel"}
	bk := func(name, help string, typ prometheus.ValueType, v func(s *bkStats) float64) {
		c.bk = append(c.bk, bkDesc{d("rampart_bookkeeper_"+name, help, ch, nil), typ, v})
	}
	ctr, gge := prometheus.CounterValue, prometheus.GaugeValue
	bk("accepted_total", "Calls handed to the bookkeeper, dropped ones included.", ctr, func(s *bkStats) float64 { return float64(s.Accepted) })
	bk("attempted_total", "Tries started.", ctr, func(s *bkStats) float64 { return float64(s.Attempted) })
	bk("ok_total", "Calls that landed successfully.", ctr, func(s *bkStats) float64 { return float64(s.OK) })
	bk("errors_total", "Calls that landed with an error after their last try.", ctr, func(s *bkStats) float64 { return float64(s.Errors) })
	bk("retries_total", "Tries retried after a retryable error.", ctr, func(s *bkStats) float64 { return float64(s.Retries) })
	bk("dropped_total", "Calls dropped because the queue was full.", ctr, func(s *bkStats) float64 { return float64(s.Dropped) })
	bk("cancelled_total", "Calls whose caller's context ended first.", ctr, func(s *bkStats) float64 { return float64(s.Cancelled) })
	bk("in_queue", "Calls waiting for a concurrency slot.", gge, func(s *bkStats) float64 { return float64(s.InQueue) })
	bk("on_wire", "Tries running now.", gge, func(s *bkStats) float64 { return float64(s.OnWire) })
	bk("waiting_for_retry", "Calls in backoff before their next try.", gge, func(s *bkStats) float64 { return float64(s.WaitingForRetry) })
	bk("missing", "Accepted calls in no state: anything but 0 is a bookkeeping leak.", gge, func(s *bkStats) float64 { return float64(s.Missing) })
	bk("queue_limit", "Queue limit (0: none).", gge, func(s *bkStats) float64 { return float64(s.QueueLimit) })
	bk("concurrency_limit", "Tries allowed at once (0: no limit).", gge, func(s *bkStats) float64 { return float64(s.Concurrency) })
	bk("oldest_age_seconds", "Age of the oldest call in flight, since it was accepted.", gge, func(s *bkStats) float64 { return float64(s.OldestAgeMS) / 1e3 })
	bk("longest_try_seconds", "Age of the oldest try on the wire.", gge, func(s *bkStats) float64 { return float64(s.LongestTryMS) / 1e3 })
	bk("recent_tries", "Tries that ended in the last 10 s (bookkeeper.RateWindow).", gge, func(s *bkStats) float64 { return float64(s.RecentTries) })
	bk("recent_errors", "Of the recent tries, those that failed.", gge, func(s *bkStats) float64 { return float64(s.RecentErrors) })
	return c
}

// Describe sends every fixed descriptor.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.duration, c.recentMax, c.inFlight, c.outcomes, c.breaches, c.hardLimit,
		c.overLimit, c.oldestFlight, c.untracked, c.load, c.loadRecent, c.schedP99, c.alertFiring, c.alertValue,
		c.notifyDropped, c.notifyFailed} {
		ch <- d
	}
	for _, b := range c.bk {
		ch <- b.desc
	}
}

// Collect reads each source once.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	cm := prometheus.MustNewConstMetric
	if c.exp != nil {
		c.collectProfiler(ch)
	}
	if s := c.src.Sampler; s != nil {
		if l := s.Load(); l.Valid {
			ch <- cm(c.load, prometheus.GaugeValue, l.Unhalted)
			ch <- cm(c.loadRecent, prometheus.GaugeValue, l.Recent)
			ch <- cm(c.schedP99, prometheus.GaugeValue, l.SchedP99.Seconds())
		}
	}
	if a := c.src.Alerts; a != nil {
		snap := a.Snapshot()
		for _, r := range snap.Rules {
			firing := 0.0
			if r.State == profiler.StateFiring {
				firing = 1
			}
			ch <- cm(c.alertFiring, prometheus.GaugeValue, firing, r.Name)
			ch <- cm(c.alertValue, prometheus.GaugeValue, r.Value, r.Name)
		}
		ch <- cm(c.notifyDropped, prometheus.CounterValue, float64(snap.NotifyDropped))
		ch <- cm(c.notifyFailed, prometheus.CounterValue, float64(snap.NotifyFailed))
	}
	if reg := c.src.Keepers; reg != nil {
		for _, s := range reg.Stats() {
			for _, b := range c.bk {
				ch <- cm(b.desc, b.typ, b.value(&s), s.Name)
			}
		}
	}
}

func (c *collector) collectProfiler(ch chan<- prometheus.Metric) {
	cm := prometheus.MustNewConstMetric
	p := c.src.Profiler
	var over int
	var oldest time.Duration
	for _, r := range c.exp.Export() {
		kind := "internal"
		if r.Request {
			kind = "request"
		}
		buckets := make(map[float64]uint64, len(c.le))
		for i, le := range c.le {
			buckets[le] = r.Cumulative[i]
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, r.Count, r.Sum.Seconds(), buckets, r.Name, kind)
		ch <- cm(c.recentMax, prometheus.GaugeValue, r.RecentMax.Seconds(), r.Name, kind)
		ch <- cm(c.inFlight, prometheus.GaugeValue, float64(r.InFlight), r.Name, kind)
		oldest = max(oldest, r.OldestInFlight)
		if !r.Request {
			continue
		}
		over += r.OverLimit
		ch <- cm(c.outcomes, prometheus.CounterValue, float64(r.Aborted), r.Name, "aborted")
		ch <- cm(c.outcomes, prometheus.CounterValue, float64(r.ClientErrors), r.Name, "client_error")
		ch <- cm(c.outcomes, prometheus.CounterValue, float64(r.ServerErrors), r.Name, "server_error")
		ch <- cm(c.breaches, prometheus.CounterValue, float64(r.Breaches), r.Name)
	}
	ch <- cm(c.hardLimit, prometheus.GaugeValue, p.HardLimit().Seconds())
	ch <- cm(c.overLimit, prometheus.GaugeValue, float64(over))
	ch <- cm(c.oldestFlight, prometheus.GaugeValue, oldest.Seconds())
	ch <- cm(c.untracked, prometheus.CounterValue, float64(p.InFlight(0).Untracked))
}

// bkStats is a bookkeeper snapshot; a local name keeps the series table short.
type bkStats = bookkeeper.Stats
