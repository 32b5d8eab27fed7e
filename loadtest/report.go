package loadtest

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of a run. Durations in JSON are milliseconds.
type Report struct {
	Target    string  `json:"target"`
	Transport string  `json:"transport"`
	Mix       string  `json:"mix"`
	Seed      uint64  `json:"seed"`
	Players   int     `json:"players"`
	Conns     int     `json:"conns"`
	APM       float64 `json:"apm"`
	// GameData is the version of the game data players chose moves from;
	// empty when they played blind.
	GameData string `json:"gamedata,omitempty"`
	// Elapsed runs from the first login to the end of the drain; Run is
	// the planned (or interrupted) playing part that rates are over.
	ElapsedS    float64 `json:"elapsed_s"`
	RunS        float64 `json:"run_s"`
	PeakOnline  int64   `json:"peak_online"`
	Interrupted bool    `json:"interrupted,omitempty"`
	Aborted     bool    `json:"aborted,omitempty"`

	Requests         map[string]int64     `json:"requests"`
	RequestsPerS     float64              `json:"requests_per_s"`
	Actions          int64                `json:"actions"` // actions answered
	ActionsPerS      float64              `json:"actions_per_s"`
	Latency          map[string]Latency   `json:"latency_ms"`
	Lag              Latency              `json:"schedule_lag_ms"`
	Dials            int64                `json:"dials"`
	HTTPErrors       map[string]int64     `json:"http_errors"`
	TransportErrors  map[string]int64     `json:"transport_errors"`
	ActionFailures   map[string]int64     `json:"action_failures"`
	ExpectedFailures map[string]int64     `json:"expected_failures"`
	Moves            map[string]kindCount `json:"moves"`
	Events           map[string]int64     `json:"events,omitempty"`
	// Resends counts the client's resends after a lost reply or a 429/503
	// (the same seqs; the server answers applied ones duplicate).
	Resends int64 `json:"client_resends"`
	// Refused counts the attempts answered 429 or 503 that the client
	// waited out (Retry-After) and resent. A 429 is a player past its
	// budget (--rate-limit): throughput and latency then hold the
	// budget's waits, not only the server's work.
	Refused int64 `json:"client_refused"`
	// ReSignins counts fresh device sign-ins of a player whose session
	// was lost while it played (a 401 on a live session: its server went
	// away), by why; not errors.
	ReSignins map[string]int64 `json:"resignins,omitempty"`

	Prediction PredictionReport `json:"prediction"`
	Ledger     LedgerReport     `json:"ledger"`

	// AllOnlineS is when every player was first online at once, seconds
	// after the first login started (0: never).
	AllOnlineS float64 `json:"all_online_s,omitempty"`
	// Server is what the server reported (--server-stats).
	Server *ServerReport `json:"server,omitempty"`
}

// Latency summarizes one HDR histogram, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// PredictionReport is how the served answers compared with the real
// rules (package actions) run on each player's local base.
type PredictionReport struct {
	// Batches and Actions were answered and held against the rules.
	Batches int64 `json:"batches"`
	Actions int64 `json:"actions"`
	// Unpredicted counts actions answered while the local base was not
	// the server's (new game data, an action the server cannot run), by why.
	Unpredicted map[string]int64 `json:"unpredicted,omitempty"`
	// Divergences are answers, or states read back, that the rules did
	// not predict: each is also a ledger problem, and fails the run.
	Divergences int64 `json:"divergences"`
	// External counts divergences a re-read explained: a raid on the base
	// or an async result had changed it.
	External int64 `json:"explained_by_raids_or_async"`
	// StateChecks is state reads held against the predicted base.
	StateChecks int64 `json:"state_checks"`
	// ReReads counts state reads (GET /api/v1/player) by why: where
	// prediction is impossible (async results, pushed changes), after a
	// lost answer, and the profile's own re-reads.
	ReReads map[string]int64 `json:"rereads,omitempty"`
}

// LedgerReport is the outcome of the ledger checks.
type LedgerReport struct {
	// Checked players were read back after their final logout.
	Checked int `json:"checked"`
	// NeverOnline players never got a session, so have nothing to check.
	NeverOnline int `json:"never_online,omitempty"`
	// Mismatches is players with at least one problem.
	Mismatches int `json:"mismatches"`
	// Reads is state reads held against a ledger (logins, refreshes, the
	// final check); Resends is resent seqs checked to come back duplicate.
	Reads   int64 `json:"reads"`
	Resends int64 `json:"resends"`
	// Acknowledged is fresh results over all players.
	Acknowledged int64 `json:"acknowledged"`
	// Problems lists the first problems found, "player: what".
	Problems []string `json:"problems,omitempty"`
}

const maxReportProblems = 20

func summarize(h *hdrhistogram.Histogram) Latency {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

func addAll(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// report gathers the shards, workers and players once every worker has
// stopped.
func (r *runner) report(end time.Time, interrupted, aborted bool) *Report {
	cfg := r.cfg
	rep := &Report{
		Target: cfg.Target, Transport: cfg.Transport, Mix: cfg.Mix, Seed: cfg.Seed,
		Players: cfg.Players, Conns: cfg.Conns, APM: cfg.APM,
		ElapsedS:         end.Sub(r.t0).Seconds(),
		PeakOnline:       r.peak.Load(),
		Interrupted:      interrupted,
		Aborted:          aborted,
		Requests:         map[string]int64{},
		Latency:          map[string]Latency{},
		HTTPErrors:       map[string]int64{},
		TransportErrors:  map[string]int64{},
		ActionFailures:   map[string]int64{},
		ExpectedFailures: map[string]int64{},
		Moves:            map[string]kindCount{},
		ReSignins:        map[string]int64{},
		Prediction:       PredictionReport{Unpredicted: map[string]int64{}, ReReads: map[string]int64{}},
	}
	var lat [nOps]*hdrhistogram.Histogram
	for i := range lat {
		lat[i] = newHist()
	}
	lag := newHist()
	var total int64
	for _, s := range r.shards {
		s.mu.Lock()
		for i := range lat {
			lat[i].Merge(s.lat[i])
			rep.Requests[opNames[i]] += s.requests[i]
			total += s.requests[i]
		}
		lag.Merge(s.lag)
		rep.Actions += s.actionsSent
		rep.Ledger.Acknowledged += s.actionsAck
		addAll(rep.HTTPErrors, s.httpErrors)
		addAll(rep.TransportErrors, s.netErrors)
		addAll(rep.ActionFailures, s.actFail)
		addAll(rep.ExpectedFailures, s.expectFail)
		addAll(rep.ReSignins, s.resignins)
		addAll(rep.Prediction.Unpredicted, s.unpredicted)
		addAll(rep.Prediction.ReReads, s.rereads)
		rep.Prediction.Batches += s.predictedBatches
		rep.Prediction.Actions += s.predicted
		rep.Prediction.Divergences += s.divergences
		rep.Prediction.External += s.external
		rep.Prediction.StateChecks += s.stateChecks
		for k, c := range s.kinds {
			m := rep.Moves[k]
			m.Sent += c.Sent
			m.OK += c.OK
			m.Failed += c.Failed
			m.Duplicate += c.Duplicate
			m.Pending += c.Pending
			rep.Moves[k] = m
		}
		s.mu.Unlock()
	}
	for i := range lat {
		if lat[i].TotalCount() > 0 {
			rep.Latency[opNames[i]] = summarize(lat[i])
		}
	}
	rep.Lag = summarize(lag)
	cs := r.client.Stats()
	rep.Dials = cs.HTTPDials + cs.WSDials
	rep.Resends = cs.Resends
	rep.Refused = cs.Refused
	r.eventsMu.Lock()
	rep.Events = maps.Clone(r.events)
	r.eventsMu.Unlock()

	runEnd := r.stoppedAt
	if runEnd.IsZero() || runEnd.After(end) {
		runEnd = end
	}
	rep.RunS = runEnd.Sub(r.t0).Seconds()
	if el := rep.ElapsedS; el > 0 {
		rep.RequestsPerS = float64(total) / el
	}
	if rs := rep.RunS; rs > 0 {
		rep.ActionsPerS = float64(rep.Actions) / rs
	}

	for _, p := range r.players {
		l := &p.led
		rep.Ledger.Reads += l.reads
		rep.Ledger.Resends += l.dupChecks
		switch {
		case !p.everOnline:
			rep.Ledger.NeverOnline++
		case p.phase == phaseDone && cfg.Verify:
			rep.Ledger.Checked++
		}
		if l.nProblems > 0 {
			rep.Ledger.Mismatches++
			for _, pr := range l.problems {
				if len(rep.Ledger.Problems) < maxReportProblems {
					rep.Ledger.Problems = append(rep.Ledger.Problems, p.id+": "+pr)
				}
			}
		}
	}
	return rep
}

// WriteText writes the report for people.
func (rep *Report) WriteText(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "loadtest %s over %s, mix %s, seed %d: %d players, %d conns, %.0f actions/player/min\n",
		rep.Target, rep.Transport, rep.Mix, rep.Seed, rep.Players, rep.Conns, rep.APM)
	if rep.GameData != "" {
		fmt.Fprintf(&b, "game data %s\n", rep.GameData)
	}
	fmt.Fprintf(&b, "elapsed %.1fs (playing %.1fs), peak online %d", rep.ElapsedS, rep.RunS, rep.PeakOnline)
	if rep.Interrupted {
		b.WriteString(", interrupted")
	}
	if rep.Aborted {
		b.WriteString(", drain ABORTED")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "throughput: %.0f requests/s, %.0f actions/s (%d actions, %d connections opened, %d client resends)\n",
		rep.RequestsPerS, rep.ActionsPerS, rep.Actions, rep.Dials, rep.Resends)
	if rep.Refused > 0 {
		fmt.Fprintf(&b, "!!! REFUSED: %d attempts were answered 429 rate_limited or 503 and resent after Retry-After: the figures hold those waits;\n", rep.Refused)
		fmt.Fprintf(&b, "!!! a 429 is a player past its --rate-limit, so they are NOT the server's alone (spread the load over more --players)\n")
	}
	if rep.AllOnlineS > 0 {
		fmt.Fprintf(&b, "all %d players online %.2fs after the first login started\n", rep.Players, rep.AllOnlineS)
	}

	b.WriteString("\nlatency (ms)      count      mean       p50       p90       p99     p99.9       max\n")
	for _, name := range opNames {
		l, ok := rep.Latency[name]
		if !ok {
			continue
		}
		writeLatency(&b, name, l)
	}
	if rep.Lag.Count > 0 {
		writeLatency(&b, "schedule lag", rep.Lag)
	}

	writeCounts(&b, "HTTP errors", rep.HTTPErrors)
	writeCounts(&b, "transport errors", rep.TransportErrors)
	writeCounts(&b, "action failures (valid moves)", rep.ActionFailures)
	writeCounts(&b, "expected failures (invalid moves)", rep.ExpectedFailures)
	writeCounts(&b, "events", rep.Events)

	if len(rep.Moves) > 0 {
		b.WriteString("\nmoves                          sent        ok    failed       dup\n")
		for _, k := range slices.Sorted(maps.Keys(rep.Moves)) {
			m := rep.Moves[k]
			fmt.Fprintf(&b, "  %-24s %10d %9d %9d %9d\n", k, m.Sent, m.OK, m.Failed, m.Duplicate)
		}
	}
	writeCounts(&b, "re-signins (session lost while playing; not errors)", rep.ReSignins)
	pr := rep.Prediction
	fmt.Fprintf(&b, "\nprediction (real rules on each player's base): %d batches, %d actions held against the rules, %d state reads checked; %d divergences, %d explained by raids or async results\n",
		pr.Batches, pr.Actions, pr.StateChecks, pr.Divergences, pr.External)
	writeCounts(&b, "actions not predicted", pr.Unpredicted)
	writeCounts(&b, "re-reads", pr.ReReads)

	if rep.Server != nil {
		rep.Server.writeText(&b)
	}

	l := rep.Ledger
	verdict := "OK"
	switch {
	case l.Mismatches > 0:
		verdict = "MISMATCH"
	case l.Checked == 0:
		verdict = "NOT CHECKED"
	}
	fmt.Fprintf(&b, "\nledger %s: %d players checked after logout, %d with problems", verdict, l.Checked, l.Mismatches)
	if l.NeverOnline > 0 {
		fmt.Fprintf(&b, ", %d never logged in", l.NeverOnline)
	}
	fmt.Fprintf(&b, "; %d actions acknowledged, %d state reads and %d resends checked\n", l.Acknowledged, l.Reads, l.Resends)
	for _, p := range l.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	io.WriteString(w, b.String())
}

func writeLatency(b *strings.Builder, name string, l Latency) {
	fmt.Fprintf(b, "  %-14s %8d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, l.Count, l.Mean, l.P50, l.P90, l.P99, l.P999, l.Max)
}

func writeCounts(b *strings.Builder, title string, m map[string]int64) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	keys := slices.SortedFunc(maps.Keys(m), func(x, y string) int {
		if m[x] != m[y] {
			return cmp.Compare(m[y], m[x])
		}
		return strings.Compare(x, y)
	})
	for _, k := range keys {
		fmt.Fprintf(b, "  %-32s %d\n", k, m[k])
	}
}

func (s *ServerReport) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "\nserver, over the window of %.1fs", s.WindowS)
	if s.Start != nil {
		fmt.Fprintf(b, " from %.1fs (%d online)", s.Start.AtS, s.Start.Online)
	}
	b.WriteString(":\n")
	fmt.Fprintf(b, "  actions %d (%.0f/s)", s.ActionsInWindow, s.ActionsPerS)
	if s.CPULoadPct > 0 {
		fmt.Fprintf(b, ", CPU load %.1f%% of %d core(s), %.1f µs CPU per action", s.CPULoadPct, max(s.GOMAXPROCS, 1), s.CPUPerActionUs)
	}
	b.WriteString("\n")
	if len(s.LoadSamples) > 0 {
		fmt.Fprintf(b, "  unhalted load (10 s) max %.1f%%, samples %v\n", s.LoadMaxPct, s.LoadSamples)
	}
	if len(s.SchedP99Ms) > 0 {
		fmt.Fprintf(b, "  scheduling latency p99 (10 s) max %.3f ms, samples %v\n", s.SchedP99MaxMs, s.SchedP99Ms)
	}
	fmt.Fprintf(b, "  requests: worst p99 %.3f ms (%s), worst max %.3f ms (%s)\n", s.WorstP99Ms, s.WorstP99Row, s.WorstMaxMs, s.WorstMaxRow)
	fmt.Fprintf(b, "  ALL row: %d calls, p99 %.3f ms, max %.3f ms\n", s.All.Calls, s.All.P99Ms, s.All.MaxMs)
	if len(s.Rows) > 0 {
		b.WriteString("  row                                        calls    avg ms    p99 ms    max ms  total %\n")
		for _, r := range s.Rows {
			if r.Calls == 0 {
				continue
			}
			fmt.Fprintf(b, "  %-38s %10d %9.4f %9.3f %9.3f %8.1f\n", r.Name, r.Calls, r.AvgMs, r.P99Ms, r.MaxMs, r.TotalPc)
		}
	}
	for _, snap := range []struct {
		name string
		s    *ServerSnapshot
	}{{"before", s.Before}, {"window start", s.Start}, {"window end", s.End}} {
		if snap.s == nil || (snap.s.RSSKiB == 0 && snap.s.HeapAlloc == 0) {
			continue
		}
		fmt.Fprintf(b, "  %-12s at %6.1fs online %6d  RSS %8.1f MiB  heap %8.1f MiB  stack %7.1f MiB  goroutines %d\n",
			snap.name, snap.s.AtS, snap.s.Online, float64(snap.s.RSSKiB)/1024, float64(snap.s.HeapAlloc)/(1<<20),
			float64(snap.s.StackInuse)/(1<<20), snap.s.Goroutines)
	}
	if s.HeapPerPlayerB != 0 || s.RSSPerPlayerB != 0 {
		fmt.Fprintf(b, "  per online player: heap %.0f B + stack %.0f B = %.0f B; RSS %.0f B; goroutines %.2f\n",
			s.HeapPerPlayerB, s.StackPerPlayerB, s.HeapPerPlayerB+s.StackPerPlayerB, s.RSSPerPlayerB, s.GoroutinesPer)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(b, "  error: %s\n", e)
	}
}
