package accounts

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzTokenParse fuzzes the session and refresh token parsers (what Verify
// and Refresh run before anything else) twice over: on any string, and on
// any body sealed with the signer's key, so that the fields parser is
// reached past the MAC. The properties: only a token the signer sealed is
// accepted, never past maxToken; a token is one kind or the other, never
// both; accepted claims have non-empty ids without dots and an expiry
// after now; and signing the claims again gives a token that parses to the
// same claims. Seeds: testdata/fuzz/FuzzTokenParse (valid, expired,
// swapped-kind, non-canonical, overlong and maximal tokens).
func FuzzTokenParse(f *testing.F) {
	s := newSigner([]byte("fuzz-token-key-0123456789abcdefghijkl"))
	now := time.UnixMilli(1_796_119_200_000)
	f.Fuzz(func(t *testing.T, body, raw string) {
		checkToken(t, s, s.seal(body), now)
		checkToken(t, s, raw, now)
	})
}

func checkToken(t *testing.T, s *signer, tok string, now time.Time) {
	t.Helper()
	sc, serr := s.verifySession(tok, now)
	rc, rerr := s.verifyRefresh(tok, now)
	if serr != nil && rerr != nil {
		return
	}
	if serr == nil && rerr == nil {
		t.Fatalf("%q parsed as a session and as a refresh token", tok)
	}
	if i := strings.LastIndexByte(tok, '.'); len(tok) > maxToken || i < 0 || s.seal(tok[:i]) != tok {
		t.Fatalf("accepted %q, which the signer did not seal", tok)
	}
	ok := func(ids ...string) bool {
		for _, id := range ids {
			if id == "" || strings.Contains(id, ".") {
				return false
			}
		}
		return true
	}
	if serr == nil {
		if !ok(sc.Player, sc.Session) || sc.Expires <= now.UnixMilli() {
			t.Fatalf("accepted session %q as %+v", tok, sc)
		}
		if again, err := s.verifySession(s.signSession(sc), now); err != nil || again != sc {
			t.Fatalf("session %+v signed again parses to %+v, %v", sc, again, err)
		}
		return
	}
	if !ok(rc.Player, rc.Family) || rc.Expires <= now.UnixMilli() {
		t.Fatalf("accepted refresh %q as %+v", tok, rc)
	}
	if again, err := s.verifyRefresh(s.signRefresh(rc), now); err != nil || again != rc {
		t.Fatalf("refresh %+v signed again parses to %+v, %v", rc, again, err)
	}
}

// TestTokenPlayer: the unverified peeks name the player a session or a
// refresh token was signed for, and nothing for any other token.
func TestTokenPlayer(t *testing.T) {
	s := newSigner([]byte("peek-token-key-0123456789abcdefghijkl"))
	session := s.signSession(Claims{Player: "u-alice_1", Gen: 3, Session: "sid", Expires: 1})
	refresh := s.signRefresh(refreshClaims{Player: "u-alice_1", Gen: 3, Family: "f", Expires: 1})
	for _, tt := range []struct{ token, session, refresh string }{
		{session, "u-alice_1", ""},
		{refresh, "", "u-alice_1"},
		{s.seal("r1.u-bob.3.f.0.1"), "", "u-bob"},
		{"", "", ""},
		{"s1.", "", ""},
		{"r1.", "", ""},
		{"garbage", "", ""},
	} {
		if got := SessionPlayer(tt.token); got != tt.session {
			t.Errorf("SessionPlayer(%q) = %q, want %q", tt.token, got, tt.session)
		}
		if got := RefreshPlayer(tt.token); got != tt.refresh {
			t.Errorf("RefreshPlayer(%q) = %q, want %q", tt.token, got, tt.refresh)
		}
	}
}

// TestRefreshTokenVersions: refresh tokens signed before families carried
// their beginning (r1) still open, with Since 0, so they can rotate their
// own family but never supersede one (Refresh); r2 tokens carry it.
func TestRefreshTokenVersions(t *testing.T) {
	s := newSigner([]byte("version-token-key-0123456789abcdefghi"))
	now := time.UnixMilli(1_796_119_200_000)
	exp := now.Add(time.Hour).UnixMilli()
	tests := []struct {
		name string
		tok  string
		want refreshClaims
		ok   bool
	}{
		{"r1", s.seal("r1.u1.3.fam.7." + itoa(exp)), refreshClaims{Player: "u1", Gen: 3, Family: "fam", Counter: 7, Expires: exp}, true},
		{"r2", s.seal("r2.u1.3.fam.0.1796119100000." + itoa(exp)), refreshClaims{Player: "u1", Gen: 3, Family: "fam", Since: 1_796_119_100_000, Expires: exp}, true},
		{"r2 as signed", s.signRefresh(refreshClaims{Player: "u1", Gen: 3, Family: "fam", Counter: 2, Since: 5, Expires: exp}), refreshClaims{Player: "u1", Gen: 3, Family: "fam", Counter: 2, Since: 5, Expires: exp}, true},
		{"r2 without since", s.seal("r2.u1.3.fam.0." + itoa(exp)), refreshClaims{}, false},
		{"r2 negative since", s.seal("r2.u1.3.fam.0.-1." + itoa(exp)), refreshClaims{}, false},
		{"r1 with a since", s.seal("r1.u1.3.fam.0.5." + itoa(exp)), refreshClaims{}, false},
	}
	for _, tt := range tests {
		got, err := s.verifyRefresh(tt.tok, now)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v, ok %v", tt.name, got, err, tt.want, tt.ok)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
