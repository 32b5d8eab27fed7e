package mongostore

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/bookkeeper"
	"rampart/internal/devstores"
	"rampart/state"
)

func testLog(tb testing.TB) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startMongo serves an embedded FerretDB for the test and connects to it
// over the wire protocol.
func startMongo(tb testing.TB) (*devstores.Mongo, *mongo.Client) {
	tb.Helper()
	m, err := devstores.StartMongo(tb.TempDir(), testLog(tb))
	if err != nil {
		tb.Fatalf("start ferretdb: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI).
		SetServerSelectionTimeout(2 * time.Second).SetConnectTimeout(time.Second))
	if err != nil {
		tb.Fatalf("connect %s: %v", m.URI, err)
	}
	tb.Cleanup(func() { client.Disconnect(context.Background()) })
	return m, client
}

// mongoKeeper is the mongo bookkeeper as cmd/rampart would wire it.
func mongoKeeper(tries int, timeout time.Duration) *bookkeeper.Keeper {
	return bookkeeper.New(bookkeeper.Config{
		Name: "mongo", Concurrency: 16, QueueLimit: 1024, Timeout: timeout, MaxTries: tries,
		Retryable: Retryable, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
}

// openStore starts a FerretDB and opens a Store on it.
func openStore(tb testing.TB, opts ...Option) *Store {
	tb.Helper()
	_, client := startMongo(tb)
	s, err := Open(context.Background(), client, "rampart", mongoKeeper(3, 5*time.Second), testLog(tb), opts...)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

// clock is a settable Unix-ms clock.
type clock struct {
	mu sync.Mutex
	ms int64
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.UnixMilli(c.ms)
}

func (c *clock) Set(ms int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ms = ms
}

func summaryIDs(ss []state.Summary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}
