package s3store

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// cachedEndpoints is the SDK's endpoint resolver with its answers kept:
// the S3 rules (a decision diagram evaluated per call, then a URL parsed
// and properties built: ~25 allocations) are a pure function of the
// parameters, and the ones that vary per call (Key, Prefix, CopySource)
// are read by no rule, so the answer for a bucket is the same every call.
// Each call gets its own copy: the SDK writes to what it is given (sharing
// one was a concurrent map write under BenchmarkGetParallel64).
type cachedEndpoints struct {
	next s3.EndpointResolverV2
	mu   sync.Mutex
	m    map[endpointKey]smithyendpoints.Endpoint
}

type endpointKey struct {
	bucket, region, endpoint string
	flags                    [11]int8 // 0 unset, 1 false, 2 true
}

func flag(b *bool) int8 {
	switch {
	case b == nil:
		return 0
	case *b:
		return 2
	}
	return 1
}

func str(s *string) string {
	if s == nil {
		return "\x00" // unset, apart from ""
	}
	return *s
}

func (c *cachedEndpoints) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := endpointKey{bucket: str(p.Bucket), region: str(p.Region), endpoint: str(p.Endpoint), flags: [11]int8{
		flag(p.UseFIPS), flag(p.UseDualStack), flag(p.ForcePathStyle), flag(p.Accelerate), flag(p.UseGlobalEndpoint),
		flag(p.UseObjectLambdaEndpoint), flag(p.DisableAccessPoints), flag(p.DisableMultiRegionAccessPoints),
		flag(p.UseArnRegion), flag(p.UseS3ExpressControlEndpoint), flag(p.DisableS3ExpressSessionAuth)}}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return copyEndpoint(e), nil
	}
	e, err := c.next.ResolveEndpoint(ctx, p)
	if err != nil {
		return e, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[endpointKey]smithyendpoints.Endpoint)
	}
	if len(c.m) < 64 {
		c.m[k] = e
	}
	c.mu.Unlock()
	return copyEndpoint(e), nil
}

// copyEndpoint is a copy of e that shares nothing the SDK may write to: the
// middleware after the resolver writes to the properties (of the endpoint
// and of its auth options) it is given.
func copyEndpoint(e smithyendpoints.Endpoint) smithyendpoints.Endpoint {
	out := smithyendpoints.Endpoint{URI: e.URI, Headers: e.Headers.Clone()}
	if e.URI.User != nil {
		u := *e.URI.User
		out.URI.User = &u
	}
	for k, v := range e.Properties.Values() {
		out.Properties.Set(k, v)
	}
	if opts, ok := auth.GetAuthOptions(&e.Properties); ok {
		cp := make([]*auth.Option, len(opts))
		for i, o := range opts {
			c := &auth.Option{SchemeID: o.SchemeID}
			c.IdentityProperties.SetAll(&o.IdentityProperties)
			c.SignerProperties.SetAll(&o.SignerProperties)
			cp[i] = c
		}
		auth.SetAuthOptions(&out.Properties, cp)
	}
	return out
}
