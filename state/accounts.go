package state

import (
	"context"
	"errors"
	"fmt"

	"rampart/accounts"
)

// AccountBlobs is accounts.Blobs on the players' bucket: Create is a Put
// with If-None-Match: *, Replace a Put with If-Match, and this package's
// two sentinels are wrapped as the accounts package's (both stay
// matchable with errors.Is).
type AccountBlobs struct {
	B Blobs
}

var _ accounts.Blobs = AccountBlobs{}

// Get implements accounts.Blobs.
func (a AccountBlobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	data, etag, err := a.B.Get(ctx, key)
	return data, etag, mapBlobErr(err)
}

// Create implements accounts.Blobs.
func (a AccountBlobs) Create(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := a.B.Put(ctx, key, data, Cond{IfNoneMatch: true})
	return etag, mapBlobErr(err)
}

// Replace implements accounts.Blobs.
func (a AccountBlobs) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if etag == "" {
		// An empty If-Match would be an unconditional write.
		return "", fmt.Errorf("replace %s without an etag: %w", key, accounts.ErrPrecondition)
	}
	newETag, err := a.B.Put(ctx, key, data, Cond{IfMatch: etag})
	return newETag, mapBlobErr(err)
}

func mapBlobErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: %w", accounts.ErrObjectNotFound, err)
	case errors.Is(err, ErrPrecondition):
		return fmt.Errorf("%w: %w", accounts.ErrPrecondition, err)
	}
	return err
}
