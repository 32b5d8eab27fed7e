package accounts_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"rampart/accounts"
)

var b64 = base64.RawURLEncoding

// jws builds a compact JWS of header and claims (JSON values or raw
// strings), signed by sign.
func jws(header, claims any, sign func(signed []byte) []byte) string {
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return b64.EncodeToString([]byte(s))
		}
		j, _ := json.Marshal(v)
		return b64.EncodeToString(j)
	}
	signed := enc(header) + "." + enc(claims)
	return signed + "." + b64.EncodeToString(sign([]byte(signed)))
}

func hs256(key []byte) func([]byte) []byte {
	return func(b []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(b)
		return m.Sum(nil)
	}
}

func eddsa(b []byte) []byte { return ed25519.Sign(edPrivate, b) }

func noSig([]byte) []byte { return nil }

var ticketNow = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func claimsAt(sub string, exp time.Time) map[string]any {
	return map[string]any{"sub": sub, "exp": exp.Unix(), "iat": ticketNow.Unix()}
}

func hsTicket(sub string) string {
	return jws(map[string]string{"alg": "HS256", "typ": "JWT"}, claimsAt(sub, ticketNow.Add(5*time.Minute)), hs256(ticketSecret))
}

func TestVerifyTicket(t *testing.T) {
	hsV, err := accounts.NewTicketVerifier(ticketSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	edV, err := accounts.NewTicketVerifier(nil, edPublic)
	if err != nil {
		t.Fatal(err)
	}
	hs := map[string]string{"alg": "HS256"}
	ed := map[string]string{"alg": "EdDSA"}
	soon := ticketNow.Add(time.Minute)
	good := claimsAt("studio-user-1", soon)
	cases := []struct {
		name   string
		v      *accounts.TicketVerifier
		ticket string
		want   string // the subject, or "" for bad_credentials
	}{
		{"hs256 ok", hsV, jws(hs, good, hs256(ticketSecret)), "studio-user-1"},
		{"eddsa ok", edV, jws(ed, good, eddsa), "studio-user-1"},
		{"expired within leeway", hsV, jws(hs, claimsAt("u", ticketNow.Add(-10*time.Second)), hs256(ticketSecret)), "u"},
		{"nbf within leeway", hsV, jws(hs, map[string]any{"sub": "u", "exp": soon.Unix(), "nbf": ticketNow.Add(10 * time.Second).Unix()}, hs256(ticketSecret)), "u"},
		{"alg none", hsV, jws(map[string]string{"alg": "none"}, good, noSig), ""},
		{"alg none with a sig", hsV, jws(map[string]string{"alg": "none"}, good, hs256(ticketSecret)), ""},
		{"alg None", hsV, jws(map[string]string{"alg": "None"}, good, hs256(ticketSecret)), ""},
		{"hs256 to an eddsa key", edV, jws(hs, good, hs256(edPublic)), ""},
		{"eddsa to an hs256 key", hsV, jws(ed, good, eddsa), ""},
		{"RS256", hsV, jws(map[string]string{"alg": "RS256"}, good, hs256(ticketSecret)), ""},
		{"bad hs256 sig", hsV, jws(hs, good, hs256([]byte("another-secret-another-secret-32"))), ""},
		{"bad eddsa sig", edV, jws(ed, good, func(b []byte) []byte { s := eddsa(b); s[0] ^= 1; return s }), ""},
		{"short eddsa sig", edV, jws(ed, good, func(b []byte) []byte { return eddsa(b)[:63] }), ""},
		{"expired", hsV, jws(hs, claimsAt("u", ticketNow.Add(-time.Minute)), hs256(ticketSecret)), ""},
		{"no exp", hsV, jws(hs, map[string]any{"sub": "u"}, hs256(ticketSecret)), ""},
		{"exp a string", hsV, jws(hs, map[string]any{"sub": "u", "exp": "tomorrow"}, hs256(ticketSecret)), ""},
		{"nbf future", hsV, jws(hs, map[string]any{"sub": "u", "exp": soon.Unix(), "nbf": ticketNow.Add(time.Minute).Unix()}, hs256(ticketSecret)), ""},
		{"iat future", hsV, jws(hs, map[string]any{"sub": "u", "exp": soon.Add(time.Hour).Unix(), "iat": ticketNow.Add(time.Hour).Unix()}, hs256(ticketSecret)), ""},
		{"no sub", hsV, jws(hs, map[string]any{"exp": soon.Unix()}, hs256(ticketSecret)), ""},
		{"empty sub", hsV, jws(hs, map[string]any{"sub": "", "exp": soon.Unix()}, hs256(ticketSecret)), ""},
		{"sub a number", hsV, jws(hs, map[string]any{"sub": 7, "exp": soon.Unix()}, hs256(ticketSecret)), ""},
		{"crit header", hsV, jws(map[string]any{"alg": "HS256", "crit": []string{"exp"}}, good, hs256(ticketSecret)), ""},
		{"header not json", hsV, jws("{alg", good, hs256(ticketSecret)), ""},
		{"claims not json", hsV, jws(hs, "not json", hs256(ticketSecret)), ""},
		{"claims an array", hsV, jws(hs, "[1,2]", hs256(ticketSecret)), ""},
		{"garbage", hsV, "garbage", ""},
		{"empty", hsV, "", ""},
		{"two parts", hsV, "a.b", ""},
		{"four parts", hsV, jws(hs, good, hs256(ticketSecret)) + ".x", ""},
		{"padded base64", hsV, jws(hs, good, hs256(ticketSecret)) + "=", ""},
		{"std base64 chars", hsV, "eyJ+/.eyJ+/.abc+/", ""},
		{"huge", hsV, jws(hs, map[string]any{"sub": string(make([]byte, 9000)), "exp": soon.Unix()}, hs256(ticketSecret)), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub, err := c.v.Verify(c.ticket, ticketNow)
			if c.want == "" {
				wantCode(t, err, "bad_credentials")
				return
			}
			if err != nil || sub != c.want {
				t.Fatalf("got %q, %v; want %q", sub, err, c.want)
			}
		})
	}
}

func TestTicketVerifierKeys(t *testing.T) {
	if _, err := accounts.NewTicketVerifier([]byte("short"), nil); err == nil {
		t.Error("a 5-byte HS256 secret was accepted")
	}
	if _, err := accounts.NewTicketVerifier(ticketSecret, edPublic); err == nil {
		t.Error("both keys were accepted")
	}
	if _, err := accounts.NewTicketVerifier(nil, ed25519.PublicKey{1, 2}); err == nil {
		t.Error("a 2-byte public key was accepted")
	}
	v, err := accounts.NewTicketVerifier(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(hsTicket("u"), ticketNow); err != accounts.ErrTicketsDisabled {
		t.Errorf("no key: got %v, want ErrTicketsDisabled", err)
	}
}

func FuzzVerifyTicket(f *testing.F) {
	f.Add(hsTicket("studio-user-1"))
	f.Add(jws(map[string]string{"alg": "none"}, claimsAt("u", ticketNow), noSig))
	f.Add(jws(map[string]string{"alg": "EdDSA"}, claimsAt("u", ticketNow), eddsa))
	f.Add("e30.e30.")
	f.Add("..")
	hsV, _ := accounts.NewTicketVerifier(ticketSecret, nil)
	edV, _ := accounts.NewTicketVerifier(nil, edPublic)
	f.Fuzz(func(t *testing.T, ticket string) {
		accepted := 0
		for _, v := range []*accounts.TicketVerifier{hsV, edV} {
			sub, err := v.Verify(ticket, ticketNow)
			if err == nil && sub == "" {
				t.Fatalf("accepted %q with an empty subject", ticket)
			}
			if err != nil {
				wantCode(t, err, "bad_credentials")
				continue
			}
			accepted++
		}
		// One ticket carries one alg; no ticket gets past both keys.
		if accepted > 1 {
			t.Fatalf("%q accepted by the HS256 and the EdDSA verifier", ticket)
		}
	})
}

// FuzzTicketClaims signs any header and claims correctly with both
// algorithms, so that the claims checks are reached past the signature:
// both verifiers then agree (the same subject, or the same refusal); an
// accepted subject is the claims' "sub" as encoding/json reads it, 1-255
// bytes; a ticket is never accepted under the other verifier's key, nor
// with its signature's last byte changed. Seeds:
// testdata/fuzz/FuzzTicketClaims.
func FuzzTicketClaims(f *testing.F) {
	hsV, _ := accounts.NewTicketVerifier(ticketSecret, nil)
	edV, _ := accounts.NewTicketVerifier(nil, edPublic)
	f.Fuzz(func(t *testing.T, typ string, claims []byte) {
		hs := jws(map[string]string{"alg": "HS256", "typ": typ}, string(claims), hs256(ticketSecret))
		ed := jws(map[string]string{"alg": "EdDSA", "typ": typ}, string(claims), eddsa)
		hsSub, hsErr := hsV.Verify(hs, ticketNow)
		edSub, edErr := edV.Verify(ed, ticketNow)
		if hsSub != edSub || (hsErr == nil) != (edErr == nil) || hsErr != nil && hsErr.Error() != edErr.Error() {
			t.Fatalf("claims %q: HS256 gives %q, %v; EdDSA gives %q, %v", claims, hsSub, hsErr, edSub, edErr)
		}
		if hsErr != nil {
			wantCode(t, hsErr, "bad_credentials")
		} else {
			var c struct{ Sub string }
			if err := json.Unmarshal(claims, &c); err != nil || c.Sub != hsSub || len(hsSub) == 0 || len(hsSub) > 255 {
				t.Fatalf("claims %q accepted with subject %q; encoding/json reads %q, %v", claims, hsSub, c.Sub, err)
			}
		}
		for _, bad := range []struct {
			v      *accounts.TicketVerifier
			ticket string
		}{{edV, hs}, {hsV, ed}, {hsV, flipLast(hs)}, {edV, flipLast(ed)}} {
			if _, err := bad.v.Verify(bad.ticket, ticketNow); err == nil {
				t.Fatalf("accepted %q under the wrong key or with a changed signature", bad.ticket)
			}
		}
	})
}

// flipLast changes the last signature byte of a compact JWS.
func flipLast(ticket string) string {
	i := strings.LastIndexByte(ticket, '.')
	sig, _ := b64.DecodeString(ticket[i+1:])
	if len(sig) == 0 {
		return ticket + "A"
	}
	sig[len(sig)-1] ^= 1
	return ticket[:i+1] + b64.EncodeToString(sig)
}
