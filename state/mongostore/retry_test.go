package mongostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

func TestRetryable(t *testing.T) {
	dup := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000, Message: "E11000 duplicate key"}}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"caller cancelled", context.Canceled, false},
		{"try timed out", fmt.Errorf("insert: %w", context.DeadlineExceeded), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"server selection", topology.ServerSelectionError{Wrapped: errors.New("no server")}, true},
		{"network label", mongo.CommandError{Code: 1, Labels: []string{"NetworkError"}}, true},
		{"retryable write label", mongo.CommandError{Code: 1, Labels: []string{"RetryableWriteError"}}, true},
		{"not writable primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, true},
		{"primary stepped down in a write", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 189}}, true},
		{"max time expired", mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired"}, true},
		{"duplicate key", dup, false},
		{"duplicate key in a bulk write", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Code: 11000}}}}, false},
		{"duplicate key, wrapped", fmt.Errorf("send: %w", dup), false},
		{"validation", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 121, Message: "Document failed validation"}}}, false},
		{"bad value", mongo.CommandError{Code: 2, Name: "BadValue"}, false},
		{"client disconnected", mongo.ErrClientDisconnected, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v): got %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestRetryableOnTheWire classifies what the driver really returns from
// FerretDB: a duplicate key, and a server that has gone away.
func TestRetryableOnTheWire(t *testing.T) { forEachMongo(t, testRetryableOnTheWire) }

func testRetryableOnTheWire(t *testing.T, target mongoTarget) {
	ctx := context.Background()
	m, client := startMongo(t, target)
	c := client.Database("rampart").Collection("t")
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}})
	if err == nil || Retryable(err) || !mongo.IsDuplicateKeyError(err) {
		t.Errorf("second insert of _id a: got %v (retryable %v), want a duplicate key error, not retryable", err, Retryable(err))
	}

	// The analytics insert (insertChunks): a retry whose first try landed
	// is no error, in one command or one per document; a document refused
	// for anything but being there already is.
	raw := func(d bson.D) bson.Raw {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, cc, d := raw(bson.D{{Key: "_id", Value: "b"}}), raw(bson.D{{Key: "_id", Value: "c"}}), raw(bson.D{{Key: "_id", Value: "d"}})
	bad := raw(bson.D{{Key: "_id", Value: "e"}, {Key: "$bad", Value: 1}})
	inserts := []struct {
		name     string
		docs     []bson.Raw
		wc       *writeconcern.WriteConcern
		maxBytes int
		ok       bool
	}{
		{"first", []bson.Raw{b, cc}, nil, maxInsertBytes, true},
		{"retried, with the client's write concern", []bson.Raw{b, cc}, writeconcern.W1(), maxInsertBytes, true},
		{"retried, one command per document, with a new one", []bson.Raw{b, d, cc}, nil, 1, true},
		{"with a bad document", []bson.Raw{b, bad}, nil, maxInsertBytes, false},
	}
	for _, in := range inserts {
		if err := insertChunks(ctx, c, in.docs, in.wc, in.maxBytes); (err == nil) != in.ok || Retryable(err) {
			t.Errorf("%s: got %v (retryable %v), want ok %v and not retryable", in.name, err, Retryable(err), in.ok)
		}
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 4 {
		t.Errorf("documents after the inserts: %d, %v; want 4 (a, b, c, d)", n, err)
	}

	m.Close() // FerretDB gives its connections ~3s to end
	for i := range 3 {
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := c.InsertOne(tctx, bson.D{{Key: "_id", Value: fmt.Sprint("x", i)}})
		cancel()
		if err == nil || !Retryable(err) {
			t.Errorf("insert #%d with FerretDB stopped: got %v (retryable %v), want a retryable error", i+1, err, Retryable(err))
		}
	}
}
