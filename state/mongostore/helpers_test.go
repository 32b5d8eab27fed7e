package mongostore

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/bookkeeper"
	"rampart/internal/devstores"
	"rampart/internal/testenv"
	"rampart/state"
)

func testLog(tb testing.TB) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// mongoTarget is one MongoDB-wire server the suite runs against.
type mongoTarget struct {
	name  string
	start func(tb testing.TB) (*devstores.Mongo, error)
}

// mongoTargets are the embedded FerretDB on SQLite, as `rampart serve`
// runs it, and FerretDB on PostgreSQL (a server per test; skipped when
// PostgreSQL is not installed unless RAMPART_REQUIRE_POSTGRES is set), so
// that nothing depends on how one backend happens to behave.
func mongoTargets() []mongoTarget {
	return []mongoTarget{
		{"sqlite", func(tb testing.TB) (*devstores.Mongo, error) {
			return devstores.StartMongo(tb.TempDir(), testLog(tb))
		}},
		{"postgresql", func(tb testing.TB) (*devstores.Mongo, error) {
			return devstores.StartMongoPostgres(testenv.Postgres(tb), testLog(tb))
		}},
	}
}

// forEachMongo runs test against every target, in subtests named by it.
func forEachMongo(t *testing.T, test func(t *testing.T, target mongoTarget)) {
	for _, target := range mongoTargets() {
		t.Run(target.name, func(t *testing.T) { test(t, target) })
	}
}

// forEachStore runs test, a subtest each, on a Store opened on each of
// mongoTargets.
func forEachStore(t *testing.T, test func(t *testing.T, s *Store)) {
	forEachMongo(t, func(t *testing.T, target mongoTarget) { test(t, openStore(t, target)) })
}

// startMongo serves FerretDB on target for the test and connects to it
// over the wire protocol.
func startMongo(tb testing.TB, target mongoTarget) (*devstores.Mongo, *mongo.Client) {
	tb.Helper()
	m, err := target.start(tb)
	if err != nil {
		tb.Fatalf("start ferretdb on %s: %v", target.name, err)
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

// openStore starts a FerretDB on target and opens a Store on it.
func openStore(tb testing.TB, target mongoTarget, opts ...Option) *Store {
	tb.Helper()
	_, client := startMongo(tb, target)
	s, err := Open(context.Background(), client, "rampart", mongoKeeper(3, 5*time.Second), testLog(tb), opts...)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

func summaryIDs(ss []state.Summary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}
