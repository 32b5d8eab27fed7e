package devstores

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// s3Conn is a client of one embedded S3 with the calls the tests need.
type s3Conn struct {
	t *testing.T
	c *s3.Client
}

func connect(t *testing.T, srv *S3) s3Conn {
	return s3Conn{t, client(srv, srv.AccessKey, srv.SecretKey)}
}

func (c s3Conn) put(key string, body []byte, ifMatch string) (etag string, err error) {
	in := &s3.PutObjectInput{Bucket: aws.String("rampart"), Key: aws.String(key), Body: bytes.NewReader(body)}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	out, err := c.c.PutObject(context.Background(), in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func (c s3Conn) get(key string) (body []byte, etag string, meta map[string]string) {
	c.t.Helper()
	out, err := c.c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("rampart"), Key: aws.String(key)})
	if err != nil {
		c.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	body, err = io.ReadAll(out.Body)
	if err != nil {
		c.t.Fatalf("read %s: %v", key, err)
	}
	return body, aws.ToString(out.ETag), out.Metadata
}

func (c s3Conn) list(prefix string) []string {
	c.t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c.c, &s3.ListObjectsV2Input{Bucket: aws.String("rampart"), Prefix: aws.String(prefix), MaxKeys: aws.Int32(7)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			c.t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func etagOf(body []byte) string {
	sum := md5.Sum(body)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
}

// TestEmbeddedS3PersistsAcrossRestarts writes enough, while reading
// concurrently, that bbolt grows its file and remaps several times (the
// remap that s3bolt's in-place reads did not survive), then restarts the
// store on the same data dir and reads everything back.
func TestEmbeddedS3PersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	srv, err := StartS3(dir, "rampart", log)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, srv)
	const n = 120
	body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 24<<10+i) }
	key := func(i int) string { return fmt.Sprintf("players/p%03d", i) }

	var wg sync.WaitGroup
	errs := make(chan error, n)
	wg.Go(func() { // reads the first object over and over while the file grows
		first, _ := c.put(key(0), body(0), "")
		for i := 0; i < 4*n; i++ {
			out, err := c.c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("rampart"), Key: aws.String(key(0))})
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, body(0)) || aws.ToString(out.ETag) != first {
				errs <- fmt.Errorf("read %d of %s while writing: %d bytes, etag %s, err %v", i, key(0), len(got), aws.ToString(out.ETag), err)
				return
			}
		}
	})
	for i := 1; i < n; i++ {
		if _, err := c.put(key(i), body(i), ""); err != nil {
			t.Fatalf("put %s: %v", key(i), err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := c.put("journal/a/1", []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("rampart"), Key: aws.String("journal/a/1")}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	srv, err = StartS3(dir, "rampart", log)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer srv.Close()
	c = connect(t, srv)
	for i := 0; i < n; i++ {
		got, etag, _ := c.get(key(i))
		if !bytes.Equal(got, body(i)) || etag != etagOf(body(i)) {
			t.Fatalf("after restart %s: %d bytes, etag %s; want %d bytes, etag %s", key(i), len(got), etag, len(body(i)), etagOf(body(i)))
		}
	}
	if keys := c.list("players/"); len(keys) != n || keys[0] != key(0) || keys[n-1] != key(n-1) {
		t.Fatalf("after restart listed %d keys (%v...), want %d in order", len(keys), keys[:min(3, len(keys))], n)
	}
	if keys := c.list("journal/"); len(keys) != 0 {
		t.Fatalf("deleted object listed after restart: %v", keys)
	}
}

// TestEmbeddedS3ConditionalPut: If-Match replaces only the version named,
// so of two saves from one version exactly one wins.
func TestEmbeddedS3ConditionalPut(t *testing.T) {
	srv, err := StartS3(t.TempDir(), "rampart", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := connect(t, srv)
	v1, err := c.put("players/a", []byte("v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.put("players/a", []byte("v2"), v1); err != nil {
		t.Fatalf("put if-match current: %v", err)
	}
	if _, err := c.put("players/a", []byte("v2'"), v1); !isPreconditionFailed(err) {
		t.Fatalf("put if-match stale: got %v, want PreconditionFailed", err)
	}
	if _, err := c.put("players/none", []byte("x"), v1); !isPreconditionFailed(err) {
		t.Fatalf("put if-match missing: got %v, want PreconditionFailed", err)
	}
	_, err = c.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("rampart"), Key: aws.String("players/a"),
		Body: strings.NewReader("new"), IfNoneMatch: aws.String("*")})
	if !isPreconditionFailed(err) {
		t.Fatalf("put if-none-match over an object: got %v, want PreconditionFailed", err)
	}
	if got, _, _ := c.get("players/a"); string(got) != "v2" {
		t.Fatalf("got %q, want v2", got)
	}
}

// TestEmbeddedS3OpensOlderDataDir: a data dir whose s3.bolt gofakes3's
// s3bolt backend wrote (rampart before this backend) opens, reads and
// takes conditional writes against its old ETags. The fixture holds
// players/alice and players/bob (metadata k=v) and an empty
// journal/a/00000001.
func TestEmbeddedS3OpensOlderDataDir(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "s3bolt-gofakes3-v1.2.0.bolt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s3.bolt"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := StartS3(dir, "rampart", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := connect(t, srv)
	want := map[string]string{"players/alice": `{"id":"alice","seq":3}`, "players/bob": `{"id":"bob"}`, "journal/a/00000001": ""}
	for key, body := range want {
		got, etag, meta := c.get(key)
		if string(got) != body || etag != etagOf([]byte(body)) || meta["k"] != "v" {
			t.Errorf("%s: got %q etag %s meta %v, want %q etag %s meta k=v", key, got, etag, meta, body, etagOf([]byte(body)))
		}
	}
	if keys := c.list("players/"); strings.Join(keys, " ") != "players/alice players/bob" {
		t.Errorf("listed %v, want players/alice players/bob", keys)
	}
	if _, err := c.put("players/alice", []byte("next"), etagOf([]byte(want["players/alice"]))); err != nil {
		t.Fatalf("put if-match the old etag: %v", err)
	}
	if got, _, _ := c.get("players/alice"); string(got) != "next" {
		t.Fatalf("got %q, want next", got)
	}
}
