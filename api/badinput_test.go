package api

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"rampart/accounts"
)

// TestBadInput: whatever a client sends to the sign-in and account routes
// answers API.md's status and code, never a 500.
func TestBadInput(t *testing.T) {
	e := newWSEnv(t)
	good := e.signIn(t, "device", `{"device_id":"`+deviceID("good")+`","create":true}`)
	e.signIn(t, "email", `{"email":"taken@example.com","password":"password one","create":true}`)
	b64 := base64.RawURLEncoding.EncodeToString
	future := time.Now().Add(time.Hour)
	huge := strings.Repeat("a", 70<<10)
	tests := []struct {
		name, path, token, body string
		status                  int
		code                    string
	}{
		{"empty body", "/api/v1/auth/device", "", ``, 400, "bad_request"},
		{"not json", "/api/v1/auth/device", "", `device`, 400, "bad_request"},
		{"array", "/api/v1/auth/device", "", `["x"]`, 400, "bad_request"},
		{"device id a number", "/api/v1/auth/device", "", `{"device_id":12345678901234567}`, 400, "bad_request"},
		{"create a string", "/api/v1/auth/device", "", `{"device_id":"` + deviceID("x") + `","create":"yes"}`, 400, "bad_request"},
		{"device id too short", "/api/v1/auth/device", "", `{"device_id":"short","create":true}`, 400, "bad_request"},
		{"device id too long", "/api/v1/auth/device", "", `{"device_id":"` + strings.Repeat("d", 129) + `","create":true}`, 400, "bad_request"},
		{"device id with a slash", "/api/v1/auth/device", "", `{"device_id":"abcdefgh/ijklmnopq","create":true}`, 400, "bad_request"},
		{"device id unicode", "/api/v1/auth/device", "", `{"device_id":"ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐ","create":true}`, 400, "bad_request"},
		{"device id NUL", "/api/v1/auth/device", "", `{"device_id":"abcdefgh\u0000ijklmnop","create":true}`, 400, "bad_request"},
		{"oversized body", "/api/v1/auth/device", "", `{"device_id":"` + huge + `"}`, 413, "too_large"},
		{"email missing password", "/api/v1/auth/email", "", `{"email":"a@example.com","create":true}`, 400, "bad_request"},
		{"email empty password", "/api/v1/auth/email", "", `{"email":"a@example.com","password":"","create":true}`, 400, "bad_request"},
		{"email short password", "/api/v1/auth/email", "", `{"email":"a@example.com","password":"1234567","create":true}`, 400, "bad_request"},
		{"email long password", "/api/v1/auth/email", "", `{"email":"a@example.com","password":"` + strings.Repeat("p", 129) + `","create":true}`, 400, "bad_request"},
		{"email password not utf-8", "/api/v1/auth/email", "", "{\"email\":\"a@example.com\",\"password\":\"abcdefgh\xff\",\"create\":true}", 400, "bad_request"},
		{"email no at", "/api/v1/auth/email", "", `{"email":"example.com","password":"long enough","create":true}`, 400, "bad_request"},
		{"email display name", "/api/v1/auth/email", "", `{"email":"Ann <ann@example.com>","password":"long enough","create":true}`, 400, "bad_request"},
		{"email one label", "/api/v1/auth/email", "", `{"email":"ann@localhost","password":"long enough","create":true}`, 400, "bad_request"},
		{"email cyrillic look-alike", "/api/v1/auth/email", "", `{"email":"tаken@example.com","password":"password one","create":true}`, 400, "bad_request"},
		{"email fullwidth", "/api/v1/auth/email", "", `{"email":"ｔａｋｅｎ@example.com","password":"password one","create":true}`, 400, "bad_request"},
		{"email quoted local part", "/api/v1/auth/email", "", `{"email":"\"ann\"@example.com","password":"long enough","create":true}`, 400, "bad_request"},
		{"email a number", "/api/v1/auth/email", "", `{"email":7,"password":"long enough"}`, 400, "bad_request"},
		{"email taken, wrong password, create", "/api/v1/auth/email", "", `{"email":"taken@example.com","password":"password two","create":true}`, 401, "bad_credentials"},
		{"ticket missing", "/api/v1/auth/ticket", "", `{"create":true}`, 400, "bad_request"},
		{"ticket garbage", "/api/v1/auth/ticket", "", `{"ticket":"garbage","create":true}`, 401, "bad_credentials"},
		{"ticket alg none", "/api/v1/auth/ticket", "", `{"ticket":"` + ticket("", "none", "x", future) + `","create":true}`, 401, "bad_credentials"},
		{"ticket alg None", "/api/v1/auth/ticket", "", `{"ticket":"` + b64([]byte(`{"alg":"None"}`)) + "." + b64([]byte(`{"sub":"x","exp":9999999999}`)) + `.","create":true}`, 401, "bad_credentials"},
		{"ticket EdDSA header on an HS256 key", "/api/v1/auth/ticket", "", `{"ticket":"` + ticket(testTicketSecret, "EdDSA", "x", future) + `","create":true}`, 401, "bad_credentials"},
		{"ticket no sub", "/api/v1/auth/ticket", "", `{"ticket":"` + ticket(testTicketSecret, "HS256", "", future) + `","create":true}`, 401, "bad_credentials"},
		{"ticket oversized", "/api/v1/auth/ticket", "", `{"ticket":"` + strings.Repeat("a", 9<<10) + `","create":true}`, 401, "bad_credentials"},
		{"refresh missing", "/api/v1/auth/refresh", "", `{}`, 400, "bad_request"},
		{"refresh garbage", "/api/v1/auth/refresh", "", `{"refresh":"garbage"}`, 401, "unauthorized"},
		{"refresh a session token", "/api/v1/auth/refresh", "", `{"refresh":"` + good.Session + `"}`, 401, "unauthorized"},
		{"refresh forged", "/api/v1/auth/refresh", "", `{"refresh":"` + good.Refresh[:len(good.Refresh)-3] + `AAA"}`, 401, "unauthorized"},
		{"refresh naming another player", "/api/v1/auth/refresh", "", `{"refresh":"r1.u0000000000000000000000.0.x.0.99999999999999.mac"}`, 401, "unauthorized"},
		{"session garbage", "/api/v1/account", "garbage", ``, 401, "unauthorized"},
		{"session a refresh token", "/api/v1/account/link", good.Refresh, `{"device_id":"` + deviceID("y") + `"}`, 401, "unauthorized"},
		{"session forged", "/api/v1/account/link", good.Session[:len(good.Session)-3] + "AAA", `{"device_id":"` + deviceID("y") + `"}`, 401, "unauthorized"},
		{"session huge", "/api/v1/account/link", strings.Repeat("s", 8<<10), `{}`, 401, "unauthorized"},
		{"link wrong types", "/api/v1/account/link", good.Session, `{"device_id":["x"]}`, 400, "bad_request"},
		{"link bad email", "/api/v1/account/link", good.Session, `{"email":"not an email","password":"long enough"}`, 400, "bad_request"},
		{"logout garbage token", "/api/v1/logout", "s1.a.b.c.d.e", `{}`, 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if tt.path == "/api/v1/account" {
				method = "GET"
			}
			code, ec, _ := e.call(t, method, tt.path, tt.token, tt.body, nil, nil)
			if code != tt.status || ec != tt.code {
				t.Fatalf("got %d %q, want %d %q", code, ec, tt.status, tt.code)
			}
		})
	}
	// The good session survived all of it.
	if code, _, _ := e.call(t, "GET", "/api/v1/account", good.Session, "", nil, nil); code != 200 {
		t.Fatalf("good session after the bad input: %d", code)
	}
}

// FuzzDecodeCredential: the sign-in decoder answers a credential of the
// kind asked for, or a 400, for any body.
func FuzzDecodeCredential(f *testing.F) {
	for _, s := range []string{
		`{"device_id":"0123456789abcdef","create":true}`,
		`{"email":"a@example.com","password":"long enough"}`,
		`{"ticket":"a.b.c"}`,
		`{"device_id":"x","email":"y"}`,
		`{"device_id":7}`,
		`[]`, `{`, ``, `null`,
	} {
		for _, kind := range []string{"", accounts.KindDevice, accounts.KindEmail, accounts.KindTicket} {
			f.Add(kind, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		switch kind {
		case "", accounts.KindDevice, accounts.KindEmail, accounts.KindTicket:
		default:
			return
		}
		c, _, err := decodeCredential(kind, body)
		if err != nil {
			if e := toError(err); e.Status != http.StatusBadRequest {
				t.Fatalf("decodeCredential(%q, %q): %v is a %d, want 400", kind, body, err, e.Status)
			}
			return
		}
		set := 0
		for _, v := range []string{c.DeviceID, c.Email, c.Ticket} {
			if v != "" {
				set++
			}
		}
		if set != 1 || (c.Email != "") != (c.Password != "") {
			t.Fatalf("decodeCredential(%q, %q) = %+v: want exactly one credential", kind, body, c)
		}
		if kind != "" && (kind == accounts.KindDevice) != (c.DeviceID != "") {
			t.Fatalf("asked for %s, got %+v", kind, c)
		}
		if !utf8.ValidString(c.DeviceID) && c.DeviceID != "" {
			// encoding/json replaces invalid UTF-8: never reached.
			t.Fatalf("invalid UTF-8 device id %q", c.DeviceID)
		}
	})
}

func TestDebugGuardProxied(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, remote string
		header       map[string]string
		want         int
	}{
		{"loopback", "127.0.0.1:5000", nil, 200},
		{"loopback with X-Forwarded-For", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, 401},
		{"loopback with X-Forwarded-For of loopback", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 401},
		{"loopback with Forwarded", "[::1]:5000", map[string]string{"Forwarded": "for=203.0.113.9"}, 401},
		{"proxied with the admin token", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer admin-secret"}, 200},
		{"token without the bearer scheme", "203.0.113.9:5000", map[string]string{"Authorization": "admin-secret"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/debug/pprof/", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("got %d, want %d", w.Code, tt.want)
			}
		})
	}
}

// TestLimitConns: past the bound, a client's next connection is closed at
// once; closing one frees its slot; other addresses are not affected.
func TestLimitConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := LimitConns(ln, 2, nil)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go hs.Serve(lim)
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// works reports whether a request on c is answered.
	works := func(c net.Conn) bool {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return false
		}
		buf := make([]byte, 12)
		n, _ := c.Read(buf)
		return strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200")
	}
	a, b := dial(), dial()
	if !works(a) || !works(b) {
		t.Fatal("connections within the bound were not served")
	}
	if c := dial(); works(c) {
		t.Fatal("third connection from one address was served, want closed")
	}
	if got := lim.Refused.Load(); got != 1 {
		t.Fatalf("refused %d, want 1", got)
	}
	a.Close()
	// The slot comes back once the server has seen the close; keep trying
	// a fresh connection until it is served (each refused try is counted).
	deadline := time.Now().Add(5 * time.Second)
	for !works(dial()) {
		if time.Now().After(deadline) {
			t.Fatal("slot of a closed connection never came back")
		}
	}
}
