package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	testclock "rampart/internal/testenv/clock"
	"strings"
	"testing"
	"time"

	"rampart/bookkeeper"
	"rampart/internal/testenv/keepertest"
)

// keeperFixture drives real bookkeepers into a known state:
//
//	s3     2 ok, 1 error, 1 retry, 1 cancelled, 1 dropped; s3:put on the
//	       wire (accepted at t0), s3:get in the queue (t0+3s)
//	mongo  mongo:save waiting for a retry that never comes (t0+1s)
//	idle   nothing, no limits
//
// and the clock stands at t0+5s. Cleanup releases everything and checks
// the keepers drain.
type keeperFixture struct {
	clk *clock
	reg *bookkeeper.Registry
	mux *http.ServeMux
}

func newKeeperFixture(t *testing.T) *keeperFixture {
	t.Helper()
	clk := testclock.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	never := func(time.Duration) <-chan time.Time { return nil }
	s3 := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 1, QueueLimit: 1, Timeout: 5 * time.Second,
		MaxTries: 3, Retryable: keepertest.IsRetry, Now: clk.Now, After: keepertest.Immediate})
	mongo := bookkeeper.New(bookkeeper.Config{Name: "mongo", MaxTries: 2, Retryable: keepertest.IsRetry, Now: clk.Now, After: never})
	idle := bookkeeper.New(bookkeeper.Config{Name: "idle", Now: clk.Now})
	f := &keeperFixture{clk: clk, reg: bookkeeper.NewRegistry(s3, mongo, idle), mux: http.NewServeMux()}
	f.mux.Handle("GET /debug/bookkeepers", Bookkeepers(f.reg))

	ctx, block := keepertest.Hold(t, f.reg)
	keepertest.Land(ctx, s3, "s3:get")
	done, stop := context.WithCancel(ctx)
	stop()
	if err := s3.Do(done, "s3:get", func(context.Context) error { return nil }); err == nil {
		t.Fatal("Do with a done ctx succeeded")
	}
	if err := s3.Go(ctx, "s3:put", block, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := mongo.Go(ctx, "mongo:save", func(context.Context) error { return keepertest.ErrRetry }, nil); err != nil {
		t.Fatal(err)
	}
	// mongo's try fails on its own goroutine; wait until it backs off.
	for deadline := time.Now().Add(10 * time.Second); mongo.Stats().WaitingForRetry != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("mongo never waited for a retry: %+v", mongo.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	clk.Advance(2 * time.Second)
	if err := s3.Go(ctx, "s3:get", block, nil); err != nil {
		t.Fatal(err)
	}
	if err := s3.Go(ctx, "s3:get", block, nil); !errors.Is(err, bookkeeper.ErrDropped) {
		t.Fatalf("third Go: %v, want ErrDropped", err)
	}
	clk.Advance(2 * time.Second)
	return f
}

func TestBookkeepersJSON(t *testing.T) {
	f := newKeeperFixture(t)
	for _, tc := range []struct {
		name   string
		target string
		header []string
	}{
		{"format", "/debug/bookkeepers?format=json", nil},
		{"accept", "/debug/bookkeepers", []string{"Accept", "application/json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := getOK(t, f.mux, tc.target, tc.header...)
			var doc BookkeepersJSON
			if shape := decodeJSONPage(t, w, &doc, "bookkeepers"); len(shape) != 1 {
				t.Fatalf("body %s, want one key, bookkeepers", w.Body)
			}
			if len(doc.Bookkeepers) != 3 {
				t.Fatalf("%d bookkeepers, want 3", len(doc.Bookkeepers))
			}
			s3, mongo, idle := doc.Bookkeepers[0], doc.Bookkeepers[1], doc.Bookkeepers[2]
			if s3.Name != "s3" || mongo.Name != "mongo" || idle.Name != "idle" {
				t.Errorf("names %s, %s, %s; want s3, mongo, idle (registration order)", s3.Name, mongo.Name, idle.Name)
			}
			type counts struct {
				Accepted, Attempted, OK, Errors, Retries, Dropped, Cancelled, Missing int64
				InQueue, OnWire, Waiting                                              int
			}
			got := counts{s3.Accepted, s3.Attempted, s3.OK, s3.Errors, s3.Retries, s3.Dropped, s3.Cancelled, s3.Missing,
				s3.InQueue, s3.OnWire, s3.WaitingForRetry}
			if want := (counts{Accepted: 7, Attempted: 5, OK: 2, Errors: 1, Retries: 1, Dropped: 1, Cancelled: 1, InQueue: 1, OnWire: 1}); got != want {
				t.Errorf("s3 counts %+v, want %+v", got, want)
			}
			if s3.OldestAgeMS != 5000 || s3.TimeoutMS != 5000 || s3.Concurrency != 1 || s3.QueueLimit != 1 || s3.MaxTries != 3 {
				t.Errorf("s3 oldest %d ms, limits %d/%d/%d ms/%d; want 5000, 1/1/5000/3", s3.OldestAgeMS, s3.Concurrency, s3.QueueLimit, s3.TimeoutMS, s3.MaxTries)
			}
			if len(s3.InFlight) != 2 || s3.InFlight[0].Op != "s3:put" || s3.InFlight[0].State != "on_wire" || s3.InFlight[1].State != "in_queue" {
				t.Errorf("s3 in flight %+v, want s3:put on the wire, then s3:get in the queue", s3.InFlight)
			}
			if mongo.WaitingForRetry != 1 || mongo.Missing != 0 || idle.Accepted != 0 || idle.InFlight == nil {
				t.Errorf("mongo %+v, idle %+v; want mongo waiting for retry, idle empty", mongo, idle)
			}
		})
	}
}

func TestBookkeepersHTML(t *testing.T) {
	f := newKeeperFixture(t)
	runHTMLCases(t, f.mux, []htmlCase{
		{"table and in flight, oldest first", "/debug/bookkeepers", []string{
			`<a href="/debug/bookkeepers?format=json">JSON</a>`,
			`<table id="bookkeepers">`,
			// name, accepted, dropped, attempted, ok, errors, retries, cancelled, on wire, in queue, waiting, missing
			`<td class="name">s3</td><td>7</td><td>1</td><td>5</td><td>2</td><td>1</td><td>1</td><td>1</td><td>1</td><td>1</td><td>0</td><td class="missing">0</td>` +
				// concurrency, queue limit, timeout, max tries, oldest, longest try, error rate
				`<td>1</td><td>1</td><td>5s</td><td>3</td><td>5s</td><td>5s</td><td>50.0% (2/4)</td>`,
			`<td class="name">mongo</td>`,
			`<td class="missing">0</td><td>none</td><td>none</td><td>none</td><td>2</td><td>4s</td><td>–</td><td>100.0% (1/1)</td>`,
			`<td class="name">idle</td><td>0</td>`,
			`<table id="inflight">`,
			`<tr class="on_wire"><td>s3</td><td>s3:put</td><td>on_wire</td><td>1</td><td>5s</td><td>5s</td></tr>`,
			`<tr class="waiting_for_retry"><td>mongo</td><td>mongo:save</td><td>waiting_for_retry</td><td>1</td><td>4s</td><td>4s</td></tr>`,
			`<tr class="in_queue"><td>s3</td><td>s3:get</td><td>in_queue</td><td>0</td><td>2s</td><td>2s</td></tr>`,
		}, []string{"missing-nonzero\"", `http-equiv="refresh"`, "<script"}},
		{"auto-refresh", "/debug/bookkeepers?refresh=5", []string{
			`<meta http-equiv="refresh" content="5">`, `<a href="/debug/bookkeepers">off</a>`, `<span class="current">5s</span>`,
		}, nil},
	})
}

// TestBookkeepersMissingIsRed renders snapshots directly: a real keeper
// cannot be made to leak from outside.
func TestBookkeepersMissingIsRed(t *testing.T) {
	tests := []struct {
		name    string
		missing int64
		want    string
		red     bool
	}{
		{"balanced", 0, `<td class="missing">0</td>`, false},
		{"one lost", 1, `<td class="missing missing-nonzero">1</td>`, true},
		{"counted twice", -2, `<td class="missing missing-nonzero">-2</td>`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			stats := []bookkeeper.Stats{{Name: "leaky", Accepted: 3, OK: 2, Missing: tc.missing}}
			if err := renderBookkeepers(w, "/debug/bookkeepers", stats, 0); err != nil {
				t.Fatal(err)
			}
			body := w.Body.String()
			if !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %s", tc.want)
			}
			if red := strings.Contains(body, `missing-nonzero"`); red != tc.red {
				t.Errorf("missing %d: red %v, want %v", tc.missing, red, tc.red)
			}
		})
	}
}

func TestBookkeepersEmpty(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/bookkeepers", Bookkeepers(bookkeeper.NewRegistry()))
	for _, tc := range []struct{ target, want string }{
		{"/debug/bookkeepers", "No bookkeepers registered."},
		{"/debug/bookkeepers?format=json", `"bookkeepers": []`},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.target, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("GET %s: %d %s, want 200 with %s", tc.target, w.Code, w.Body, tc.want)
		}
	}
}
