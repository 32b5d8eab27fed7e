package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h := newHasher(1, 4, rand.Reader, 64, 1)
	ctx := context.Background()
	stored, err := h.hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("got %q, want a PHC argon2id string", stored)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsf": false, "": false} {
		if ok, err := h.check(ctx, stored, pw); err != nil || ok != want {
			t.Errorf("check %q: got %v, %v; want %v", pw, ok, err, want)
		}
	}
	if again, _ := h.hash(ctx, "correct horse"); again == stored {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{
		"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5",
	} {
		if _, err := h.check(ctx, bad, "pw"); err == nil {
			t.Errorf("check against %q: no error", bad)
		}
	}
}

// A storm of password checks waits in a bounded queue; past it, rate_limited.
func TestHasherQueue(t *testing.T) {
	h := newHasher(1, 2, rand.Reader, 64, 1)
	ctx := context.Background()
	if err := h.acquire(ctx); err != nil { // the one slot
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := h.acquire(ctx); err != nil {
				t.Error(err)
				return
			}
			h.release()
		})
	}
	for h.waiting.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	err := h.acquire(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Code != "rate_limited" || e.RetryAfter <= 0 {
		t.Fatalf("third waiter: got %v, want rate_limited with a RetryAfter", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	h.waiting.Add(-1) // make room for one more, then give up on ctx
	if err := h.acquire(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: got %v, want context.Canceled", err)
	}
	h.waiting.Add(1)
	h.release()
	wg.Wait()
}

func TestKeyedLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewKeyedLimiter(1, 3, 32, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, after := l.Allow("a")
	if ok || after != time.Second {
		t.Fatalf("past the burst: got %v, %s; want refused for 1s", ok, after)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key was refused")
	}
	now = now.Add(1500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after refilling")
	}
	if ok, after := l.Allow("a"); ok || after != 500*time.Millisecond {
		t.Fatalf("got %v, %s; want refused for 500ms", ok, after)
	}
	for i := range 10000 {
		l.Allow(fmt.Sprint("k", i))
	}
	if n := l.Len(); n > 32 {
		t.Errorf("remembers %d keys, want at most 32", n)
	}
}

func TestKeyedLimiterConcurrent(t *testing.T) {
	l := NewKeyedLimiter(1000, 10, 64, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				l.Allow(fmt.Sprint(g, "-", i%100))
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 64 {
		t.Errorf("remembers %d keys, want at most 64", n)
	}
}

func BenchmarkPasswordCheck(b *testing.B) {
	h := newHasher(1, 1, rand.Reader, argonMemory, argonTime)
	ctx := context.Background()
	stored, err := h.hash(ctx, "correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if ok, err := h.check(ctx, stored, "correct horse battery"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	// CPU per check, GC included: what one sign-in costs the server,
	// whatever else is running on the machine (ns/op is wall time).
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

func BenchmarkVerify(b *testing.B) {
	s := newSigner([]byte("token-key-token-key-token-key-32"))
	now := time.Now()
	tok := s.signSession(Claims{Player: "uAAAAAAAAAAAAAAAAAAAAAA", Gen: 3, Session: "c2Vzc2lvbmlkMTI", Expires: now.Add(time.Hour).UnixMilli()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.verifySession(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewKeyedLimiter(10, 20, 1<<20, nil)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i&(len(keys)-1)])
			i++
		}
	})
}
