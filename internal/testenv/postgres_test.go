package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresServesAndStops(t *testing.T) {
	ctx := context.Background()
	var url string
	t.Run("serve", func(t *testing.T) {
		start := time.Now()
		url = Postgres(t)
		t.Logf("postgres accepting connections after %s", time.Since(start))
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		defer conn.Close(ctx)
		var db string
		var fsync string
		if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('fsync')").Scan(&db, &fsync); err != nil {
			t.Fatal(err)
		}
		if db != "rampart" || fsync != "off" {
			t.Errorf("got database %q fsync %q, want rampart off", db, fsync)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (k text PRIMARY KEY); INSERT INTO t VALUES ('a')"); err != nil {
			t.Fatalf("write: %v", err)
		}
	})
	if t.Skipped() || url == "" {
		return
	}
	if err := pingPostgres(ctx, url); err == nil {
		t.Fatalf("%s still answers after its test ended", url)
	}
}

func TestPostgresSeparateClusters(t *testing.T) {
	ctx := context.Background()
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two servers share %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (k int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("got %d tables only_in_a in the second cluster, want 0", n)
	}
}

func TestPostgresBin(t *testing.T) {
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "postgres"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		want    string // bin dir; "" with wantErr
		wantErr string
	}{
		{name: "env names a bin dir", env: fake, want: fake},
		{name: "env names a dir without postgres", env: t.TempDir(), wantErr: "RAMPART_PG_BIN="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RAMPART_PG_BIN", tt.env)
			got, err := postgresBin()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
