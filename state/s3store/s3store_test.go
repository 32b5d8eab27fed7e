package s3store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"rampart/internal/testenv"
	"rampart/state/blob"
	"rampart/state/s3store"
)

// TestAnswers: S3's answers map onto the store's vocabulary on every real
// S3 the suite has (embedded, versitygw), and the ones that are answers,
// not failures, are never retried.
func TestAnswers(t *testing.T) {
	for _, target := range testenv.S3Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			b := s3store.New(s3store.Config{Endpoint: target.Endpoint, Region: "us-east-1", Bucket: "rampart",
				AccessKey: target.AccessKey, SecretKey: target.SecretKey}, aws.Config{})
			ctx := context.Background()
			if err := b.EnsureBucket(ctx); err != nil {
				t.Fatal(err)
			}
			etag, err := b.Put(ctx, "k", []byte("one"), blob.Cond{IfNoneMatch: true})
			if err != nil {
				t.Fatal(err)
			}
			_, _, getErr := b.Get(ctx, "missing")
			_, createErr := b.Put(ctx, "k", []byte("two"), blob.Cond{IfNoneMatch: true})
			_, staleErr := b.Put(ctx, "k", []byte("two"), blob.Cond{IfMatch: `"not-` + etag[1:]})
			tests := []struct {
				name string
				err  error
				want error
			}{
				{"get a missing key", getErr, blob.ErrNotFound},
				{"create an existing key", createErr, blob.ErrPrecondition},
				{"replace a version that is gone", staleErr, blob.ErrPrecondition},
			}
			for _, tt := range tests {
				if !errors.Is(tt.err, tt.want) {
					t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
				}
				if s3store.Retryable(tt.err) {
					t.Errorf("%s: retryable, want not (an answer)", tt.name)
				}
			}
			if _, err := b.Put(ctx, "k", []byte("two"), blob.Cond{IfMatch: etag}); err != nil {
				t.Errorf("replace the version read: %v", err)
			}
			if err := b.Delete(ctx, "missing"); err != nil {
				t.Errorf("delete a missing key: %v, want nil", err)
			}
			if !s3store.Retryable(context.DeadlineExceeded) || s3store.Retryable(context.Canceled) {
				t.Error("a try's timeout is retried, a cancelled caller is not")
			}
		})
	}
}
