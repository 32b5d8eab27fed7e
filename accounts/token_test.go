package accounts

import (
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
