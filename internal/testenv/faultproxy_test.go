package testenv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"rampart/internal/testenv"
	"rampart/state"
	"rampart/state/s3store"
)

// blobsVia returns S3 blobs on the embedded S3 reached through p.
func blobsVia(s3 testenv.S3, endpoint string) *s3store.Blobs {
	return s3store.New(s3store.Config{Endpoint: endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{Region: "us-east-1"})
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, within)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestFaultProxyPassesThrough(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	p := testenv.StartFaultProxy(t, s3.Endpoint, 1)
	b := blobsVia(s3, p.URL)
	ctx := context.Background()
	if err := b.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	etag, err := b.Put(ctx, "k", []byte(`{"a":1}`), state.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	data, etag2, err := b.Get(ctx, "k")
	if err != nil || string(data) != `{"a":1}` || etag2 != etag {
		t.Fatalf("get through the proxy = %q %s %v, want the object put with etag %s", data, etag2, err, etag)
	}
	// Conditions reach S3 untouched.
	if _, err := b.Put(ctx, "k", []byte(`{"a":2}`), state.Cond{IfMatch: `"stale"`}); !errors.Is(err, state.ErrPrecondition) {
		t.Fatalf("put with a stale If-Match = %v, want ErrPrecondition", err)
	}
	if _, _, err := b.Get(ctx, "missing"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("get of a missing key = %v, want ErrNotFound", err)
	}
	c := p.Counts()
	if c.Requests < 5 || c.Forwarded != c.Requests || c.Injected() != 0 || c.S3OK < 3 || c.S3Client != 1 || c.S3NotFound != 1 || c.Puts != 2 || c.Gets != 2 {
		t.Fatalf("counts after clean traffic = %+v", c)
	}
}

func TestFaultProxyFailuresAreRetryable(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	direct := blobsVia(s3, s3.Endpoint)
	p := testenv.StartFaultProxy(t, s3.Endpoint, 2)
	b := blobsVia(s3, p.URL)
	ctx := context.Background()
	etag, err := direct.Put(ctx, "k", []byte(`"v0"`), state.Cond{})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		faults testenv.Faults
		kind   string // "503", "reset" or "refused"
		count  func(testenv.FaultCounts) int64
	}{
		{"error rate 1", testenv.Faults{ErrorRate: 1}, "503", func(c testenv.FaultCounts) int64 { return c.Errors503 }},
		{"reset rate 1", testenv.Faults{ResetRate: 1}, "reset", func(c testenv.FaultCounts) int64 { return c.Resets }},
		{"down 503", testenv.Faults{Down: true}, "503", func(c testenv.FaultCounts) int64 { return c.Errors503 }},
		{"down reset", testenv.Faults{Down: true, DownMode: testenv.DownReset}, "reset", func(c testenv.FaultCounts) int64 { return c.Resets }},
		{"down refuse", testenv.Faults{Down: true, DownMode: testenv.DownRefuse}, "refused", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			before := p.Counts()
			t0 := time.Now()
			_, _, gerr := b.Get(ctx, "k")
			_, perr := b.Put(ctx, "k", []byte(`"lost"`), state.Cond{IfMatch: etag})
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("failing get and put took %s, want fast failures", d)
			}
			for _, err := range []error{gerr, perr} {
				checkKind(t, err, tt.kind)
				// The s3 bookkeeper must retry every one of them.
				if !s3store.Retryable(err) {
					t.Errorf("s3store.Retryable(%v) = false, want true: an injected %s must be retried", err, tt.kind)
				}
			}
			if tt.count == nil { // refused: the proxy never saw them
				if c := p.Counts(); c.Requests != before.Requests {
					t.Fatalf("requests reached the proxy while it refused connections: %+v", c)
				}
			} else if n := tt.count(p.Counts()) - tt.count(before); n < 1 {
				t.Fatalf("fault counter did not move: %+v", p.Counts())
			}
			if err := p.SetFaults(testenv.Faults{}); err != nil {
				t.Fatal(err)
			}
			// Nothing reached S3, and S3 is reachable again at the same URL.
			data, etag2, err := b.Get(ctx, "k")
			if err != nil || string(data) != `"v0"` || etag2 != etag {
				t.Fatalf("after the faults: %q %s %v, want the untouched object", data, etag2, err)
			}
		})
	}

	t.Run("lost reply", func(t *testing.T) {
		p.SetFaults(testenv.Faults{LostReplyRate: 1, Match: func(r *http.Request) bool { return r.Method == http.MethodPut }})
		_, err := b.Put(ctx, "k", []byte(`"landed"`), state.Cond{IfMatch: etag})
		checkKind(t, err, "reset")
		if !s3store.Retryable(err) {
			t.Errorf("s3store.Retryable(%v) = false, want true for a reset", err)
		}
		p.SetFaults(testenv.Faults{})
		data, etag2, err := b.Get(ctx, "k")
		if err != nil || string(data) != `"landed"` || etag2 == etag {
			t.Fatalf("after a lost reply S3 holds %q %s %v, want the write landed", data, etag2, err)
		}
		// The retry a client makes now loses its condition: the S3 side of
		// the lost-reply hazard.
		if _, err := b.Put(ctx, "k", []byte(`"landed"`), state.Cond{IfMatch: etag}); !errors.Is(err, state.ErrPrecondition) {
			t.Fatalf("retried put = %v, want ErrPrecondition", err)
		}
		if c := p.Counts(); c.LostReplies != 1 {
			t.Fatalf("lost replies = %d, want 1", c.LostReplies)
		}
		etag = etag2
	})

	t.Run("down hang", func(t *testing.T) {
		p.SetFaults(testenv.Faults{Down: true, DownMode: testenv.DownHang})
		before := p.Counts()
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, _, err := b.Get(tctx, "k")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !s3store.Retryable(err) {
			t.Fatalf("get while hung = %v, want the try's deadline, retryable", err)
		}
		waitFor(t, 5*time.Second, "proxy notices the client gave up", func() bool { return p.Counts().ClientGone > before.ClientGone })

		// A request held while down goes through when S3 comes back.
		got := make(chan error, 1)
		go func() { _, _, err := b.Get(ctx, "k"); got <- err }()
		waitFor(t, 5*time.Second, "second request held", func() bool { return p.Counts().Hung >= before.Hung+2 })
		p.SetFaults(testenv.Faults{})
		if err := testenv.Receive(t, got, 10*time.Second, "held request not released by recovery"); err != nil {
			t.Fatalf("held get after recovery: %v", err)
		}
		if c := p.Counts(); c.Forwarded <= before.Forwarded {
			t.Fatalf("held request not forwarded: %+v", c)
		}
	})

	t.Run("delay", func(t *testing.T) {
		p.SetFaults(testenv.Faults{DelayRate: 1, Delay: 150 * time.Millisecond})
		before := p.Counts()
		t0 := time.Now()
		if _, _, err := b.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d < 150*time.Millisecond {
			t.Fatalf("delayed get took %s, want at least 150ms", d)
		}
		// A client that gives up during the delay is never forwarded.
		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := b.Put(tctx, "k", []byte(`"late"`), state.Cond{IfMatch: etag})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("put timing out in the delay = %v", err)
		}
		waitFor(t, 5*time.Second, "client gone counted", func() bool { return p.Counts().ClientGone > before.ClientGone })
		p.SetFaults(testenv.Faults{})
		if data, _, _ := b.Get(ctx, "k"); string(data) != `"landed"` {
			t.Fatalf("a put abandoned in the delay reached S3: %q", data)
		}
		c := p.Counts()
		if c.Delayed-before.Delayed != 2 || c.Forwarded-before.Forwarded != 2 {
			t.Fatalf("delay counts %+v (before %+v), want 2 delayed, 2 forwarded (get, get)", c, before)
		}
	})
}

// checkKind fails t unless err is the failure kind says.
func checkKind(t *testing.T, err error, kind string) {
	t.Helper()
	var api smithy.APIError
	switch {
	case err == nil:
		t.Fatalf("no error, want a %s", kind)
	case kind == "503":
		if !errors.As(err, &api) || (api.ErrorCode() != "SlowDown" && api.ErrorCode() != "ServiceUnavailable") {
			t.Fatalf("error %v: want S3 code SlowDown or ServiceUnavailable", err)
		}
	case kind == "reset":
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("error %v: want a connection reset", err)
		}
	case kind == "refused":
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("error %v: want a refused connection", err)
		}
	}
}

// outcomes sends n requests one at a time through p on fresh connections
// and returns what each got.
func outcomes(t *testing.T, p *testenv.FaultProxy, n int) []string {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	out := make([]string, n)
	for i := range out {
		resp, err := client.Get(p.URL + "/rampart/nothing")
		if err != nil {
			out[i] = "reset"
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out[i] = fmt.Sprint(resp.StatusCode)
		if resp.StatusCode == 503 {
			if !bytes.Contains(body, []byte("<Error><Code>")) || resp.Header.Get("Content-Type") != "application/xml" {
				t.Fatalf("503 body %q (%s), want an S3 XML error", body, resp.Header.Get("Content-Type"))
			}
		}
	}
	return out
}

func TestFaultProxyRatesAndSeed(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	faults := testenv.Faults{ErrorRate: 0.3, ResetRate: 0.2}
	run := func(seed int64) ([]string, testenv.FaultCounts) {
		p := testenv.StartFaultProxy(t, s3.Endpoint, seed)
		p.SetFaults(faults)
		return outcomes(t, p, 300), p.Counts()
	}
	a, ca := run(7)
	b, _ := run(7)
	c, _ := run(8)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatal("two proxies with the same seed made different fault decisions")
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Fatal("different seeds made the same 300 decisions")
	}
	tally := map[string]int{}
	for _, o := range a {
		tally[o]++
	}
	// 300 draws: the expected 90 errors and 60 resets, within ±4σ. The
	// rest reach the embedded S3 unsigned: 403.
	if tally["503"] < 60 || tally["503"] > 120 || tally["reset"] < 35 || tally["reset"] > 85 {
		t.Fatalf("outcomes %v, want about 90 503s and 60 resets", tally)
	}
	if ca.Requests != 300 || ca.Errors503 != int64(tally["503"]) || ca.Resets != int64(tally["reset"]) ||
		ca.Forwarded != 300-ca.Injected() || ca.S3Client != ca.Forwarded || tally["403"] != int(ca.Forwarded) {
		t.Fatalf("counts %+v disagree with the outcomes %v", ca, tally)
	}
}

func TestFaultProxyMatch(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	p := testenv.StartFaultProxy(t, s3.Endpoint, 3)
	b := blobsVia(s3, p.URL)
	ctx := context.Background()
	p.SetFaults(testenv.Faults{Down: true, Match: func(r *http.Request) bool { return r.Method == http.MethodPut }})
	if _, err := b.Put(ctx, "k", []byte("x"), state.Cond{}); err == nil {
		t.Fatal("put matched by the fault went through")
	}
	if _, _, err := b.Get(ctx, "k"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("get not matched = %v, want it to reach S3 (not found)", err)
	}
	if c := p.Counts(); c.Errors503 != 1 || c.Forwarded != 1 {
		t.Fatalf("counts %+v, want the put failed and the get forwarded", c)
	}
}
