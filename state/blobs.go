package state

import (
	"context"

	"rampart/state/blob"
)

// Blobs is the object store the players live in: S3 in every deployment.
type Blobs interface {
	// Get returns the object's bytes and ETag, or ErrNotFound.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	// Put writes the object if cond holds and returns the new ETag, or
	// ErrPrecondition when it does not.
	Put(ctx context.Context, key string, data []byte, cond Cond) (etag string, err error)
}

// Cond is a conditional write (blob.Cond).
type Cond = blob.Cond

var (
	// ErrNotFound means no object has that key.
	ErrNotFound = blob.ErrNotFound
	// ErrPrecondition means the conditional write lost: someone else wrote
	// the object since we read it.
	ErrPrecondition = blob.ErrPrecondition
)

// The S3 adapter is state/s3store, as the MongoDB one is state/mongostore.
