// Package s3store is the store's S3 adapter: players, accounts and the
// shipped journal on an S3 bucket through aws-sdk-go-v2.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"rampart/state/blob"
)

// Blobs is state.Blobs and state.Chunks on an S3 bucket, through
// aws-sdk-go-v2.
type Blobs struct {
	client *s3.Client
	bucket string
}

// Config says where the bucket is.
type Config struct {
	Endpoint string // empty: AWS
	Region   string
	Bucket   string
	// Credentials; empty uses the SDK's default chain (environment,
	// shared config, instance role).
	AccessKey, SecretKey string
	HTTPClient           *http.Client
}

// New returns Blobs on cfg.Bucket.
//
// The SDK's own retries are off: the s3 bookkeeper retries, so that every
// try is counted. Checksums are computed only when S3 requires them; with
// the default, S3 stand-ins store aws-chunked framing as object bytes.
func New(cfg Config, defaults aws.Config) *Blobs {
	opts := func(o *s3.Options) {
		o.UsePathStyle = true
		o.Region = cfg.Region
		o.Retryer = aws.NopRetryer{}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if cfg.AccessKey != "" {
			o.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
		}
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		o.APIOptions = append(o.APIOptions, trimStack)
		o.EndpointResolverV2 = &cachedEndpoints{next: s3.NewDefaultEndpointResolverV2()}
	}
	return &Blobs{client: s3.NewFromConfig(defaults, opts), bucket: cfg.Bucket}
}

// trimStack takes out of every call's middleware stack what costs CPU
// and changes nothing S3 answers, measured (BenchmarkPut: ~12% of the
// client's CPU, ~10% of its allocations):
//
//   - the user agent (built per call from a dozen feature tags), the
//     amz-sdk-invocation-id header (a random UUID per call) and the
//     recursion detection (two environment lookups, for Lambda): no S3
//     reads them;
//   - the SDK's retry loop and the response-time recording it feeds: with
//     aws.NopRetryer it makes one attempt anyway, after cloning the request
//     and setting up attempt metrics and spans. The s3 bookkeeper retries.
//     What goes with it is the SDK's clock-skew correction (a clock more
//     than 15 minutes off is answered 403 RequestTimeTooSkewed, and that
//     answer is now final); the servers' leases already need clocks far
//     closer than that.
//
// Removing a middleware that is not there is not an error (Remove says
// so), so an SDK that renames one only makes this cost again.
func trimStack(st *middleware.Stack) error {
	for _, id := range []string{"UserAgent", "ClientRequestID", "RecursionDetection", "AWSChecksum:ResponseMetricsTracking"} {
		st.Build.Remove(id)
	}
	st.Serialize.Remove("isExpressUserAgent") // adds to the user agent
	st.Finalize.Remove("Retry")
	st.Deserialize.Remove("RecordResponseTiming")
	return nil
}

// EnsureBucket creates the bucket if it does not exist.
func (b *Blobs) EnsureBucket(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return nil
	}
	_, err = b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.bucket})
	var owned interface{ ErrorCode() string }
	if errors.As(err, &owned) && (owned.ErrorCode() == "BucketAlreadyOwnedByYou" || owned.ErrorCode() == "BucketAlreadyExists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", b.bucket, err)
	}
	return nil
}

// Get implements Blobs.
func (b *Blobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return nil, "", classify(err)
	}
	defer out.Body.Close()
	data, err := readBody(out.Body, out.ContentLength)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// readBody reads a response body of the length announced into one slice
// of that size (bytes.Buffer grew a full one by 512 bytes first, so every
// Get allocated the document twice over), and whatever is there when the
// length is unknown or implausible.
func readBody(body io.Reader, length *int64) ([]byte, error) {
	if length == nil || *length < 0 || *length >= 64<<20 {
		return io.ReadAll(body)
	}
	data := make([]byte, *length)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, err
	}
	// The body must end where its length said; more is read as before.
	var one [1]byte
	switch n, err := body.Read(one[:]); {
	case n > 0:
		rest, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		return append(append(data, one[0]), rest...), nil
	case err != nil && err != io.EOF:
		return nil, err
	}
	return data, nil
}

// Put implements Blobs.
func (b *Blobs) Put(ctx context.Context, key string, data []byte, cond blob.Cond) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
	}
	if cond.IfMatch != "" {
		in.IfMatch = aws.String(cond.IfMatch)
	}
	if cond.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := b.client.PutObject(ctx, in)
	if err != nil {
		return "", classify(err)
	}
	return aws.ToString(out.ETag), nil
}

// List implements Chunks: the keys under prefix, in key order.
func (b *Blobs) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// Delete implements Chunks. Deleting a missing key is not an error.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key}); err != nil {
		if err := classify(err); !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	return nil
}

// classify maps S3's answers onto blob.ErrNotFound and blob.ErrPrecondition and keeps
// everything else, wrapped, for the retry classifier.
func classify(err error) error {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return blob.ErrNotFound
		case http.StatusPreconditionFailed, http.StatusConflict:
			// 409 ConditionalRequestConflict: a concurrent conditional
			// write on the same key; the loser must re-read, like 412.
			return blob.ErrPrecondition
		}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return blob.ErrNotFound
		case "PreconditionFailed", "ConditionalRequestConflict":
			return blob.ErrPrecondition
		}
	}
	return err
}

// Retryable is the s3 bookkeeper's retry classifier: 5xx, SlowDown,
// throttling, timeouts and broken connections are worth another try; a
// missing object, a lost conditional write or a bad request never are.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, blob.ErrNotFound), errors.Is(err, blob.ErrPrecondition), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 { // 0: no answer (reset, refused, EOF)
		code := re.HTTPStatusCode()
		return code >= 500 || code == http.StatusTooManyRequests
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling", "ThrottlingException":
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Transport failures (connection refused or reset, EOF mid-response)
	// reach us wrapped as operation errors without an HTTP status.
	var op *smithy.OperationError
	return errors.As(err, &op)
}
