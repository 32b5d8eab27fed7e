package s3store

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/auth"
)

// TestCachedEndpoints: the cache answers what the SDK's resolver answers,
// for any key, and what a caller does to one answer is not in the next.
func TestCachedEndpoints(t *testing.T) {
	ctx := context.Background()
	sdk := s3.NewDefaultEndpointResolverV2()
	c := &cachedEndpoints{next: sdk}
	for _, key := range []string{"players/a", "players/b", "accounts/c"} {
		for _, endpoint := range []*string{aws.String("http://127.0.0.1:9000"), nil} {
			p := s3.EndpointParameters{Bucket: aws.String("rampart"), Region: aws.String("us-east-1"), Endpoint: endpoint,
				ForcePathStyle: aws.Bool(true), Key: aws.String(key)}
			want, err := sdk.ResolveEndpoint(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ResolveEndpoint(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got.URI.String() != want.URI.String() {
				t.Errorf("%s on %v: %s, want %s", key, aws.ToString(endpoint), got.URI.String(), want.URI.String())
			}
			gotOpts, _ := auth.GetAuthOptions(&got.Properties)
			wantOpts, _ := auth.GetAuthOptions(&want.Properties)
			if len(gotOpts) != len(wantOpts) {
				t.Fatalf("%d auth options, want %d", len(gotOpts), len(wantOpts))
			}
			for i := range gotOpts {
				if gotOpts[i].SchemeID != wantOpts[i].SchemeID ||
					!reflect.DeepEqual(gotOpts[i].SignerProperties.Values(), wantOpts[i].SignerProperties.Values()) {
					t.Errorf("auth option %d: %+v, want %+v", i, gotOpts[i], wantOpts[i])
				}
				gotOpts[i].SignerProperties.Set("scribble", true)
			}
			got.Properties.Set("scribble", true)
		}
	}
	again, _ := c.ResolveEndpoint(ctx, s3.EndpointParameters{Bucket: aws.String("rampart"), Region: aws.String("us-east-1"),
		Endpoint: aws.String("http://127.0.0.1:9000"), ForcePathStyle: aws.Bool(true)})
	opts, _ := auth.GetAuthOptions(&again.Properties)
	if again.Properties.Has("scribble") || len(opts) == 0 || opts[0].SignerProperties.Has("scribble") {
		t.Error("a caller's write to an answer is in the next one")
	}
	if len(c.m) != 2 {
		t.Errorf("%d answers kept, want 2 (one per endpoint, whatever the key)", len(c.m))
	}
}
