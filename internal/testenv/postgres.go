package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres starts a PostgreSQL server of its own for t on a loopback port,
// stops it when t ends, and returns the URL of its database "rampart"
// (superuser postgres, trust authentication: only a test cluster).
//
// The server binaries are Debian's (/usr/lib/postgresql/<highest>/bin) or
// those in $RAMPART_PG_BIN. When there are none t is skipped, unless
// $RAMPART_REQUIRE_POSTGRES is set (as `make test` does): then it fails.
//
// One server per test rather than one per test binary with a database per
// test: nothing would stop a per-binary server (there is no hook when a test
// binary ends without a TestMain in every package), and a test that breaks
// its server cannot disturb the next. initdb (~1.5 s) runs once per machine
// and PostgreSQL version: the initialised cluster is kept under the user's
// cache dir and copied for every test, so a test pays for a copy (~10 MB)
// and a server start.
func Postgres(t testing.TB) string {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		if os.Getenv("RAMPART_REQUIRE_POSTGRES") != "" {
			t.Fatalf("RAMPART_REQUIRE_POSTGRES is set but %v (make test-deps installs postgresql)", err)
		}
		t.Skipf("%v (make test-deps installs postgresql)", err)
	}
	owner, err := postgresOwner()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := postgresTemplate(bin, owner)
	if err != nil {
		t.Fatalf("postgres template cluster: %v", err)
	}

	// Not t.TempDir: its parent is private to the test process's user,
	// which the postgres user must traverse. The path is short too, as the
	// Unix socket's must be (108 bytes).
	dir, err := os.MkdirTemp("", "rampart-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := owner.chown(dir); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := copyTree(tmpl, data, owner); err != nil {
		t.Fatalf("copy template cluster: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor

	_, port, _ := net.SplitHostPort(FreeAddr(t))
	// -F: fsync off. A test's cluster is thrown away, so a crash losing
	// commits does not matter, and the tests stop waiting on the disk.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-h", "127.0.0.1", "-p", port, "-F")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = owner.procAttr()
	// SIGINT is the fast shutdown: roll back, checkpoint, exit.
	exited := startProcess(t, "postgres", cmd, os.Interrupt, 30*time.Second)
	url := "postgres://postgres@127.0.0.1:" + port + "/rampart"
	if err := waitPostgres(url, exited, 15*time.Second); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("postgres: %v\n%s", err, log)
	}
	return url
}

// postgresBin is the directory with initdb and postgres: $RAMPART_PG_BIN or
// Debian's newest /usr/lib/postgresql/<version>/bin.
func postgresBin() (string, error) {
	if bin := os.Getenv("RAMPART_PG_BIN"); bin != "" {
		if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
			return "", fmt.Errorf("RAMPART_PG_BIN=%s: %w", bin, err)
		}
		return bin, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestVersion := "", -1
	for _, p := range found {
		bin := filepath.Dir(p)
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(bin, "initdb")); err == nil && v > bestVersion {
			best, bestVersion = bin, v
		}
	}
	if best == "" {
		return "", errors.New("postgresql not installed (no /usr/lib/postgresql/*/bin/{initdb,postgres}, RAMPART_PG_BIN unset)")
	}
	return best, nil
}

// pgOwner is the user the server runs as: ourselves, or the postgres
// system user when we are root, since initdb and postgres refuse to run
// as root.
type pgOwner struct {
	cred *syscall.Credential // nil: ourselves
}

func postgresOwner() (pgOwner, error) {
	if os.Geteuid() != 0 {
		return pgOwner{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return pgOwner{}, fmt.Errorf("running as root, and postgres refuses root: need the postgres user (the postgresql package creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return pgOwner{}, fmt.Errorf("user postgres: %w", err)
	}
	return pgOwner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
}

func (o pgOwner) chown(path string) error {
	if o.cred == nil {
		return nil
	}
	return os.Lchown(path, int(o.cred.Uid), int(o.cred.Gid))
}

// procAttr runs a child as the owner (Go sets the credentials in the child
// before exec, as runuser would) and has the kernel stop it should the
// test binary die without running its cleanups (a -timeout panic).
func (o pgOwner) procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: o.cred, Pdeathsig: syscall.SIGQUIT}
}

// templateFormat names how the template is made; change it when the
// initdb flags or the template's contents change.
const templateFormat = "3"

var templates struct {
	mu   sync.Mutex
	dirs map[string]string // bin dir → template cluster
}

// postgresTemplate returns an initialised cluster with a database
// "rampart", made once per machine and server version under the user's
// cache dir, to be copied and never started itself.
func postgresTemplate(bin string, owner pgOwner) (string, error) {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if dir, ok := templates.dirs[bin]; ok {
		return dir, nil
	}
	version, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s/postgres --version: %w", bin, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	key := sha256.Sum256([]byte(templateFormat + "\x00" + bin + "\x00" + string(version)))
	dir := filepath.Join(cache, "rampart", fmt.Sprintf("postgres-%x", key[:6]))
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		if err := makeTemplate(bin, owner, dir); err != nil {
			return "", err
		}
	}
	if templates.dirs == nil {
		templates.dirs = map[string]string{}
	}
	templates.dirs[bin] = dir
	return dir, nil
}

// makeTemplate runs initdb as owner in a scratch dir the owner can write,
// creates the database in single-user mode (no server, no port), and moves
// the result to dir with a rename, so that concurrent test binaries never
// see half a template.
func makeTemplate(bin string, owner pgOwner, dir string) error {
	scratch, err := os.MkdirTemp("", "rampart-pginit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if err := owner.chown(scratch); err != nil {
		return err
	}
	data := filepath.Join(scratch, "data")
	// -N: no fsync, as the server runs with -F; a 1 MB WAL segment
	// instead of 16 MB keeps the per-test copy small.
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-N", "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--wal-segsize=1")
	initdb.SysProcAttr = owner.procAttr()
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// The databases tests do not use go, template1 too (CREATE DATABASE
	// needs "TEMPLATE rampart"): each costs a copy of 7 MB and 300 files
	// per test. With min_wal_size at its least, the shutdown checkpoint
	// removes the WAL segments initdb left (4 of 5 MB).
	for _, s := range []struct{ db, sql string }{
		{"template1", "CREATE DATABASE rampart\n" +
			"DROP DATABASE postgres\n" +
			"ALTER DATABASE template0 IS_TEMPLATE false\n" +
			"DROP DATABASE template0\n"},
		{"rampart", "ALTER DATABASE template1 IS_TEMPLATE false\n" +
			"DROP DATABASE template1\n"},
	} {
		single := exec.Command(filepath.Join(bin, "postgres"), "--single", "-D", data, "-F",
			"-c", "min_wal_size=2MB", "-c", "max_wal_size=2MB", s.db)
		single.Stdin = strings.NewReader(s.sql)
		single.SysProcAttr = owner.procAttr()
		out, err := single.CombinedOutput()
		if err == nil && bytes.Contains(out, []byte("ERROR:")) {
			err = errors.New("a statement failed")
		}
		if err != nil {
			return fmt.Errorf("postgres --single %s: %w\n%s", s.db, err, out)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	staged, err := os.MkdirTemp(filepath.Dir(dir), ".staging-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staged)
	// A copy, not a rename: the cache may be on another file system.
	if err := copyTree(data, filepath.Join(staged, "data"), pgOwner{}); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(staged, "data"), dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "PG_VERSION")); serr == nil {
			return nil // another test binary made it first
		}
		return err
	}
	return nil
}

// copyTree copies the directory src to dst (which must not exist) with
// the same modes, owned by owner.
func copyTree(src, dst string, owner pgOwner) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: not a regular file or dir", path)
		}
		return owner.chown(target)
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// waitPostgres connects to url until the server answers a query, the
// process exits or the deadline passes. A listening port is not enough:
// until recovery is done the server answers "the database system is
// starting up".
func waitPostgres(url string, exited <-chan struct{}, within time.Duration) error {
	return waitFor("accepting connections", exited, within, func(ctx context.Context) error {
		return pingPostgres(ctx, url)
	})
}

func pingPostgres(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}
