package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBearer: bearer reads a token only from "Bearer <token>" (scheme in
// any case), returns it without surrounding white space, and a token set
// that way comes back unchanged; anything else is no token. Seeds:
// testdata/fuzz/FuzzBearer.
func FuzzBearer(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		got := bearer(r)
		scheme := len(header) > 7 && strings.EqualFold(header[:7], "bearer ")
		if !scheme && got != "" {
			t.Fatalf("header %q: got token %q without the Bearer scheme", header, got)
		}
		if scheme && got != strings.TrimSpace(header[7:]) {
			t.Fatalf("header %q: got %q, want what follows the scheme, trimmed", header, got)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("header %q: token %q has surrounding white space", header, got)
		}
		// Round trip: a token without surrounding white space, after the
		// scheme in any spelling, is read back as it was.
		tok := strings.TrimSpace(header)
		if tok == "" {
			return
		}
		for _, prefix := range []string{"Bearer ", "bearer ", "BEARER ", "bEaReR \t"} {
			r.Header["Authorization"] = []string{prefix + tok}
			if got := bearer(r); got != tok {
				t.Fatalf("header %q: got %q, want %q", prefix+tok, got, tok)
			}
		}
		r.Header["Authorization"] = []string{"Basic " + tok}
		if got := bearer(r); got != "" {
			t.Fatalf("header %q: got token %q, want none", "Basic "+tok, got)
		}
	})
}
