package profiler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"rampart/internal/testenv"
	"strings"
	"testing"
	"time"
)

// logLines decodes the lines of a JSON slog handler's output.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestAlertFiresWhenSustainedAndResolves(t *testing.T) {
	clk := newClock()
	var logs bytes.Buffer // Evaluate logs on this goroutine
	a := NewAlerts(AlertOptions{Now: clk.Now, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	load := 0.0
	if err := a.AddRule(Rule{Name: "load", Unit: "%", For: 10 * time.Second,
		Check: func(time.Time) (float64, bool) { return load, load >= 50 }}); err != nil {
		t.Fatal(err)
	}
	events, cancel := a.Subscribe()
	defer cancel()
	t0 := clk.Now()

	type step struct {
		load   float64
		state  string // of the rule after this evaluation
		event  string // transition emitted, if any
		active int
	}
	steps := []step{
		{10, StateOK, "", 0},
		{60, StatePending, "", 0}, // t0+1s: holding since here
		{70, StatePending, "", 0},
		{20, StateOK, "", 0}, // a dip restarts the clock
		{55, StatePending, "", 0},
	}
	for range 9 {
		steps = append(steps, step{65, StatePending, "", 0})
	}
	steps = append(steps,
		step{80, StateFiring, StateFiring, 1}, // 10 s after the condition started at step 4
		step{90, StateFiring, "", 1},
		step{30, StateOK, StateResolved, 0},
	)
	for i, st := range steps {
		clk.Advance(time.Second * time.Duration(min(i, 1)))
		load = st.load
		a.Evaluate()
		snap := a.Snapshot()
		if got := snap.Rules[0].State; got != st.state {
			t.Fatalf("step %d (load %v): state %s, want %s", i, st.load, got, st.state)
		}
		if len(snap.Active) != st.active {
			t.Fatalf("step %d: %d active, want %d", i, len(snap.Active), st.active)
		}
		var got string
		select {
		case ev := <-events:
			got = ev.State
		default:
		}
		if got != st.event {
			t.Fatalf("step %d: event %q, want %q", i, got, st.event)
		}
	}
	snap := a.Snapshot()
	if len(snap.Recent) != 2 {
		t.Fatalf("recent = %d events, want 2", len(snap.Recent))
	}
	resolved, fired := snap.Recent[0], snap.Recent[1]
	since := t0.Add(4 * time.Second)
	firedAt := since.Add(10 * time.Second)
	if fired.State != StateFiring || fired.Value != 80 || !fired.Since.Equal(since) || !fired.FiredAt.Equal(firedAt) || !fired.At.Equal(firedAt) {
		t.Errorf("firing event %+v, want value 80 since %v fired %v", fired, since, firedAt)
	}
	if resolved.State != StateResolved || resolved.Value != 30 || !resolved.FiredAt.Equal(firedAt) ||
		!resolved.ResolvedAt.Equal(firedAt.Add(2*time.Second)) || resolved.Seq <= fired.Seq {
		t.Errorf("resolved event %+v, want value 30, fired %v, resolved 2s later, later seq", resolved, firedAt)
	}

	lines := logLines(t, logs.String())
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2: %v", len(lines), lines)
	}
	if lines[0]["level"] != "WARN" || lines[0]["msg"] != "alert firing" || lines[0]["rule"] != "load" || lines[0]["value"] != 80.0 {
		t.Errorf("firing log = %v, want WARN alert firing rule=load value=80", lines[0])
	}
	if lines[1]["level"] != "INFO" || lines[1]["msg"] != "alert resolved" {
		t.Errorf("resolved log = %v, want INFO alert resolved", lines[1])
	}
}

func TestAlertRules(t *testing.T) {
	a := NewAlerts(AlertOptions{Log: slog.New(slog.DiscardHandler)})
	tests := []struct {
		name    string
		rule    Rule
		wantErr bool
	}{
		{"ok", Rule{Name: "x", Check: func(time.Time) (float64, bool) { return 0, false }}, false},
		{"duplicate", Rule{Name: "x", Check: func(time.Time) (float64, bool) { return 0, false }}, true},
		{"no name", Rule{Check: func(time.Time) (float64, bool) { return 0, false }}, true},
		{"no check", Rule{Name: "y"}, true},
	}
	for _, tc := range tests {
		if err := a.AddRule(tc.rule); (err != nil) != tc.wantErr {
			t.Errorf("%s: AddRule error %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
}

func TestPanickingRuleDoesNotStopOthers(t *testing.T) {
	a := NewAlerts(AlertOptions{Log: slog.New(slog.DiscardHandler)})
	_ = a.AddRule(Rule{Name: "bad", Check: func(time.Time) (float64, bool) { panic("boom") }})
	_ = a.AddRule(Rule{Name: "good", Check: func(time.Time) (float64, bool) { return 1, true }})
	a.Evaluate()
	snap := a.Snapshot()
	if len(snap.Active) != 1 || snap.Active[0].Rule != "good" {
		t.Errorf("active = %+v, want only good", snap.Active)
	}
}

func TestAlertHistoryIsBounded(t *testing.T) {
	clk := newClock()
	a := NewAlerts(AlertOptions{Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	on := false
	_ = a.AddRule(Rule{Name: "flap", Check: func(time.Time) (float64, bool) { return 0, on }})
	for range 150 {
		on = !on
		clk.Advance(time.Second)
		a.Evaluate()
	}
	snap := a.Snapshot()
	if len(snap.Recent) != DefaultAlertHistory {
		t.Fatalf("recent = %d, want %d", len(snap.Recent), DefaultAlertHistory)
	}
	if snap.Recent[0].Seq != 150 || snap.Recent[99].Seq != 51 {
		t.Errorf("recent seqs %d..%d, want 150..51 (newest first)", snap.Recent[0].Seq, snap.Recent[99].Seq)
	}
}

func TestWebhookReceivesTransitions(t *testing.T) {
	got := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want POST application/json", http.StatusBadRequest)
			return
		}
		got <- body
	}))
	defer srv.Close()

	clk := newClock()
	ticks := make(chan time.Time)
	a := NewAlerts(AlertOptions{Now: clk.Now, Ticks: ticks, Log: slog.New(slog.DiscardHandler),
		Notifier: NewWebhook(srv.Client(), srv.URL)})
	firing := true
	_ = a.AddRule(Rule{Name: "disk", Unit: "%", Check: func(time.Time) (float64, bool) { return 97, firing },
		Detail: func() string { return "/data" }})

	_, stop := goRun(t, a.Run)

	for _, want := range []string{StateFiring, StateResolved} {
		ticks <- clk.Now() // Run evaluates
		var ev Event
		body := testenv.Receive(t, got, 10*time.Second, "the webhook got nothing for "+want)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("webhook body %s: %v", body, err)
		}
		if ev.Rule != "disk" || ev.State != want || ev.Value != 97 || ev.Unit != "%" || ev.Detail != "/data" {
			t.Errorf("webhook event %+v, want disk %s 97%% /data", ev, want)
		}
		firing = false
		clk.Advance(time.Second)
	}
	stop()
}

func TestWebhookErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusBadGateway)
	}))
	defer srv.Close()
	if err := NewWebhook(srv.Client(), srv.URL).Notify(context.Background(), []byte(`{}`)); err == nil ||
		!strings.Contains(err.Error(), "502") {
		t.Errorf("Notify to a 502 = %v, want an error naming the status", err)
	}
}

func TestLoadRule(t *testing.T) {
	clk := newClock()
	var cpu time.Duration
	s := NewSampler(SamplerOptions{Now: clk.Now, Read: func() RuntimeReading { return RuntimeReading{CPU: cpu, Procs: 2} }})
	a := NewAlerts(AlertOptions{Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	_ = a.AddRule(LoadRule(s, DefaultLoadThreshold, DefaultLoadFor))
	s.Sample()
	a.Evaluate()
	var states []string
	for i := range 14 {
		clk.Advance(time.Second)
		if i < 12 {
			cpu += 1200 * time.Millisecond // 60% of 2 procs
		}
		s.Sample()
		a.Evaluate()
		states = append(states, a.Snapshot().Rules[0].State)
	}
	want := "[pending pending pending pending pending pending pending pending pending pending firing firing ok ok]"
	if got := fmt.Sprint(states); got != want {
		t.Errorf("states = %s, want %s", got, want)
	}
	snap := a.Snapshot()
	if len(snap.Recent) != 2 || snap.Recent[1].Value < 59.9 || snap.Recent[1].Value > 60.1 {
		t.Errorf("events %+v, want firing at 60%% then resolved", snap.Recent)
	}
}

// hardLimitStep is one evaluation of a HardLimitRule after the clock
// advances and do runs: the rule's state and value then, and the firing
// event's detail when detail is set.
type hardLimitStep struct {
	advance time.Duration
	do      func()
	state   string
	value   float64
	detail  string
}

// newHardLimit is a profiler and an alert engine on one test clock, with
// HardLimitRule holding for a minute as the engine's only rule.
func newHardLimit() (*clock, *Profiler, *Alerts) {
	clk := newClock()
	p := NewWithOptions(Options{Now: clk.Now})
	a := NewAlerts(AlertOptions{Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	_ = a.AddRule(HardLimitRule(p, time.Minute))
	return clk, p, a
}

func runHardLimitSteps(t *testing.T, clk *clock, a *Alerts, steps []hardLimitStep) {
	t.Helper()
	for i, st := range steps {
		clk.Advance(st.advance)
		if st.do != nil {
			st.do()
		}
		a.Evaluate()
		rs := a.Snapshot().Rules[0]
		if rs.State != st.state || rs.Value != st.value {
			t.Errorf("step %d: %s %v, want %s %v", i, rs.State, rs.Value, st.state, st.value)
		}
		if st.detail != "" && (rs.Firing == nil || rs.Firing.Detail != st.detail) {
			t.Errorf("step %d: firing %+v, want detail %q", i, rs.Firing, st.detail)
		}
	}
}

func TestHardLimitRule(t *testing.T) {
	clk, p, a := newHardLimit()
	req := p.Row("POST /api/v1/actions")
	runHardLimitSteps(t, clk, a, []hardLimitStep{
		{0, func() { req.Record(150 * time.Millisecond); p.Record("s3:get", 2*time.Second) }, StateOK, 0, ""},
		{time.Second, func() { req.Record(250 * time.Millisecond); p.Record("GET /api/v1/state", 210*time.Millisecond) }, StateFiring, 250, ""},
		{30 * time.Second, func() { req.Record(400 * time.Millisecond) }, StateFiring, 400, ""},
		{59 * time.Second, nil, StateFiring, 400, ""},
		{time.Second, nil, StateOK, 0, ""},
		{time.Second, func() { req.Record(300 * time.Millisecond) }, StateFiring, 300, ""}, // a new episode
	})
	first := a.Snapshot().Recent[2] // newest first: fire, resolve, fire
	if first.State != StateFiring || first.Detail != "GET /api/v1/state 210ms, POST /api/v1/actions 250ms" {
		t.Errorf("first firing %+v, want the two slow rows in the detail", first)
	}
}
