package devstores

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func client(srv *S3, access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(srv.URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
}

// TestEmbeddedS3RefusesStrangers: only the data dir's credentials reach
// the embedded S3; unsigned, wrongly signed and tampered requests are 403.
func TestEmbeddedS3RefusesStrangers(t *testing.T) {
	dir := t.TempDir()
	srv, err := StartS3(dir, "rampart", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.AccessKey == "rampart" || len(srv.SecretKey) < 32 {
		t.Fatalf("credentials %q/%q: want generated ones", srv.AccessKey, srv.SecretKey)
	}
	ctx := context.Background()
	put := func(c *s3.Client, key, body string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rampart"), Key: aws.String(key), Body: strings.NewReader(body)})
		return err
	}
	good := client(srv, srv.AccessKey, srv.SecretKey)
	tests := []struct {
		name   string
		c      *s3.Client
		key    string
		denied bool
	}{
		{"own credentials", good, "players/a b+c", false},
		{"wrong secret", client(srv, srv.AccessKey, "not-the-secret-0123456789abcdef0"), "x", true},
		{"wrong access key", client(srv, "AKIAOTHER", srv.SecretKey), "x", true},
		{"the old fixed credentials", client(srv, "rampart", "rampart"), "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := put(tt.c, tt.key, "hello")
			var ae smithy.APIError
			if denied := errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied"; denied != tt.denied || (!tt.denied && err != nil) {
				t.Fatalf("put: %v, want denied=%v", err, tt.denied)
			}
		})
	}
	// Listing (a query string) and reading back work with the credentials.
	out, err := good.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("rampart"), Prefix: aws.String("players/")})
	if err != nil || len(out.Contents) != 1 {
		t.Fatalf("list: %v %v", out, err)
	}
	raw := []struct {
		name string
		req  func() *http.Request
	}{
		{"anonymous GET", func() *http.Request { r, _ := http.NewRequest("GET", srv.URL+"/rampart/players/x", nil); return r }},
		{"anonymous PUT", func() *http.Request {
			r, _ := http.NewRequest("PUT", srv.URL+"/rampart/players/x", bytes.NewReader([]byte("evil")))
			return r
		}},
		{"forged header", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/rampart/players/x", nil)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+srv.AccessKey+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00")
			r.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 403 || !bytes.Contains(body, []byte("AccessDenied")) {
				t.Fatalf("got %d %s, want 403 AccessDenied", resp.StatusCode, body)
			}
		})
	}
	// The same data dir keeps its credentials.
	srv.Close()
	again, err := StartS3(dir, "rampart", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.AccessKey != srv.AccessKey || again.SecretKey != srv.SecretKey {
		t.Fatal("credentials changed across restarts on one data dir")
	}
}
