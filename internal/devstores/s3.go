package devstores

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	bolt "go.etcd.io/bbolt"
)

// S3 is an in-process S3 server on a loopback port, storing objects in one
// bbolt file.
type S3 struct {
	// URL is the endpoint to give the S3 client (path-style addressing).
	URL string
	// AccessKey and SecretKey are the only credentials it accepts:
	// generated once per data dir and kept in <dataDir>/s3.credentials
	// (mode 0600), so that the embedded S3 is not open to every local
	// process that finds its port.
	AccessKey, SecretKey string

	db  *bolt.DB
	srv *http.Server
	ln  net.Listener
}

// StartS3 opens <dataDir>/s3.bolt, creates bucket if it is missing and
// serves S3 on 127.0.0.1 at a free port until Close.
//
// bbolt locks its file; the open gives up after a second so a second
// process on the same data dir fails with a clear error instead of hanging.
func StartS3(dataDir, bucket string, log *slog.Logger) (*S3, error) {
	path := filepath.Join(dataDir, "s3.bolt")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: locked by another process (is another rampart using this data dir?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	backend := &boltBackend{db: db, now: time.Now}
	ok, err := backend.BucketExists(bucket)
	if err == nil && !ok {
		err = backend.CreateBucket(bucket)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	access, secret, err := s3Credentials(dataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("listen for embedded s3: %w", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	s := &S3{
		URL:       "http://" + ln.Addr().String(),
		AccessKey: access,
		SecretKey: secret,
		db:        db,
		ln:        ln,
		srv: &http.Server{
			Handler:           &sigV4{access: access, secret: secret, next: faker.Server(), now: time.Now},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
		},
	}
	go s.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// s3Credentials returns the data dir's embedded-S3 credentials, making
// them on first use: "<access key> <secret key>" in s3.credentials.
func s3Credentials(dataDir string) (access, secret string, err error) {
	path := filepath.Join(dataDir, "s3.credentials")
	if data, err := os.ReadFile(path); err == nil {
		f := strings.Fields(string(data))
		if len(f) == 2 && len(f[0]) >= 16 && len(f[1]) >= 32 {
			return f[0], f[1], nil
		}
		return "", "", fmt.Errorf("%s: malformed; delete it to generate new credentials", path)
	}
	var a [10]byte
	var s [30]byte
	rand.Read(a[:])
	rand.Read(s[:])
	access = "RAMPART" + strings.ToUpper(hex.EncodeToString(a[:]))
	secret = base64.RawURLEncoding.EncodeToString(s[:])
	if err := os.WriteFile(path, []byte(access+" "+secret+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("keep embedded s3 credentials: %w", err)
	}
	return access, secret, nil
}

// Close stops serving and closes the bbolt file.
func (s *S3) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.db.Close())
}
