package s3store

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// TestTrimmedStack: the middleware trimStack removes is gone from a call's
// stack (an SDK that renames one would bring its cost back silently), what
// signs and classifies is still there, and a transport failure is still
// retryable.
func TestTrimmedStack(t *testing.T) {
	b := New(Config{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", Bucket: "rampart", AccessKey: "a", SecretKey: "b"}, aws.Config{})
	var got map[string]bool
	_, err := b.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("rampart"), Key: aws.String("k")}, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			got = map[string]bool{}
			for _, ids := range [][]string{st.Initialize.List(), st.Serialize.List(), st.Build.List(), st.Finalize.List(), st.Deserialize.List()} {
				for _, id := range ids {
					got[id] = true
				}
			}
			return nil
		})
	})
	// Without the SDK's retry loop a refused connection is still an error
	// the bookkeeper retries.
	if err == nil || !Retryable(classify(err)) {
		t.Errorf("connection refused: %v, want a retryable error", err)
	}
	for _, id := range []string{"UserAgent", "ClientRequestID", "RecursionDetection", "AWSChecksum:ResponseMetricsTracking", "isExpressUserAgent", "Retry", "RecordResponseTiming"} {
		if got[id] {
			t.Errorf("%s is still in the stack", id)
		}
	}
	for _, id := range []string{"ResolveEndpointV2", "ComputePayloadHash", "Signing", "ResponseErrorWrapper", "OperationDeserializer"} {
		if !got[id] {
			t.Errorf("%s is not in the stack", id)
		}
	}
}
