package s3store_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"rampart/internal/testenv"
	"rampart/state/blob"
	"rampart/state/s3store"
)

// The client's cost per S3 call, against versitygw on loopback (skipped
// when $RAMPART_VERSITYGW is not set):
//
//	RAMPART_VERSITYGW=/work/main/bin/versitygw go test -run '^$' \
//	    -bench . -benchmem -count 5 ./state/s3store/
//
// cpu-µs/op is this process's user+sys CPU (getrusage) per call: versitygw
// runs in a process of its own, so it is the client's cost alone (the SDK's
// signing and middleware, net/http, the runtime and GC), the figure that
// bounds a sign-in storm on a server with one core.

// benchBlobs is Blobs on a fresh versitygw, with the transport the server
// uses (cmd/rampart: 128 idle connections per host).
func benchBlobs(b *testing.B) *s3store.Blobs {
	b.Helper()
	target := testenv.VersityGW(b)
	bl := s3store.New(s3store.Config{Endpoint: target.Endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: target.AccessKey, SecretKey: target.SecretKey,
		HTTPClient: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second,
		}}}, aws.Config{})
	if err := bl.EnsureBucket(context.Background()); err != nil {
		b.Fatal(err)
	}
	return bl
}

// playerDoc is a ~4 KiB JSON document, the size of a young player.
var playerDoc = func() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"schema":3,"id":"p-0123456789abcdef","base":{"buildings":[`)
	for i := 0; buf.Len() < 4000; i++ {
		fmt.Fprintf(&buf, `{"id":%d,"kind":"farm","level":%d,"x":%d,"y":%d},`, i, i%7, i%40, i/40)
	}
	buf.WriteString(`{"id":-1}]}}`)
	return buf.Bytes()
}()

// cpuTime is this process's user+sys CPU so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs op b.N times and reports the client's CPU per call.
func measure(b *testing.B, op func(ctx context.Context) error) {
	b.Helper()
	ctx := context.Background()
	for range 3 { // a warm connection, as in a running server
		if err := op(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if err := op(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// benchBlobsWithPlayer is benchBlobs with playerDoc at players/p.
func benchBlobsWithPlayer(b *testing.B) *s3store.Blobs {
	b.Helper()
	bl := benchBlobs(b)
	if _, err := bl.Put(context.Background(), "players/p", playerDoc, blob.Cond{}); err != nil {
		b.Fatal(err)
	}
	return bl
}

// BenchmarkGet reads a ~4 KiB player document.
func BenchmarkGet(b *testing.B) {
	bl := benchBlobsWithPlayer(b)
	measure(b, func(ctx context.Context) error {
		data, _, err := bl.Get(ctx, "players/p")
		if err == nil && len(data) != len(playerDoc) {
			err = fmt.Errorf("read %d bytes, want %d", len(data), len(playerDoc))
		}
		return err
	})
}

// BenchmarkGetMissing reads a key that is not there (a new device's
// credential lookup): ErrNotFound is the answer.
func BenchmarkGetMissing(b *testing.B) {
	bl := benchBlobs(b)
	measure(b, func(ctx context.Context) error {
		if _, _, err := bl.Get(ctx, "credentials/missing"); err != blob.ErrNotFound {
			return fmt.Errorf("get a missing key: %v, want ErrNotFound", err)
		}
		return nil
	})
}

// BenchmarkPut writes a ~4 KiB player document unconditionally.
func BenchmarkPut(b *testing.B) {
	bl := benchBlobs(b)
	measure(b, func(ctx context.Context) error {
		_, err := bl.Put(ctx, "players/p", playerDoc, blob.Cond{})
		return err
	})
}

// BenchmarkPutIfMatch writes a ~4 KiB player document over the version it
// wrote last (a checkpoint).
func BenchmarkPutIfMatch(b *testing.B) {
	bl := benchBlobs(b)
	etag, err := bl.Put(context.Background(), "players/p", playerDoc, blob.Cond{})
	if err != nil {
		b.Fatal(err)
	}
	measure(b, func(ctx context.Context) error {
		next, err := bl.Put(ctx, "players/p", playerDoc, blob.Cond{IfMatch: etag})
		etag = next
		return err
	})
}

// BenchmarkGetParallel64 reads with 64 calls in flight, as the s3
// bookkeeper runs them in a sign-in storm: the runtime's cost of going idle
// between calls is shared, so the SDK's own share shows.
func BenchmarkGetParallel64(b *testing.B) {
	bl := benchBlobsWithPlayer(b)
	measureParallel(b, func(ctx context.Context) error {
		_, _, err := bl.Get(ctx, "players/p")
		return err
	})
}

// BenchmarkPutParallel64 writes 64 players' documents at once, each with
// If-Match on its own last version (a checkpoint storm).
func BenchmarkPutParallel64(b *testing.B) {
	bl := benchBlobs(b)
	var next atomic.Int64
	measureParallel(b, func(ctx context.Context) error {
		_, err := bl.Put(ctx, fmt.Sprintf("players/p%d", next.Add(1)%64), playerDoc, blob.Cond{})
		return err
	})
}

// measureParallel is measure with 64 goroutines.
func measureParallel(b *testing.B, op func(ctx context.Context) error) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	cpu0 := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
