package mongostore

import (
	"context"
	"errors"
	"io"
	"net"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"rampart/bookkeeper"
)

// retryableCodes are server error codes that mean "this node cannot serve
// you now, another try may work": the MongoDB driver's retryable-write and
// retryable-read codes (elections, shutdowns, network trouble between
// nodes).
var retryableCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	134,   // ReadConcernMajorityNotAvailableYet
	189,   // PrimarySteppedDown
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// Retryable is the retry classifier for the mongo bookkeeper: network
// errors, timeouts (a try's own: the bookkeeper never asks once the
// caller's ctx is done), server selection failures and errors the server
// labels or codes as retryable. A duplicate key, a validation failure or
// any other answer about the data itself is never retried, nor is a
// client that has been disconnected.
//
// Every Store operation is safe to repeat: Upsert and the lock calls are
// idempotent, Send and the event inserts dedup on _id.
func Retryable(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, mongo.ErrClientDisconnected),
		mongo.IsDuplicateKeyError(err):
		return false
	case bookkeeper.RetryTimeouts(err),
		mongo.IsTimeout(err),
		mongo.IsNetworkError(err),
		errors.As(err, new(topology.ServerSelectionError)),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // connection refused or reset: the server is away
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError") {
			return true
		}
		for _, c := range retryableCodes {
			if se.HasErrorCode(c) {
				return true
			}
		}
	}
	return false
}
