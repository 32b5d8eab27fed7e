package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// promSum sums the samples of series in a Prometheus text-format file. A
// series without "{" is a metric name, matched exactly; one with "{" is a
// prefix of the sample's name and labels.
func promSum(file, series string) (float64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, val := line[:i], line[i+1:]
		if strings.Contains(series, "{") {
			if !strings.HasPrefix(name, series) {
				continue
			}
		} else if base, _, _ := strings.Cut(name, "{"); base != series {
			continue
		}
		if x, err := strconv.ParseFloat(val, 64); err == nil {
			sum += x
		}
	}
	return sum, nil
}

// costs are what the server's CPU serves, in the order a stack is tried
// against them: the first whose pattern matches any frame takes the sample.
// Sign-in comes before checkpoint because a new player's first save is
// part of its sign-in; sign-out's save is its own.
var costs = []struct {
	name string
	re   *regexp.Regexp
}{
	{"profiler itself (pprof)", regexp.MustCompile(`^(runtime/pprof|net/http/pprof)\.`)},
	{"sign-in (device auth, account, load from S3, lease)", regexp.MustCompile(`^rampart/(api\..*\(\*Server\)\.(signIn|countSignIn|refresh|adopt)\b|api\.\(\*wsConn\)\.login|state\.\(\*Store\)\.(Login|LoginCreated|login|Resume)\b|accounts\.)`)},
	{"sign-out (logout, final save)", regexp.MustCompile(`^rampart/(api\..*\(\*Server\)\.logout\b|state\.\(\*Store\)\.(Logout|signOut|Kick)\b)`)},
	{"checkpoint (autosave to S3)", regexp.MustCompile(`^rampart/state\.\(\*Store\)\.(save|Sweep|SaveAll|saveAllOnce|Run)\b`)},
	{"journal recovery (restart)", regexp.MustCompile(`^rampart/state\.\(\*Store\)\.(Recover|recoverPlayer)\b`)},
	{"analytics events (batching, BSON, insert into MongoDB)", regexp.MustCompile(`^rampart/state/mongostore\.\(\*Analytics\)`)},
	{"other MongoDB (leaderboard, index, mail, probes)", regexp.MustCompile(`^(rampart/state/mongostore\.|go\.mongodb\.org/)`)},
	{"journal (group commit, write, fdatasync)", regexp.MustCompile(`^rampart/journal\.`)},
	{"actions (decode, apply, reply)", regexp.MustCompile(`^rampart/(api\..*\(\*Server\)\.(actions|dispatch)\b|api\.\(\*wsConn\)\.actions\b|state\.\(\*Store\)\.Apply(Batch)?\b)`)},
	// A socket's reader and writer are rampart/api frames too: without
	// this row the next one took them.
	{"WebSocket I/O (reading frames, writing replies and events)", regexp.MustCompile(`^(github\.com/gorilla/websocket\.|rampart/api\.\(\*wsConn\)\.(readLoop|flush|write|ping|pinger|close)\b)`)},
	{"other API routes (player view, gamedata, healthz)", regexp.MustCompile(`^rampart/api\.`)},
	// S3 calls are made in line by their callers, but the SDK's middleware
	// stack is deeper than the 64 frames a CPU profile keeps, so most S3
	// samples lose their caller: this row is the S3 work of sign-ins,
	// checkpoints and sign-outs that the rows above could not claim (the
	// SDK, request signing, and the client side of the connections).
	{"S3 client (SDK, signing, transport; caller cut off)", regexp.MustCompile(`^(github\.com/aws/|net/http\.\(\*(persistConn|Transport)\))`)},
	{"server HTTP I/O (reading requests, writing replies, connections)", regexp.MustCompile(`^(net/http\.|net\.|internal/poll\.)`)},
	{"metrics, latency table, load sampler", regexp.MustCompile(`^(rampart/(profiler|metrics|web)\.|github\.com/prometheus/)`)},
	{"GC (background mark, sweep, scavenge)", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge|gcStart|gcMarkDone|gcMarkTermination|forEachP)\b`)},
	{"scheduler, timers, netpoll", regexp.MustCompile(`^runtime\.(schedule|findRunnable|mcall|park_m|goexit0|netpoll|sysmon|mstart|timerproc|runOneTimer)\b`)},
}

var valueLine = regexp.MustCompile(`^\s+([0-9.]+)(ns|us|µs|ms|s|m|h)?\s+(\S.*)$`)

// split reads `go tool pprof -traces` output and writes, for each cost and
// "other", the seconds of samples and their share.
func split(file string, w io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	total := 0.0
	per := make([]float64, len(costs)+1)
	var cur float64
	var frames []string
	flush := func() {
		if cur == 0 {
			return
		}
		total += cur
		i := classify(frames)
		per[i] += cur
		cur, frames = 0, frames[:0]
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			in = true
			continue
		}
		if !in || strings.TrimSpace(line) == "" {
			continue
		}
		if m := valueLine.FindStringSubmatch(line); m != nil && cur == 0 {
			v, _ := strconv.ParseFloat(m[1], 64)
			cur = v * unit(m[2])
			frames = append(frames, strings.TrimSpace(m[3]))
			continue
		}
		fr := strings.TrimSpace(line)
		if first, _, _ := strings.Cut(fr, " "); strings.HasSuffix(first, ":") {
			continue // a label line
		}
		frames = append(frames, fr)
	}
	flush()
	if err := sc.Err(); err != nil {
		return err
	}
	if total == 0 {
		return fmt.Errorf("%s: no samples", file)
	}
	for i, c := range costs {
		fmt.Fprintf(w, "%s\t%.3f\t%.1f\n", c.name, per[i], 100*per[i]/total)
	}
	fmt.Fprintf(w, "other (runtime, allocation outside the above)\t%.3f\t%.1f\n", per[len(costs)], 100*per[len(costs)]/total)
	fmt.Fprintf(w, "total\t%.3f\t100\n", total)
	return nil
}

func classify(frames []string) int {
	for i, c := range costs {
		for _, fr := range frames {
			if c.re.MatchString(fr) {
				return i
			}
		}
	}
	return len(costs)
}

func unit(u string) float64 {
	switch u {
	case "ns":
		return 1e-9
	case "us", "µs":
		return 1e-6
	case "ms":
		return 1e-3
	case "m":
		return 60
	case "h":
		return 3600
	}
	return 1
}
