package devstores

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Mongo is an embedded FerretDB speaking the MongoDB wire protocol on a
// loopback port, storing data with its SQLite handler (or, for the tests,
// its PostgreSQL one).
//
// FerretDB scans whole collections for most queries: fine for development,
// not for a big deployment (point --mongo-uri at MongoDB there).
type Mongo struct {
	// URI is the mongodb:// address to connect to.
	URI string

	cancel context.CancelFunc
	done   chan struct{}
}

// StartMongo serves FerretDB with data under <dataDir>/mongo until Close.
func StartMongo(dataDir string, log *slog.Logger) (*Mongo, error) {
	dir := filepath.Join(dataDir, "mongo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return startFerretDB(&ferretdb.Config{
		Handler: "sqlite",
		// WAL (FerretDB's default) with synchronous=NORMAL: a commit no
		// longer waits for an fsync. A power cut may lose the last
		// commits, never corrupt the file; everything the embedded
		// MongoDB holds (index, analytics, mail of offline attackers) is
		// derived or best-effort.
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(normal)",
	}, log)
}

// StartMongoPostgres serves FerretDB storing data in the PostgreSQL
// database at pgURL (postgres://user@host:port/db) until Close. The tests
// run the MongoDB suites on it too, so that nothing depends on how the
// SQLite handler behaves.
func StartMongoPostgres(pgURL string, log *slog.Logger) (*Mongo, error) {
	return startFerretDB(&ferretdb.Config{Handler: "postgresql", PostgreSQLURL: pgURL}, log)
}

func startFerretDB(cfg *ferretdb.Config, log *slog.Logger) (*Mongo, error) {
	cfg.Listener = ferretdb.ListenerConfig{TCP: "127.0.0.1:0"}
	// FerretDB logs every connection at info; only its errors interest us.
	cfg.Logger = slog.New(&levelHandler{min: slog.LevelError, h: log.Handler()}).With("component", "ferretdb")
	f, err := ferretdb.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded ferretdb (%s): %w", cfg.Handler, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mongo{URI: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		f.Run(ctx) //nolint:errcheck // returns nil when ctx ends
	}()
	return m, nil
}

// Close stops FerretDB and waits for it to close its files.
func (m *Mongo) Close() error {
	m.cancel()
	<-m.done
	return nil
}

// levelHandler drops records below min.
type levelHandler struct {
	min slog.Level
	h   slog.Handler
}

func (l *levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.h.Enabled(ctx, lv)
}
func (l *levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }
func (l *levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &levelHandler{min: l.min, h: l.h.WithAttrs(a)}
}
func (l *levelHandler) WithGroup(n string) slog.Handler {
	return &levelHandler{min: l.min, h: l.h.WithGroup(n)}
}
