// Command benchq reads figures out of the JSON reports of `rampart
// loadtest --json` for the bench scripts, so they need no jq.
//
//	benchq FILE PATH...    print the value at each PATH (a.b.c; [n] indexes an array), tab-separated
//	benchq median X...     print the median of the numbers
//	benchq row FILE NAME   print calls, avg, p99 and max (ms) of the server row NAME
//	benchq rowsum FILE PREFIX
//	                       sum of the calls of the server rows whose name starts with PREFIX
//	benchq promdelta OLD NEW SERIES
//	                       sum of the Prometheus text-format samples of SERIES in
//	                       NEW minus those in OLD (/dev/null: the value itself).
//	                       SERIES is a metric name, or a prefix of a series with
//	                       labels: 'x_total{kind="a",route="action:' sums every
//	                       route starting action:
//	benchq split TRACES    split the CPU of a profile by what it served, from
//	                       `go tool pprof -traces` output: category, seconds and
//	                       percent of the samples, one a line, tab-separated
//
// A missing value prints as "-".
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchq:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: benchq FILE PATH... | benchq median X... | benchq row FILE NAME | benchq promdelta OLD NEW SERIES | benchq split TRACES")
	}
	switch args[0] {
	case "promdelta":
		if len(args) != 4 {
			return fmt.Errorf("usage: benchq promdelta OLD NEW SERIES")
		}
		old, err := promSum(args[1], args[3])
		if err != nil {
			return err
		}
		cur, err := promSum(args[2], args[3])
		if err != nil {
			return err
		}
		fmt.Println(format(cur - old))
		return nil
	case "split":
		if len(args) != 2 {
			return fmt.Errorf("usage: benchq split TRACES")
		}
		return split(args[1], os.Stdout)
	case "median":
		var xs []float64
		for _, a := range args[1:] {
			if x, err := strconv.ParseFloat(a, 64); err == nil {
				xs = append(xs, x)
			}
		}
		if len(xs) == 0 {
			fmt.Println("-")
			return nil
		}
		slices.Sort(xs)
		m := xs[len(xs)/2]
		if len(xs)%2 == 0 {
			m = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		fmt.Println(format(m))
		return nil
	case "rowsum":
		rows, err := serverRows(args, "PREFIX", "server.rows")
		if err != nil {
			return err
		}
		var sum float64
		for _, m := range rows {
			if name, _ := m["name"].(string); strings.HasPrefix(name, args[2]) {
				c, _ := m["calls"].(float64)
				sum += c
			}
		}
		fmt.Println(format(sum))
		return nil
	case "row":
		rows, err := serverRows(args, "NAME", "server.rows", "server.Rows")
		if err != nil {
			return err
		}
		for _, m := range rows {
			if m["name"] == args[2] {
				fmt.Printf("%s\t%s\t%s\t%s\n", show(m["calls"]), show(m["avg_ms"]), show(m["p99_ms"]), show(m["max_ms"]))
				return nil
			}
		}
		fmt.Println("-\t-\t-\t-")
		return nil
	}
	doc, err := load(args[0])
	if err != nil {
		return err
	}
	out := make([]string, 0, len(args)-1)
	for _, p := range args[1:] {
		out = append(out, show(lookup(doc, p)))
	}
	fmt.Println(strings.Join(out, "\t"))
	return nil
}

// serverRows is `benchq CMD FILE ARG` (args; arg names ARG in the usage):
// the rows of FILE at each of paths in turn, those that are objects.
func serverRows(args []string, arg string, paths ...string) ([]map[string]any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("usage: benchq %s FILE %s", args[0], arg)
	}
	doc, err := load(args[1])
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	for _, path := range paths {
		list, _ := lookup(doc, path).([]any)
		for _, r := range list {
			if m, ok := r.(map[string]any); ok {
				rows = append(rows, m)
			}
		}
	}
	return rows, nil
}

func load(file string) (any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return doc, nil
}

func lookup(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		if name != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[name]
		}
		if hasIdx {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			a, ok := v.([]any)
			if err != nil || !ok || i < 0 || i >= len(a) {
				return nil
			}
			v = a[i]
		}
	}
	return v
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case float64:
		return format(x)
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func format(x float64) string {
	if x == float64(int64(x)) && x < 1e15 && x > -1e15 {
		return strconv.FormatInt(int64(x), 10)
	}
	s := strconv.FormatFloat(x, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
