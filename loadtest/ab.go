package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"rampart/client"
)

// A/B mixes compare two kinds of request on the same server, the same
// connections and the same run. Every worker owns one logged-in player and
// its connections and sends back to back (closed loop, no think time), so
// the server is saturated. Time is cut into slices (--slice) that
// alternate between side A and side B; each slice's completions count for
// the side it belongs to. Alternating slices rather than running A and
// then B keeps slow drifts (other processes on the machine, the heap
// growing) out of the comparison.
//
// With --server-pid the server's CPU time is read at every slice boundary,
// so each side also gets its server CPU per request and thus its rate per
// server core, which stays right when the generator, not the server, is
// what limits a side.
//
//	healthz-vs-ping  A: GET /healthz           B: POST /api/v1/actions with one ping
//	http-vs-ws       A: one ping over HTTP      B: one ping over the player's WebSocket
//	target-vs-b      A: one ping to --target    B: one ping to --target-b
//
// target-vs-b compares two servers on the same core, say one with
// --profiler=false: each is loaded only in its own slices, so both see the
// same machine at nearly the same moments, which restarting one server
// between runs cannot give on a shared machine. --server-pid-b reads the
// second server's CPU.
var abMixes = map[string][2]string{
	"healthz-vs-ping": {"healthz", "ping"},
	"http-vs-ws":      {"http ping", "ws ping"},
	"target-vs-b":     {"target", "target-b"},
}

func isAB(mix string) bool { _, ok := abMixes[mix]; return ok }

// ABSide is one side of an A/B run.
type ABSide struct {
	Name string `json:"name"`
	// Requests completed in this side's slices (the first two slices and
	// the last are warm-up and cool-down and left out).
	Requests int64 `json:"requests"`
	// RatePerS is the median over this side's slices of requests per
	// second; RatesPerS lists every slice.
	RatePerS  float64   `json:"rate_per_s"`
	RatesPerS []float64 `json:"slice_rates_per_s"`
	// ServerCPUPct is the median share of one core the server used in
	// this side's slices (--server-pid).
	ServerCPUPct float64 `json:"server_cpu_pct,omitempty"`
	// ServerCPUPerReqUs is the median server CPU per request; PerCorePerS
	// is 1e6 / that: requests per second one fully busy server core
	// answers.
	ServerCPUPerReqUs float64 `json:"server_cpu_per_request_us,omitempty"`
	PerCorePerS       float64 `json:"per_core_per_s,omitempty"`
	Latency           Latency `json:"latency_ms"`
	Errors            int64   `json:"errors"`
}

// ABReport is the outcome of an A/B run.
type ABReport struct {
	Target   string    `json:"target"`
	Mix      string    `json:"mix"`
	Conns    int       `json:"conns"`
	SliceS   float64   `json:"slice_s"`
	RunS     float64   `json:"run_s"`
	A        ABSide    `json:"a"`
	B        ABSide    `json:"b"`
	Ratio    float64   `json:"ratio"`                    // B rate / A rate
	CoreRat  float64   `json:"per_core_ratio,omitempty"` // B per core / A per core
	Checked  int       `json:"ledger_checked"`
	Problems []string  `json:"problems,omitempty"`
	Server   *ABServer `json:"server,omitempty"`
}

// ABServer is the server's latency table rows of the run.
type ABServer struct {
	Rows   []ServerRow `json:"rows"`
	Errors []string    `json:"errors,omitempty"`
}

type abWorker struct {
	idx    int
	id     string
	device string          // the player's device credential
	a      *client.Session // over HTTP
	ws     *client.Session // the same session on a WebSocket (http-vs-ws)
	seq    int64           // last seq sent and acknowledged
	// The same player on the second server (target-vs-b).
	b       *client.Session
	seqB    int64
	res     []client.Result
	hist    [2]*hdrhistogram.Histogram
	errs    [2]int64
	problem string
}

// abClients are the clients of an A/B run: HTTP to the target, and a
// WebSocket one (http-vs-ws) or HTTP to the second server (target-vs-b).
type abClients struct{ a, ws, b *client.Client }

func newABClients(cfg Config) (abClients, error) {
	var cl abClients
	opts := []client.Option{client.WithRequestTimeout(cfg.Timeout), client.WithUserAgent("rampart-loadtest"), client.WithRawHTTP(cfg.Conns)}
	var err error
	if cl.a, err = client.New(cfg.Target, opts...); err != nil {
		return cl, err
	}
	switch cfg.Mix {
	case "http-vs-ws":
		cl.ws, err = client.New(cfg.Target, append(opts, client.WithTransport(client.WebSocket), client.WithEventFunc(func(*client.Session, client.Event) {}))...)
	case "target-vs-b":
		cl.b, err = client.New(cfg.TargetB, opts...)
	}
	return cl, err
}

// ExecuteAB runs an A/B mix (cfg.Mix is one of abMixes).
func ExecuteAB(ctx context.Context, cfg Config, progress io.Writer) (*ABReport, error) {
	limit, _, _ := FileLimit()
	base, err := cfg.validate(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	if progress == nil {
		progress = io.Discard
	}
	if err := preflight(ctx, base, cfg.Timeout); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	sides := abMixes[cfg.Mix]
	root := base.Scheme + "://" + base.Host
	var baseB *url.URL
	if cfg.Mix == "target-vs-b" {
		if baseB, err = url.Parse(cfg.TargetB); err != nil || baseB.Scheme != "http" || baseB.Host == "" {
			return nil, fmt.Errorf("loadtest: --target-b %q: want an http:// URL", cfg.TargetB)
		}
		if !cfg.AllowRemote {
			if err := requireLoopback(ctx, baseB.Hostname()); err != nil {
				return nil, fmt.Errorf("loadtest: --target-b: %w", err)
			}
		}
		if err := preflight(ctx, baseB, cfg.Timeout); err != nil {
			return nil, fmt.Errorf("loadtest: --target-b: %w", err)
		}
	}
	abort, cancelAbort := context.WithCancel(context.Background())
	defer cancelAbort()
	stopAbort := context.AfterFunc(ctx, cancelAbort)
	defer stopAbort()

	// Log every worker's player in.
	salt := cfg.DeviceSalt
	if salt == "" {
		salt = randomSalt()
	}
	workers := make([]*abWorker, cfg.Conns)
	cl, err := newABClients(cfg)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	defer func() {
		for _, c := range []*client.Client{cl.a, cl.ws, cl.b} {
			if c != nil {
				c.CloseIdleConnections()
			}
		}
	}()
	var lg sync.WaitGroup
	loginErrs := make(chan error, cfg.Conns)
	sem := make(chan struct{}, 64)
	for i := range workers {
		w := &abWorker{idx: i, id: cfg.IDPrefix + "-" + strconv.FormatUint(cfg.Seed, 10) + "-" + strconv.Itoa(i),
			device: deviceID(cfg.IDPrefix+"-"+strconv.FormatUint(cfg.Seed, 10)+"-"+strconv.Itoa(i), salt)}
		w.hist[0], w.hist[1] = newHist(), newHist()
		workers[i] = w
		lg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := w.login(abort, cl); err != nil {
				loginErrs <- fmt.Errorf("player %s: %w", w.id, err)
			}
		})
	}
	lg.Wait()
	close(loginErrs)
	if err := errors.Join(drainErrs(loginErrs)...); err != nil {
		closeAB(workers)
		return nil, fmt.Errorf("loadtest: login: %w", err)
	}

	var watch *serverWatch
	if cfg.ServerStats {
		watch = newServerWatch(root, cfg.ServerPID, false)
		watch.reset(abort)
	}

	slice := cfg.Slice
	nSlices := int(cfg.Duration / slice)
	if nSlices < 4 {
		closeAB(workers)
		return nil, fmt.Errorf("loadtest: duration %v holds %d slices of %v; want at least 4", cfg.Duration, nSlices, slice)
	}
	counts := make([][2]atomic.Int64, nSlices)
	// cpu[ph][k] is the CPU time, at slice boundary k, of the server side
	// ph is sent to (one server unless target-vs-b).
	var cpu [2][]float64
	cpu[0] = make([]float64, nSlices+1)
	cpu[1] = cpu[0]
	pids := [2]int{cfg.ServerPID, cfg.ServerPID}
	if cfg.Mix == "target-vs-b" {
		cpu[1] = make([]float64, nSlices+1)
		pids[1] = cfg.ServerPIDB
	}
	start := time.Now().Add(50 * time.Millisecond)
	end := start.Add(time.Duration(nSlices) * slice)

	// The CPU reader ticks at every slice boundary, and prints progress.
	var bg sync.WaitGroup
	bg.Go(func() {
		for k := 0; k <= nSlices; k++ {
			t := time.NewTimer(time.Until(start.Add(time.Duration(k) * slice)))
			select {
			case <-t.C:
			case <-abort.Done():
				t.Stop()
				return
			}
			for ph := range 2 {
				if pids[ph] > 0 && (ph == 0 || pids[1] != pids[0]) {
					if c, err := procCPU(pids[ph]); err == nil {
						cpu[ph][k] = c
					}
				}
			}
			if k > 0 {
				ph := (k - 1) % 2
				n := counts[k-1][ph].Load()
				line := fmt.Sprintf("%5.1fs slice %d %-9s %8.0f/s", time.Since(start).Seconds(), k-1, sides[ph], float64(n)/slice.Seconds())
				if c := cpu[ph]; pids[ph] > 0 && c[k-1] > 0 {
					line += fmt.Sprintf("  server cpu %3.0f%%", 100*(c[k]-c[k-1])/slice.Seconds())
				}
				fmt.Fprintln(progress, line)
			}
		}
	})

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for {
				now := time.Now()
				if now.Before(start) {
					time.Sleep(start.Sub(now))
					continue
				}
				if !now.Before(end) || abort.Err() != nil {
					return
				}
				k := int(now.Sub(start) / slice)
				ph := k % 2
				ok := w.exchange(abort, cfg, ph)
				done := time.Now()
				if !ok {
					w.errs[ph]++
					time.Sleep(10 * time.Millisecond) // the client's retries are spent: do not spin
					continue
				}
				recordHist(w.hist[ph], done.Sub(now))
				if kd := int(done.Sub(start) / slice); kd < nSlices {
					counts[kd][ph].Add(1)
				}
			}
		})
	}
	wg.Wait()
	bg.Wait()
	rep := &ABReport{Target: cfg.Target, Mix: cfg.Mix, Conns: cfg.Conns, SliceS: slice.Seconds(),
		RunS: end.Sub(start).Seconds()}
	if watch != nil {
		if l, err := watch.latency(abort); err != nil {
			watch.errorf("latency: %v", err)
			rep.Server = &ABServer{Errors: watch.rep.Errors}
		} else {
			rep.Server = &ABServer{Errors: watch.rep.Errors}
			for _, r := range l.Rows {
				if r.Request && r.Calls > 0 {
					rep.Server.Rows = append(rep.Server.Rows, r)
				}
			}
		}
	}

	// Check every player: its last_seq is what it had acknowledged.
	for _, w := range workers {
		w.check(abort, cfg)
		if w.problem != "" {
			if len(rep.Problems) < maxReportProblems {
				rep.Problems = append(rep.Problems, w.id+": "+w.problem)
			}
		} else {
			rep.Checked++
		}
	}
	closeAB(workers)

	for ph, side := range []*ABSide{&rep.A, &rep.B} {
		side.Name = sides[ph]
		h := newHist()
		for _, w := range workers {
			h.Merge(w.hist[ph])
			side.Errors += w.errs[ph]
		}
		side.Latency = summarize(h)
		var cpuPer, load []float64
		for k := 2; k < nSlices-1; k++ {
			if k%2 != ph {
				continue
			}
			n := counts[k][ph].Load()
			side.Requests += n
			side.RatesPerS = append(side.RatesPerS, round1(float64(n)/slice.Seconds()))
			if c := cpu[ph][k+1] - cpu[ph][k]; pids[ph] > 0 && cpu[ph][k] > 0 && n > 0 {
				cpuPer = append(cpuPer, c/float64(n)*1e6)
				load = append(load, 100*c/slice.Seconds())
			}
		}
		side.RatePerS = median(side.RatesPerS)
		if len(cpuPer) > 0 {
			side.ServerCPUPerReqUs = round1(median(cpuPer))
			side.ServerCPUPct = round1(median(load))
			if side.ServerCPUPerReqUs > 0 {
				side.PerCorePerS = float64(int64(1e6 / median(cpuPer)))
			}
		}
	}
	if rep.A.RatePerS > 0 {
		rep.Ratio = float64(int64(1000*rep.B.RatePerS/rep.A.RatePerS)) / 1000
	}
	if rep.A.PerCorePerS > 0 {
		rep.CoreRat = float64(int64(1000*rep.B.PerCorePerS/rep.A.PerCorePerS)) / 1000
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("loadtest: %d players failed the check", len(rep.Problems))
	}
	return rep, nil
}

func drainErrs(ch <-chan error) []error {
	var errs []error
	for e := range ch {
		if len(errs) < 5 {
			errs = append(errs, e)
		}
	}
	return errs
}

func closeAB(workers []*abWorker) {
	for _, w := range workers {
		for _, s := range []*client.Session{w.a, w.ws, w.b} {
			if s != nil {
				s.Close()
			}
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// login logs the worker's player in (over its WebSocket when useWS, so the
// socket is attached) and reads its last_seq.
func (w *abWorker) login(ctx context.Context, cl abClients) error {
	var err error
	if w.a, err = cl.a.SignInDevice(ctx, w.device, true); err != nil {
		return err
	}
	w.seq = w.a.NextSeq() - 1
	if cl.ws != nil {
		// The same session on a socket: both sides play one player.
		if w.ws, err = cl.ws.Resume(ctx, w.a.Token(), w.a.RefreshToken(), client.KnownPlayer(w.a.PlayerID())); err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
	}
	if cl.b != nil {
		if w.b, err = cl.b.SignInDevice(ctx, w.device, true); err != nil {
			return fmt.Errorf("target-b: %w", err)
		}
		w.seqB = w.b.NextSeq() - 1
	}
	return nil
}

// exchange sends one request of side ph and reports whether it got the
// answer it should.
func (w *abWorker) exchange(ctx context.Context, cfg Config, ph int) bool {
	switch {
	case cfg.Mix == "healthz-vs-ping" && ph == 0:
		return w.a.Ping(ctx) == nil // GET /healthz over HTTP
	case w.b != nil && ph == 1:
		return w.ping(ctx, w.b, &w.seqB)
	case w.ws != nil && ph == 1:
		return w.ping(ctx, w.ws, &w.seq)
	}
	return w.ping(ctx, w.a, &w.seq)
}

// ping sends one ping on s with the seq after *last: the HTTP and the
// socket session of http-vs-ws share the player's seqs.
func (w *abWorker) ping(ctx context.Context, s *client.Session, last *int64) bool {
	seq := *last + 1
	var err error
	w.res, err = s.DoSeq(ctx, w.res[:0], seq, client.Action{Name: "ping"})
	if err != nil {
		w.problem = "ping: " + err.Error()
		*last = seq // may have been applied: the check reads it back
		return false
	}
	if len(w.res) != 1 || w.res[0].Seq != seq || !w.res[0].OK || w.res[0].Duplicate {
		w.problem = fmt.Sprintf("ping seq %d: unexpected reply %+v", seq, w.res)
		return false
	}
	*last = seq
	w.problem = ""
	return true
}

// check reads the player back over HTTP: last_seq must be the last
// acknowledged seq. Then it logs out.
func (w *abWorker) check(ctx context.Context, cfg Config) {
	if w.a == nil || w.problem != "" && w.seq == 0 {
		return
	}
	w.problem = ""
	w.checkOn(ctx, cfg, w.a, w.seq, "")
	if w.b != nil && w.problem == "" {
		w.checkOn(ctx, cfg, w.b, w.seqB, "target-b: ")
	}
}

func (w *abWorker) checkOn(ctx context.Context, cfg Config, s *client.Session, seq int64, where string) {
	ps, err := s.Player(ctx)
	if err != nil {
		w.problem = where + "read back: " + err.Error()
		return
	}
	if ps.LastSeq != seq {
		w.problem = fmt.Sprintf("%slast_seq %d, acknowledged %d", where, ps.LastSeq, seq)
		return
	}
	if cfg.FinalLogout {
		s.Logout(ctx)
	}
}

// WriteJSON writes the report as one indented JSON document.
func (rep *ABReport) WriteJSON(out io.Writer) error {
	return writeIndentedJSON(out, rep)
}

// WriteText writes the report for people.
func (rep *ABReport) WriteText(out io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "loadtest %s, mix %s: %d connections, %.0fs in slices of %.1fs alternating A and B\n",
		rep.Target, rep.Mix, rep.Conns, rep.RunS, rep.SliceS)
	b.WriteString("\nside            requests    rate/s  server cpu  cpu/req µs  per core/s   p50 ms   p99 ms   max ms  errors\n")
	for _, s := range []ABSide{rep.A, rep.B} {
		fmt.Fprintf(&b, "  %-12s %10d %9.0f %10.0f%% %11.1f %11.0f %8.3f %8.3f %8.3f %7d\n", s.Name, s.Requests, s.RatePerS,
			s.ServerCPUPct, s.ServerCPUPerReqUs, s.PerCorePerS, s.Latency.P50, s.Latency.P99, s.Latency.Max, s.Errors)
	}
	fmt.Fprintf(&b, "\nratio B/A: %.3f by rate", rep.Ratio)
	if rep.CoreRat > 0 {
		fmt.Fprintf(&b, ", %.3f per server core", rep.CoreRat)
	}
	b.WriteString("\n")
	if rep.Server != nil && len(rep.Server.Rows) > 0 {
		b.WriteString("\nserver latency table (request rows)      calls   avg ms   p99 ms   max ms\n")
		for _, r := range rep.Server.Rows {
			fmt.Fprintf(&b, "  %-36s %9d %8.4f %8.3f %8.3f\n", r.Name, r.Calls, r.AvgMs, r.P99Ms, r.MaxMs)
		}
	}
	verdict := "OK"
	if len(rep.Problems) > 0 {
		verdict = "MISMATCH"
	}
	fmt.Fprintf(&b, "\nledger %s: %d players read back with last_seq = last acknowledged\n", verdict, rep.Checked)
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	io.WriteString(out, b.String())
}
