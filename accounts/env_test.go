package accounts_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	testclock "rampart/internal/testenv/clock"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"rampart/accounts"
	"rampart/bookkeeper"
	"rampart/internal/testenv"
	"rampart/state"
	"rampart/state/s3store"
)

// s3Blobs adapts state.Blobs to accounts.Blobs: the adapter the server's
// wiring uses.
type s3Blobs struct{ b state.Blobs }

func (a s3Blobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	d, etag, err := a.b.Get(ctx, key)
	return d, etag, mapBlobErr(err)
}

func (a s3Blobs) Create(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := a.b.Put(ctx, key, data, state.Cond{IfNoneMatch: true})
	return etag, mapBlobErr(err)
}

func (a s3Blobs) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	next, err := a.b.Put(ctx, key, data, state.Cond{IfMatch: etag})
	return next, mapBlobErr(err)
}

func mapBlobErr(err error) error {
	switch {
	case errors.Is(err, state.ErrNotFound):
		return fmt.Errorf("%w: %w", accounts.ErrObjectNotFound, err)
	case errors.Is(err, state.ErrPrecondition):
		return fmt.Errorf("%w: %w", accounts.ErrPrecondition, err)
	}
	return err
}

var _ accounts.Blobs = s3Blobs{}

// counting counts writes and can lose the reply of the next n writes
// (the write lands, the caller sees a timeout), for fault injection.
type counting struct {
	accounts.Blobs
	writes   atomic.Int64
	loseNext atomic.Int64
}

var errLostReply = fmt.Errorf("lost reply: %w", context.DeadlineExceeded)

func (c *counting) Create(ctx context.Context, key string, data []byte) (string, error) {
	c.writes.Add(1)
	etag, err := c.Blobs.Create(ctx, key, data)
	if err == nil && c.loseNext.Add(-1) >= 0 {
		return "", errLostReply
	}
	return etag, err
}

func (c *counting) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	c.writes.Add(1)
	next, err := c.Blobs.Replace(ctx, key, data, etag)
	if err == nil && c.loseNext.Add(-1) >= 0 {
		return "", errLostReply
	}
	return next, err
}

var (
	tokenKey     = []byte("token-key-token-key-token-key-32")
	ticketSecret = []byte("ticket-secret-ticket-secret-0032")
	edPrivate    = ed25519.NewKeyFromSeed([]byte("ed25519-seed-ed25519-seed-000032"))
	edPublic     = edPrivate.Public().(ed25519.PublicKey)
)

// env is one bucket and the things every Accounts on it shares.
type env struct {
	blobs  *counting
	keeper *bookkeeper.Keeper
	clock  *testclock.Clock
}

// servers are the S3 servers every S3 test runs against.
var servers = []struct {
	name  string
	start func(testing.TB) testenv.S3
}{
	{"embedded", testenv.EmbeddedS3},
	{"versitygw", testenv.VersityGW},
}

// eachS3 runs f against every S3 server.
func eachS3(t *testing.T, f func(t *testing.T, e *env)) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s3 := srv.start(t)
			b := s3store.New(s3store.Config{Endpoint: s3.Endpoint, Region: "us-east-1", Bucket: "rampart-accounts",
				AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := b.EnsureBucket(ctx); err != nil {
				t.Fatal(err)
			}
			e := &env{
				blobs: &counting{Blobs: s3Blobs{b}},
				keeper: bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 16, QueueLimit: 1000,
					Timeout: 5 * time.Second, MaxTries: 3, Retryable: s3store.Retryable, BackoffBase: time.Millisecond}),
				clock: testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)),
			}
			f(t, e)
		})
	}
}

// config is what every test's Accounts starts from: cheap password
// hashes, so that -race runs stay quick (the benchmark measures the real
// cost).
func (e *env) config() accounts.Config {
	return accounts.Config{
		TokenKey:          tokenKey,
		TicketSecret:      ticketSecret,
		PasswordMemoryKiB: 64,
		PasswordPasses:    1,
		Now:               e.clock.Now,
	}
}

// open returns a new Accounts on e's bucket: a new server, or a restart.
func (e *env) open(t *testing.T, mod ...func(*accounts.Config)) *accounts.Accounts {
	t.Helper()
	cfg := e.config()
	for _, m := range mod {
		m(&cfg)
	}
	a, err := accounts.New(cfg, e.blobs, e.keeper)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantCode(t *testing.T, err error, code string) *accounts.Error {
	t.Helper()
	var ae *accounts.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want code %s", err, code)
	}
	if ae.Code != code {
		t.Fatalf("got code %s (%v), want %s", ae.Code, err, code)
	}
	return ae
}

func mustSignIn(t *testing.T, a *accounts.Accounts, c accounts.Credential, create bool) accounts.Grant {
	t.Helper()
	g, err := a.SignIn(context.Background(), c, create)
	if err != nil {
		t.Fatalf("sign in %+v: %v", c, err)
	}
	return g
}
