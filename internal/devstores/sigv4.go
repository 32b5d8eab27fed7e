package devstores

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// sigV4 is the embedded S3's front door: it lets through only requests
// signed (AWS Signature Version 4, Authorization header) with the one
// access key and secret this data dir generated, and answers anything
// else 403 the way S3 does. gofakes3 has no authentication of its own.
//
// What it checks: the credential's access key; the request time within
// maxSkew; the signature over the canonical request built from the
// headers the client says it signed (host always among them); and, when
// the client sent x-amz-content-sha256 as a hex hash, that the body has
// that hash. UNSIGNED-PAYLOAD is accepted (the SDK sends it over TLS);
// streaming (aws-chunked) signatures and presigned URLs are refused: the
// server's own client uses neither.
type sigV4 struct {
	access, secret string
	next           http.Handler
	now            func() time.Time
}

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	maxSkew      = 15 * time.Minute
	maxSigned    = 64 << 20 // the most body a signed-hash request may carry
)

func (v *sigV4) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reason := v.check(r); reason != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>`+
			reason+`</Message></Error>`)
		return
	}
	v.next.ServeHTTP(w, r)
}

// check returns why r is refused, or "".
func (v *sigV4) check(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, sigAlgorithm+" ")
	if !ok {
		return "request is not signed with AWS Signature Version 4"
	}
	var cred, signed, sig string
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			signed = val
		case "Signature":
			sig = val
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[3] != "s3" {
		return "malformed credential scope"
	}
	if !hmac.Equal([]byte(scope[0]), []byte(v.access)) {
		return "unknown access key"
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, scope[1]) {
		return "missing or malformed X-Amz-Date"
	}
	if d := v.now().Sub(at); d > maxSkew || d < -maxSkew {
		return "request time too skewed"
	}
	headers := strings.Split(signed, ";")
	if !sort.StringsAreSorted(headers) || !contains(headers, "host") || !contains(headers, "x-amz-date") ||
		!contains(headers, "x-amz-content-sha256") {
		return "signed headers must include host, x-amz-date and x-amz-content-sha256"
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case payload == "UNSIGNED-PAYLOAD":
	case len(payload) == 64 && isHex(payload):
		body, err := io.ReadAll(io.LimitReader(r.Body, maxSigned+1))
		r.Body.Close()
		if err != nil || len(body) > maxSigned {
			return "body unreadable or too large"
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != payload {
			return "body does not match x-amz-content-sha256"
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	default:
		return "unsupported x-amz-content-sha256"
	}

	var canon strings.Builder
	canon.WriteString(r.Method)
	canon.WriteByte('\n')
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if path == "" {
		path = "/"
	}
	canon.WriteString(path)
	canon.WriteByte('\n')
	canon.WriteString(canonicalQuery(r.URL.RawQuery))
	canon.WriteByte('\n')
	for _, h := range headers {
		canon.WriteString(h)
		canon.WriteByte(':')
		canon.WriteString(headerValue(r, h))
		canon.WriteByte('\n')
	}
	canon.WriteByte('\n')
	canon.WriteString(signed)
	canon.WriteByte('\n')
	canon.WriteString(payload)

	crHash := sha256.Sum256([]byte(canon.String()))
	toSign := sigAlgorithm + "\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(crHash[:])
	key := hmacSHA256([]byte("AWS4"+v.secret), scope[1])
	key = hmacSHA256(key, scope[2])
	key = hmacSHA256(key, scope[3])
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "signature does not match"
	}
	return ""
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		if r.ContentLength >= 0 {
			return itoa(r.ContentLength)
		}
	}
	vals := r.Header.Values(name)
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// canonicalQuery sorts and re-encodes a query the way SigV4 does.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "\x00" // cannot match any signature
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := q[k]
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// awsEscape is SigV4's URI encoding: every byte but A-Za-z0-9-_.~ as %XX.
func awsEscape(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
