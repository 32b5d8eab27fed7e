// Package blob is the vocabulary shared by the store and its object-store
// adapters: conditional writes and the two answers that are not failures.
// It imports nothing, so an adapter (state/s3store) and the store's own
// tests can use it without importing state.
package blob

import "errors"

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

// IsAnswer reports whether err is one of the two answers: the object
// store said "no such key" or "your condition lost", and is working. The
// s3 bookkeeper counts them as calls that succeeded (bookkeeper.Config.Answer).
func IsAnswer(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrPrecondition)
}
