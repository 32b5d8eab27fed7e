package state

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
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Blobs is the object store the players live in: S3 in every deployment.
type Blobs interface {
	// Get returns the object's bytes and ETag, or ErrNotFound.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	// Put writes the object if cond holds and returns the new ETag, or
	// ErrPrecondition when it does not.
	Put(ctx context.Context, key string, data []byte, cond Cond) (etag string, err error)
}

// Cond is a conditional write: IfNoneMatch creates only, IfMatch replaces
// only the version with that ETag.
type Cond struct {
	IfMatch     string
	IfNoneMatch bool
}

var (
	// ErrNotFound means no object has that key.
	ErrNotFound = errors.New("object not found")
	// ErrPrecondition means the conditional write lost: someone else wrote
	// the object since we read it.
	ErrPrecondition = errors.New("precondition failed")
)

var _ Blobs = (*S3Blobs)(nil)

// S3Blobs is Blobs on an S3 bucket through aws-sdk-go-v2.
type S3Blobs struct {
	client *s3.Client
	bucket string
}

// S3Config says where the bucket is.
type S3Config struct {
	Endpoint string // empty: AWS
	Region   string
	Bucket   string
	// Credentials; empty uses the SDK's default chain (environment,
	// shared config, instance role).
	AccessKey, SecretKey string
	HTTPClient           *http.Client
}

// NewS3Blobs returns Blobs on cfg.Bucket.
//
// The SDK's own retries are off: the s3 bookkeeper retries, so that every
// try is counted. Checksums are computed only when S3 requires them; with
// the default, S3 stand-ins store aws-chunked framing as object bytes.
func NewS3Blobs(cfg S3Config, defaults aws.Config) *S3Blobs {
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
	}
	return &S3Blobs{client: s3.NewFromConfig(defaults, opts), bucket: cfg.Bucket}
}

// EnsureBucket creates the bucket if it does not exist.
func (b *S3Blobs) EnsureBucket(ctx context.Context) error {
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
func (b *S3Blobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return nil, "", classify(err)
	}
	defer out.Body.Close()
	n := 0
	if out.ContentLength != nil && *out.ContentLength > 0 && *out.ContentLength < 64<<20 {
		n = int(*out.ContentLength)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if _, err := io.Copy(buf, out.Body); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	return buf.Bytes(), aws.ToString(out.ETag), nil
}

// Put implements Blobs.
func (b *S3Blobs) Put(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
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
func (b *S3Blobs) List(ctx context.Context, prefix string) ([]string, error) {
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
func (b *S3Blobs) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key}); err != nil {
		if err := classify(err); !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// classify maps S3's answers onto ErrNotFound and ErrPrecondition and keeps
// everything else, wrapped, for the retry classifier.
func classify(err error) error {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return ErrNotFound
		case http.StatusPreconditionFailed, http.StatusConflict:
			// 409 ConditionalRequestConflict: a concurrent conditional
			// write on the same key; the loser must re-read, like 412.
			return ErrPrecondition
		}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return ErrNotFound
		case "PreconditionFailed", "ConditionalRequestConflict":
			return ErrPrecondition
		}
	}
	return err
}

// Retryable is the s3 bookkeeper's retry classifier: 5xx, SlowDown,
// throttling, timeouts and broken connections are worth another try; a
// missing object, a lost conditional write or a bad request never are.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrPrecondition), errors.Is(err, context.Canceled):
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
