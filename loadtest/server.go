package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The server side of a benchmark: what the server itself reports (its
// latency table, heap and goroutines over /debug/, which the server serves
// to loopback clients) and, with --server-pid, what the kernel says about
// the process (CPU time and RSS from /proc). A load test reads it at three
// points: before the first login, at --measure-after (when it also resets
// the server's latency table, so the table covers the steady state only),
// and when playing ends.

// ServerSnapshot is the server process at one moment.
type ServerSnapshot struct {
	AtS        float64 `json:"at_s"`                 // seconds since the run started (negative: before)
	Online     int64   `json:"online"`               // players the generator had online
	CPUS       float64 `json:"cpu_s,omitempty"`      // user+system CPU seconds since the process started (--server-pid)
	RSSKiB     int64   `json:"rss_kib,omitempty"`    // VmRSS (--server-pid)
	HeapAlloc  int64   `json:"heap_alloc,omitempty"` // bytes, after a forced GC (/debug/pprof/heap?gc=1)
	HeapInuse  int64   `json:"heap_inuse,omitempty"`
	StackInuse int64   `json:"stack_inuse,omitempty"`
	Sys        int64   `json:"sys,omitempty"`
	Goroutines int64   `json:"goroutines,omitempty"`
}

// ServerRow is one row of the server's latency table (milliseconds).
type ServerRow struct {
	Name    string  `json:"name"`
	Request bool    `json:"request"`
	Calls   int64   `json:"calls"`
	AvgMs   float64 `json:"avg_ms"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	P999Ms  float64 `json:"p999_ms"`
	MaxMs   float64 `json:"max_ms"`
	TotalS  float64 `json:"total_s"`
	TotalPc float64 `json:"total_pct"`
}

// serverLatency is the part of /debug/latency?format=json we read.
type serverLatency struct {
	WallSeconds     float64     `json:"wall_seconds"`
	UnhaltedLoadPct *float64    `json:"unhalted_load_pct"`
	SchedP99Ms      *float64    `json:"sched_latency_p99_ms"`
	GOMAXPROCS      int         `json:"gomaxprocs"`
	All             ServerRow   `json:"all"`
	Rows            []ServerRow `json:"rows"`
}

// ServerReport is the server side of a run, over the measurement window
// (from --measure-after, when the latency table was reset, to the end of
// playing).
type ServerReport struct {
	Before *ServerSnapshot `json:"before,omitempty"` // before the first login
	Start  *ServerSnapshot `json:"start,omitempty"`  // at --measure-after
	End    *ServerSnapshot `json:"end,omitempty"`    // when playing ended

	WindowS float64 `json:"window_s"`
	// CPULoadPct is the server's CPU time over the window divided by the
	// window's wall time and GOMAXPROCS (--server-pid); the mean of the
	// unhalted load over the window.
	CPULoadPct float64 `json:"cpu_load_pct,omitempty"`
	// CPUPerActionUs is server CPU per action answered in the window.
	CPUPerActionUs  float64 `json:"cpu_per_action_us,omitempty"`
	ActionsInWindow int64   `json:"actions_in_window"`
	ActionsPerS     float64 `json:"actions_per_s"`
	// LoadSamples are the server's own 10-second unhalted load figures,
	// read every few seconds during the window.
	LoadSamples []float64 `json:"unhalted_load_samples_pct,omitempty"`
	LoadMaxPct  float64   `json:"unhalted_load_max_pct"`
	// SchedP99Ms are the server's 10-s p99 of how long runnable goroutines
	// waited for a thread, read with the load: queueing that request rows,
	// which time handlers only, do not see.
	SchedP99Ms    []float64 `json:"sched_latency_p99_samples_ms,omitempty"`
	SchedP99MaxMs float64   `json:"sched_latency_p99_max_ms"`
	GOMAXPROCS    int       `json:"gomaxprocs,omitempty"`

	// Requests is the worst request row by p99 (among rows with at least
	// 0.1% of the calls) and by max: the latency a client saw.
	WorstP99Ms  float64 `json:"request_p99_ms"`
	WorstP99Row string  `json:"request_p99_row"`
	WorstMaxMs  float64 `json:"request_max_ms"`
	WorstMaxRow string  `json:"request_max_row"`
	// All is the table's ALL row: every row merged, background work
	// (autosave sweeps, S3 calls) included.
	All  ServerRow   `json:"all"`
	Rows []ServerRow `json:"rows,omitempty"`

	// Per online player, between Before and Start.
	HeapPerPlayerB  float64 `json:"heap_per_player_bytes,omitempty"`
	StackPerPlayerB float64 `json:"stack_per_player_bytes,omitempty"`
	RSSPerPlayerB   float64 `json:"rss_per_player_bytes,omitempty"`
	GoroutinesPer   float64 `json:"goroutines_per_player,omitempty"`

	Errors []string `json:"errors,omitempty"`
}

// serverWatch reads the server during a run.
type serverWatch struct {
	base   string // http://host:port
	pid    int    // 0: no /proc readings
	client *http.Client
	mem    bool // read heap and goroutines (a forced GC on the server each time)
	rep    ServerReport
}

func newServerWatch(base string, pid int, mem bool) *serverWatch {
	return &serverWatch{base: base, pid: pid, mem: mem,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DisableCompression: true}}}
}

func (s *serverWatch) errorf(format string, a ...any) {
	if len(s.rep.Errors) < 10 {
		s.rep.Errors = append(s.rep.Errors, fmt.Sprintf(format, a...))
	}
}

// snapshot reads the process now.
func (s *serverWatch) snapshot(ctx context.Context, at float64, online int64) *ServerSnapshot {
	snap := &ServerSnapshot{AtS: at, Online: online}
	if s.pid > 0 {
		if cpu, err := procCPU(s.pid); err == nil {
			snap.CPUS = cpu
		} else {
			s.errorf("cpu: %v", err)
		}
		if rss, err := procRSS(s.pid); err == nil {
			snap.RSSKiB = rss
		} else {
			s.errorf("rss: %v", err)
		}
	}
	if s.mem {
		if body, err := s.get(ctx, "/debug/pprof/heap?gc=1&debug=1"); err == nil {
			parseMemStats(body, snap)
		} else {
			s.errorf("heap: %v", err)
		}
		if body, err := s.get(ctx, "/debug/pprof/goroutine?debug=1"); err == nil {
			snap.Goroutines = parseGoroutines(body)
		} else {
			s.errorf("goroutines: %v", err)
		}
		// The heap read ran a GC: CPU and RSS after it are what matter.
		if s.pid > 0 {
			if rss, err := procRSS(s.pid); err == nil {
				snap.RSSKiB = rss
			}
		}
	}
	return snap
}

func (s *serverWatch) get(ctx context.Context, path string) ([]byte, error) {
	return s.call(ctx, http.MethodGet, path)
}

func (s *serverWatch) call(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return body, nil
}

// reset empties the server's latency table.
func (s *serverWatch) reset(ctx context.Context) {
	if _, err := s.call(ctx, http.MethodPost, "/debug/latency/reset"); err != nil {
		s.errorf("latency reset: %v", err)
	}
}

// latency reads the server's table since the last reset.
func (s *serverWatch) latency(ctx context.Context) (*serverLatency, error) {
	body, err := s.get(ctx, "/debug/latency?format=json&sort=name")
	if err != nil {
		return nil, err
	}
	var l serverLatency
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("latency json: %w", err)
	}
	return &l, nil
}

// sampleLoad records the server's current 10-second unhalted load.
func (s *serverWatch) sampleLoad(ctx context.Context) {
	l, err := s.latency(ctx)
	if err != nil {
		s.errorf("load: %v", err)
		return
	}
	if l.UnhaltedLoadPct != nil {
		s.rep.LoadSamples = append(s.rep.LoadSamples, round1(*l.UnhaltedLoadPct))
		s.rep.LoadMaxPct = max(s.rep.LoadMaxPct, round1(*l.UnhaltedLoadPct))
	}
	if l.SchedP99Ms != nil {
		v := float64(int64(*l.SchedP99Ms*1000+0.5)) / 1000
		s.rep.SchedP99Ms = append(s.rep.SchedP99Ms, v)
		s.rep.SchedP99MaxMs = max(s.rep.SchedP99MaxMs, v)
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// finish reads the table at the end of the window and fills the report.
func (s *serverWatch) finish(ctx context.Context, actions int64) {
	r := &s.rep
	if r.Start != nil && r.End != nil {
		r.WindowS = r.End.AtS - r.Start.AtS
		r.ActionsInWindow = actions
		if r.WindowS > 0 {
			r.ActionsPerS = float64(actions) / r.WindowS
		}
	}
	l, err := s.latency(ctx)
	if err != nil {
		s.errorf("latency: %v", err)
	} else {
		r.GOMAXPROCS = max(l.GOMAXPROCS, 1)
		r.All = l.All
		r.Rows = l.Rows
		var calls int64
		for _, row := range l.Rows {
			if row.Request {
				calls += row.Calls
			}
		}
		for _, row := range l.Rows {
			if !row.Request || row.Calls == 0 {
				continue
			}
			if row.MaxMs > r.WorstMaxMs {
				r.WorstMaxMs, r.WorstMaxRow = row.MaxMs, row.Name
			}
			if row.Calls*1000 >= calls && row.P99Ms > r.WorstP99Ms {
				r.WorstP99Ms, r.WorstP99Row = row.P99Ms, row.Name
			}
		}
	}
	if r.Start != nil && r.End != nil && r.End.CPUS > 0 && r.WindowS > 0 {
		cpu := r.End.CPUS - r.Start.CPUS
		r.CPULoadPct = round1(100 * cpu / r.WindowS / float64(max(r.GOMAXPROCS, 1)))
		if actions > 0 {
			r.CPUPerActionUs = round1(cpu / float64(actions) * 1e6)
		}
	}
	if b, st := r.Before, r.Start; s.mem && b != nil && st != nil && st.Online > 0 {
		n := float64(st.Online)
		r.HeapPerPlayerB = float64(st.HeapAlloc-b.HeapAlloc) / n
		r.StackPerPlayerB = float64(st.StackInuse-b.StackInuse) / n
		r.GoroutinesPer = float64(st.Goroutines-b.Goroutines) / n
		if b.RSSKiB > 0 && st.RSSKiB > 0 {
			r.RSSPerPlayerB = float64(st.RSSKiB-b.RSSKiB) * 1024 / n
		}
	}
}

// procCPU is the process's user+system CPU seconds (/proc/<pid>/stat).
func procCPU(pid int) (float64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data, clockTicks)
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func parseStatCPU(data []byte, hz float64) (float64, error) {
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return float64(u+s) / hz, nil
}

// procRSS is the process's VmRSS in KiB.
func procRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("status: no VmRSS")
}

// parseMemStats reads the runtime.MemStats lines that end a debug=1 heap
// profile ("# HeapAlloc = 123", "# Stack = 456 / 789").
func parseMemStats(body []byte, s *ServerSnapshot) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# ")
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(val, " ")
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "HeapAlloc":
			s.HeapAlloc = n
		case "HeapInuse":
			s.HeapInuse = n
		case "Stack":
			s.StackInuse = n
		case "Sys":
			s.Sys = n
		}
	}
}

// parseGoroutines reads "goroutine profile: total N".
func parseGoroutines(body []byte) int64 {
	line, _, _ := bytes.Cut(body, []byte("\n"))
	_, n, ok := bytes.Cut(line, []byte("total "))
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(string(bytes.TrimSpace(n)), 10, 64)
	return v
}
