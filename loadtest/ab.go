package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"rampart/client"
)

// A/B mixes compare two kinds of request on the same server, the same
// connections and the same run. Every worker owns its connections and
// sends back to back (closed loop, no think time), so the server is
// saturated. Time is cut into slices (--slice) that alternate between side
// A and side B; each slice's completions count for the side it belongs
// to. Alternating slices rather than running A and then B keeps slow
// drifts (other processes on the machine, the heap growing) out of the
// comparison.
//
// The server budgets each player (--rate-limit, default 20 requests/s,
// bursts of 40; past it 429 rate_limited). A worker playing one player
// would measure that budget, not the server: each worker plays
// --players-per-conn players in turn, one exchange each, over its HTTP
// connection (the raw client's keep-alive pool holds one connection per
// worker: a worker has one exchange in flight). Choose it so that
// conns × players-per-conn players share the fastest rate a side reaches
// with each of them well under the budget: rate / (conns × ppc) ≤ about
// half of --rate-limit. The default, 8192 players in all, keeps each
// under 10/s up to 80,000 requests/s. Over the WebSocket of http-vs-ws
// each player has its own socket (a session owns one in the client).
// Every rate_limited reply is counted for its side and slice; a measured
// slice that has one measured the budget, and the report says so.
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
	// PlayerRatePerS is RatePerS per player: what the server's budget
	// (--rate-limit) is held against.
	PlayerRatePerS float64 `json:"per_player_rate_per_s"`
	Latency        Latency `json:"latency_ms"`
	Errors         int64   `json:"errors"`
	// RateLimited counts the replies 429 rate_limited (over the socket:
	// error messages rate_limited) in this side's measured slices;
	// RateLimitedRun in the whole run, warm-up and cool-down included.
	// Each was waited out (Retry-After, else 1 s) and sent again. Any in
	// the measured slices means RatePerS is the budget's, not the
	// server's.
	RateLimited    int64 `json:"rate_limited"`
	RateLimitedRun int64 `json:"rate_limited_run"`
}

// ABReport is the outcome of an A/B run.
type ABReport struct {
	Target string `json:"target"`
	Mix    string `json:"mix"`
	Conns  int    `json:"conns"`
	// Players is Conns × PlayersPerConn: every one is signed in and
	// checked.
	Players        int     `json:"players"`
	PlayersPerConn int     `json:"players_per_conn"`
	SliceS         float64 `json:"slice_s"`
	RunS           float64 `json:"run_s"`
	A              ABSide  `json:"a"`
	B              ABSide  `json:"b"`
	Ratio          float64 `json:"ratio"`                    // B rate / A rate
	CoreRat        float64 `json:"per_core_ratio,omitempty"` // B per core / A per core
	// RateLimited is A's and B's RateLimited: above 0, the rates measured
	// the per-player budget.
	RateLimited int64     `json:"rate_limited"`
	Checked     int       `json:"ledger_checked"`
	Problems    []string  `json:"problems,omitempty"`
	Server      *ABServer `json:"server,omitempty"`
}

// ABServer is the server's latency table rows of the run.
type ABServer struct {
	Rows   []ServerRow `json:"rows"`
	Errors []string    `json:"errors,omitempty"`
}

// abPlayer is one player of an A/B run. Owned by its worker's goroutine.
type abPlayer struct {
	id     string
	device string          // the player's device credential
	a      *client.Session // over HTTP
	ws     *client.Session // the same session on a WebSocket (http-vs-ws)
	seq    int64           // last seq sent and acknowledged
	// The same player on the second server (target-vs-b).
	b       *client.Session
	seqB    int64
	problem string
	// notBefore is when the server's last refusal (Retry-After) lets the
	// player send again.
	notBefore time.Time
}

// abWorker is one closed loop: it sends for its players in turn, one
// exchange at a time. Owned by its goroutine.
type abWorker struct {
	players []*abPlayer
	turn    int // the player of the next exchange (see next)
	res     []client.Result
	hist    [2]*hdrhistogram.Histogram
	errs    [2]int64
	limited [2]int64 // rate_limited replies over the whole run
}

// abClients are the clients of an A/B run: HTTP to the target, and a
// WebSocket one (http-vs-ws) or HTTP to the second server (target-vs-b).
//
// None of them waits out a refusal by itself, so that every 429 is seen
// and counted (see unrefused): over HTTP a Retry-After above zero is
// returned (WithMaxRetryWait(0)); over the socket a rate_limited error
// has no Retry-After and the client would resend it after its backoff,
// so the socket client does not resend at all (WithRetries(0)): a lost
// reply is an error of the run, and the next exchange reconnects.
type abClients struct{ a, ws, b *client.Client }

func newABClients(cfg Config) (abClients, error) {
	var cl abClients
	opts := []client.Option{client.WithRequestTimeout(cfg.Timeout), client.WithUserAgent("rampart-loadtest"),
		client.WithRawHTTP(cfg.Conns), client.WithMaxRetryWait(0)}
	var err error
	if cl.a, err = client.New(cfg.Target, opts...); err != nil {
		return cl, err
	}
	switch cfg.Mix {
	case "http-vs-ws":
		cl.ws, err = client.New(cfg.Target, append(opts, client.WithTransport(client.WebSocket), client.WithRetries(0),
			client.WithEventFunc(func(*client.Session, client.Event) {}))...)
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

	// Sign every worker's players in.
	salt := cfg.DeviceSalt
	if salt == "" {
		salt = randomSalt()
	}
	ppc := cfg.playersPerConn()
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
	loginErrs := make(chan error, cfg.Conns*ppc)
	sem := make(chan struct{}, 64)
	for i := range workers {
		w := &abWorker{players: make([]*abPlayer, ppc)}
		w.hist[0], w.hist[1] = newHist(), newHist()
		workers[i] = w
		for j := range w.players {
			// Player n of the run; with one per worker, n is the worker's index.
			id := cfg.playerID(i*ppc + j)
			p := &abPlayer{id: id, device: deviceID(id, salt)}
			w.players[j] = p
			lg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := p.login(abort, cl); err != nil {
					loginErrs <- fmt.Errorf("player %s: %w", p.id, err)
				}
			})
		}
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
	limited := make([][2]atomic.Int64, nSlices) // rate_limited replies, by slice of the reply
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
				if l := limited[k-1][0].Load() + limited[k-1][1].Load(); l > 0 {
					line += fmt.Sprintf("  RATE-LIMITED %d", l)
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
				p := w.next(abort, now, start.Add(time.Duration(k+1)*slice), cfg.Mix != "healthz-vs-ping" || ph == 1)
				if p == nil {
					continue // every player waited out a refusal: now one may send
				}
				ok, refused := w.exchange(abort, cfg, p, ph)
				done := time.Now()
				if refused != nil {
					// Nothing was applied: the player's seq stays, and it
					// sends again once the server's Retry-After is over.
					if refused.Code == "rate_limited" {
						w.limited[ph]++
						if kd := int(done.Sub(start) / slice); kd < nSlices {
							limited[kd][ph].Add(1)
						}
					} else {
						w.errs[ph]++
					}
					p.notBefore = done.Add(cmp.Or(refused.RetryAfter, time.Second))
					continue
				}
				if !ok {
					w.errs[ph]++
					pause(abort, 10*time.Millisecond) // the client's retries are spent: do not spin
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
	rep := &ABReport{Target: cfg.Target, Mix: cfg.Mix, Conns: cfg.Conns, Players: cfg.Conns * ppc, PlayersPerConn: ppc,
		SliceS: slice.Seconds(), RunS: end.Sub(start).Seconds()}
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

	// Check every player: its last_seq is what it had acknowledged. Each
	// worker checks its own players, so the check takes as long as one
	// worker's share.
	var cg sync.WaitGroup
	for _, w := range workers {
		cg.Go(func() {
			for _, p := range w.players {
				p.check(abort, cfg)
			}
		})
	}
	cg.Wait()
	nProblems := 0
	for _, w := range workers {
		for _, p := range w.players {
			if p.problem == "" {
				rep.Checked++
				continue
			}
			if nProblems++; len(rep.Problems) < maxReportProblems {
				rep.Problems = append(rep.Problems, p.id+": "+p.problem)
			}
		}
	}
	closeAB(workers)

	for ph, side := range []*ABSide{&rep.A, &rep.B} {
		side.Name = sides[ph]
		h := newHist()
		for _, w := range workers {
			h.Merge(w.hist[ph])
			side.Errors += w.errs[ph]
			side.RateLimitedRun += w.limited[ph]
		}
		side.Latency = summarize(h)
		var cpuPer, load []float64
		for k := 2; k < nSlices-1; k++ {
			if k%2 != ph {
				continue
			}
			n := counts[k][ph].Load()
			side.Requests += n
			side.RateLimited += limited[k][ph].Load()
			side.RatesPerS = append(side.RatesPerS, round1(float64(n)/slice.Seconds()))
			if c := cpu[ph][k+1] - cpu[ph][k]; pids[ph] > 0 && cpu[ph][k] > 0 && n > 0 {
				cpuPer = append(cpuPer, c/float64(n)*1e6)
				load = append(load, 100*c/slice.Seconds())
			}
		}
		side.RatePerS = median(side.RatesPerS)
		side.PlayerRatePerS = round1(side.RatePerS / float64(rep.Players))
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
	rep.RateLimited = rep.A.RateLimited + rep.B.RateLimited
	if nProblems > 0 {
		return rep, fmt.Errorf("loadtest: %d players failed the check", nProblems)
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
		for _, p := range w.players {
			for _, s := range []*client.Session{p.a, p.ws, p.b} {
				if s != nil {
					s.Close()
				}
			}
		}
	}
}

// next is the player whose turn it is: the next in rotation that no
// refusal holds back, unless the exchange spends no player's budget
// (budgeted false: GET /healthz). When all are held back it waits until
// the first may send again or the slice ends at sliceEnd (the other side
// may have exchanges to make), or ctx ends, and returns nil.
func (w *abWorker) next(ctx context.Context, now, sliceEnd time.Time, budgeted bool) *abPlayer {
	first := w.players[w.turn]
	for range w.players {
		p := w.players[w.turn]
		w.turn = (w.turn + 1) % len(w.players)
		if !budgeted || !now.Before(p.notBefore) {
			return p
		}
		if p.notBefore.Before(first.notBefore) {
			first = p
		}
	}
	pause(ctx, min(first.notBefore.Sub(now), sliceEnd.Sub(now)))
	return nil
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// refusal is err's refusal, 429 or 503 (the server applied nothing and
// says when to try again), or nil.
func refusal(err error) *client.Error {
	var e *client.Error
	if errors.As(err, &e) && (e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable) {
		return e
	}
	return nil
}

// unrefused runs call until it is not refused, waiting out each refusal
// (the A/B clients return them: see abClients), at most 5 times: for the
// calls outside the measured slices (sign-ins, the check), which a
// player's spent budget may refuse at first.
func unrefused(ctx context.Context, call func() error) error {
	for n := 0; ; n++ {
		err := call()
		e := refusal(err)
		if e == nil || n == 4 || ctx.Err() != nil {
			return err
		}
		pause(ctx, cmp.Or(e.RetryAfter, time.Second))
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

// login signs the player in over HTTP (and on the second server for
// target-vs-b), resumes the session on a WebSocket for http-vs-ws, and
// reads its last seq.
func (p *abPlayer) login(ctx context.Context, cl abClients) error {
	err := unrefused(ctx, func() (err error) {
		p.a, err = cl.a.SignInDevice(ctx, p.device, true)
		return err
	})
	if err != nil {
		return err
	}
	p.seq = p.a.NextSeq() - 1
	if cl.ws != nil {
		// The same session on a socket: both sides play one player.
		err := unrefused(ctx, func() (err error) {
			p.ws, err = cl.ws.Resume(ctx, p.a.Token(), p.a.RefreshToken(), client.KnownPlayer(p.a.PlayerID()))
			return err
		})
		if err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
	}
	if cl.b != nil {
		err := unrefused(ctx, func() (err error) {
			p.b, err = cl.b.SignInDevice(ctx, p.device, true)
			return err
		})
		if err != nil {
			return fmt.Errorf("target-b: %w", err)
		}
		p.seqB = p.b.NextSeq() - 1
	}
	return nil
}

// exchange sends one request of side ph for p and reports whether it got
// the answer it should, or the server's refusal (nothing applied).
func (w *abWorker) exchange(ctx context.Context, cfg Config, p *abPlayer, ph int) (bool, *client.Error) {
	switch {
	case cfg.Mix == "healthz-vs-ping" && ph == 0:
		err := p.a.Ping(ctx) // GET /healthz over HTTP
		return err == nil, refusal(err)
	case p.b != nil && ph == 1:
		return w.ping(ctx, p, p.b, &p.seqB)
	case p.ws != nil && ph == 1:
		return w.ping(ctx, p, p.ws, &p.seq)
	}
	return w.ping(ctx, p, p.a, &p.seq)
}

// ping sends one ping for p on s with the seq after *last: the HTTP and
// the socket session of http-vs-ws share the player's seqs. A refused
// ping leaves *last: it is sent again with the same seq.
func (w *abWorker) ping(ctx context.Context, p *abPlayer, s *client.Session, last *int64) (bool, *client.Error) {
	seq := *last + 1
	var err error
	w.res, err = s.DoSeq(ctx, w.res[:0], seq, client.Action{Name: "ping"})
	if e := refusal(err); e != nil {
		return false, e
	}
	if err != nil {
		p.problem = "ping: " + err.Error()
		*last = seq // may have been applied: the check reads it back
		return false, nil
	}
	if len(w.res) != 1 || w.res[0].Seq != seq || !w.res[0].OK || w.res[0].Duplicate {
		p.problem = fmt.Sprintf("ping seq %d: unexpected reply %+v", seq, w.res)
		return false, nil
	}
	*last = seq
	p.problem = ""
	return true, nil
}

// check reads the player back over HTTP: last_seq must be the last
// acknowledged seq. Then it logs out.
func (p *abPlayer) check(ctx context.Context, cfg Config) {
	if p.a == nil || p.problem != "" && p.seq == 0 {
		return
	}
	p.problem = ""
	p.checkOn(ctx, cfg, p.a, p.seq, "")
	if p.b != nil && p.problem == "" {
		p.checkOn(ctx, cfg, p.b, p.seqB, "target-b: ")
	}
}

func (p *abPlayer) checkOn(ctx context.Context, cfg Config, s *client.Session, seq int64, where string) {
	var ps client.PlayerState
	err := unrefused(ctx, func() (err error) {
		ps, err = s.Player(ctx)
		return err
	})
	if err != nil {
		p.problem = where + "read back: " + err.Error()
		return
	}
	if ps.LastSeq != seq {
		p.problem = fmt.Sprintf("%slast_seq %d, acknowledged %d", where, ps.LastSeq, seq)
		return
	}
	if cfg.FinalLogout {
		unrefused(ctx, func() error { return s.Logout(ctx) })
	}
}

// WriteText writes the report for people.
func (rep *ABReport) WriteText(out io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "loadtest %s, mix %s: %d connections, %d players (%d per connection), %.0fs in slices of %.3gs alternating A and B\n",
		rep.Target, rep.Mix, rep.Conns, rep.Players, rep.PlayersPerConn, rep.RunS, rep.SliceS)
	b.WriteString("\nside            requests    rate/s  per player/s  server cpu  cpu/req µs  per core/s   p50 ms   p99 ms   max ms  errors  429s\n")
	for _, s := range []ABSide{rep.A, rep.B} {
		fmt.Fprintf(&b, "  %-12s %10d %9.0f %13.1f %10.0f%% %11.1f %11.0f %8.3f %8.3f %8.3f %7d %5d\n", s.Name, s.Requests, s.RatePerS,
			s.PlayerRatePerS, s.ServerCPUPct, s.ServerCPUPerReqUs, s.PerCorePerS, s.Latency.P50, s.Latency.P99, s.Latency.Max, s.Errors, s.RateLimited)
	}
	fmt.Fprintf(&b, "\nratio B/A: %.3f by rate", rep.Ratio)
	if rep.CoreRat > 0 {
		fmt.Fprintf(&b, ", %.3f per server core", rep.CoreRat)
	}
	b.WriteString("\n")
	if rep.RateLimited > 0 {
		fmt.Fprintf(&b, "\n!!! RATE-LIMITED: %d replies in the measured slices were 429 rate_limited (%s %d, %s %d).\n",
			rep.RateLimited, rep.A.Name, rep.A.RateLimited, rep.B.Name, rep.B.RateLimited)
		fmt.Fprintf(&b, "!!! These rates and the ratio are the per-player budget's (--rate-limit), NOT the server's:\n")
		fmt.Fprintf(&b, "!!! raise --players-per-conn (now %d, so %d players) until no side is refused.\n", rep.PlayersPerConn, rep.Players)
	} else if n := rep.A.RateLimitedRun + rep.B.RateLimitedRun; n > 0 {
		fmt.Fprintf(&b, "(%d replies rate_limited outside the measured slices, in warm-up or cool-down)\n", n)
	}
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
