package api

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"rampart/accounts"
	"rampart/state"
	"rampart/state/push"
)

// ticket is a studio's HS256 ticket for sub, expiring at exp.
func ticket(secret, alg, sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
	c := enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d}`, sub, exp.Unix())))
	if alg == "none" {
		return h + "." + c + "."
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + c))
	return h + "." + c + "." + enc.EncodeToString(m.Sum(nil))
}

// errorOf is a failure's body.
type errorOf struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Until   *int64 `json:"until"`
	} `json:"error"`
}

// wsLogin opens a socket and logs in with session; it returns the reply
// (login_ok or error).
func (e *wsEnv) wsLogin(t *testing.T, session string) (*wsClient, map[string]any) {
	t.Helper()
	w := e.dial(t)
	w.send(`{"type":"login","session":"` + session + `"}`)
	for {
		m := w.recv()
		if m["type"] == "login_ok" || m["type"] == "error" {
			return w, m
		}
	}
}

func wsCode(m map[string]any) string {
	if m["type"] != "error" {
		return ""
	}
	return m["error"].(map[string]any)["code"].(string)
}

// signInCase is one sign-in over HTTP (POST /api/v1/auth/<kind>) and the
// answer it must get.
type signInCase struct {
	name, kind, body string
	status           int
	code             string
	created          bool
}

// runSignIns posts the cases in order to e. A successful one must give a
// refresh token and a session that reads the player, for the account its
// kind signed in to before, if any; it returns the account per kind.
func runSignIns(t *testing.T, e *wsEnv, tests []signInCase) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r testSignIn
			code, ec := e.post(t, "/api/v1/auth/"+tt.kind, "", tt.body, &r)
			if code != tt.status || ec != tt.code {
				t.Fatalf("got %d %q, want %d %q", code, ec, tt.status, tt.code)
			}
			if code != 200 {
				return
			}
			if r.Created != tt.created || r.Session == "" || r.Refresh == "" || !accounts.ValidPlayerID(r.PlayerID) {
				t.Fatalf("reply %+v, want created=%v, a session, a refresh token and an account id", r, tt.created)
			}
			if prev, ok := ids[tt.kind]; ok && prev != r.PlayerID {
				t.Fatalf("signed in to %s, want the account made before, %s", r.PlayerID, prev)
			}
			ids[tt.kind] = r.PlayerID
			var v struct {
				Player struct {
					ID string `json:"id"`
				} `json:"player"`
			}
			if code, _, _ := e.call(t, "GET", "/api/v1/player", r.Session, "", nil, &v); code != 200 || v.Player.ID != r.PlayerID {
				t.Fatalf("GET /api/v1/player with the new session: %d %+v", code, v)
			}
		})
	}
	return ids
}

func TestSignInPerKind(t *testing.T) {
	e := newWSEnv(t)
	future := time.Now().Add(time.Hour)
	ids := runSignIns(t, e, []signInCase{
		{"device unknown without create", "device", `{"device_id":"` + deviceID("d1") + `"}`, 404, "not_found", false},
		{"device create", "device", `{"device_id":"` + deviceID("d1") + `","create":true}`, 200, "", true},
		{"device again", "device", `{"device_id":"` + deviceID("d1") + `"}`, 200, "", false},
		{"device again with create", "device", `{"device_id":"` + deviceID("d1") + `","create":true}`, 200, "", false},
		{"email unknown", "email", `{"email":"ann@example.com","password":"correct horse"}`, 404, "not_found", false},
		{"email create", "email", `{"email":"ann@example.com","password":"correct horse","create":true}`, 200, "", true},
		{"email again, other case", "email", `{"email":"Ann@Example.COM","password":"correct horse"}`, 200, "", false},
		{"email wrong password", "email", `{"email":"ann@example.com","password":"wrong horse"}`, 401, "bad_credentials", false},
		{"ticket create", "ticket", `{"ticket":"` + ticket(testTicketSecret, "HS256", "studio-7", future) + `","create":true}`, 200, "", true},
		{"ticket again", "ticket", `{"ticket":"` + ticket(testTicketSecret, "HS256", "studio-7", future) + `"}`, 200, "", false},
		{"ticket expired", "ticket", `{"ticket":"` + ticket(testTicketSecret, "HS256", "studio-7", time.Now().Add(-time.Hour)) + `"}`, 401, "bad_credentials", false},
		{"ticket forged", "ticket", `{"ticket":"` + ticket("another-secret-0123456789abcdef0123", "HS256", "studio-7", future) + `"}`, 401, "bad_credentials", false},
		{"ticket alg none", "ticket", `{"ticket":"` + ticket("", "none", "studio-7", future) + `","create":true}`, 401, "bad_credentials", false},
	})
	if len(ids) != 3 || ids["device"] == ids["email"] || ids["email"] == ids["ticket"] {
		t.Fatalf("accounts %v: want three different ones", ids)
	}
}

// edTicket is a studio's EdDSA (Ed25519) ticket for sub, expiring at exp.
func edTicket(key ed25519.PrivateKey, sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d}`, sub, exp.Unix())))
	return signed + "." + enc.EncodeToString(ed25519.Sign(key, []byte(signed)))
}

// TestSignInWithEdDSATicket: a server given the studio's Ed25519 public
// key (--ticket-public-key) signs players in with the studio's EdDSA
// tickets, and with nothing else: not another key's, not an expired one,
// not an HS256 ticket keyed with the public key (the algorithm swap).
func TestSignInWithEdDSATicket(t *testing.T) {
	seed := sha256.Sum256([]byte("studio ed25519 key"))
	studio := ed25519.NewKeyFromSeed(seed[:])
	public := studio.Public().(ed25519.PublicKey)
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	e := newEnv(t, envOptions{accounts: func(c *accounts.Config) { c.TicketSecret, c.TicketPublicKey = nil, public }})
	future := time.Now().Add(time.Hour)
	row := func(name, ticket string, create bool, status int, code string, created bool) signInCase {
		return signInCase{name, "ticket", fmt.Sprintf(`{"ticket":%q,"create":%v}`, ticket, create), status, code, created}
	}
	ids := runSignIns(t, e, []signInCase{
		row("create", edTicket(studio, "studio-9", future), true, 200, "", true),
		row("again", edTicket(studio, "studio-9", future), false, 200, "", false),
		row("another key", edTicket(other, "studio-9", future), false, 401, "bad_credentials", false),
		row("expired", edTicket(studio, "studio-9", time.Now().Add(-time.Hour)), false, 401, "bad_credentials", false),
		row("HS256 keyed with the public key", ticket(string(public), "HS256", "studio-9", future), true, 401, "bad_credentials", false),
		row("alg none", ticket("", "none", "studio-9", future), true, 401, "bad_credentials", false),
	})
	if ids["ticket"] == "" {
		t.Fatal("no account signed in")
	}
}

func TestLinkAndAccount(t *testing.T) {
	e := newWSEnv(t)
	a := e.signIn(t, "device", `{"device_id":"`+deviceID("a")+`","create":true}`)
	b := e.signIn(t, "device", `{"device_id":"`+deviceID("b")+`","create":true}`)
	tests := []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no session", "", `{"device_id":"` + deviceID("a2") + `"}`, 401, "unauthorized"},
		{"link a second device", a.Session, `{"device_id":"` + deviceID("a2") + `"}`, 200, ""},
		{"link the same again", a.Session, `{"device_id":"` + deviceID("a2") + `"}`, 200, ""},
		{"link b's device", a.Session, `{"device_id":"` + deviceID("b") + `"}`, 409, "already_exists"},
		{"link an email", a.Session, `{"email":"a@example.org","password":"long enough"}`, 200, ""},
		{"b links a's email", b.Session, `{"email":"a@example.org","password":"long enough"}`, 409, "already_exists"},
		{"both kinds", a.Session, `{"device_id":"` + deviceID("a3") + `","email":"x@example.org","password":"long enough"}`, 400, "bad_request"},
		{"neither", a.Session, `{}`, 400, "bad_request"},
		{"short password", a.Session, `{"email":"a@example.org","password":"short"}`, 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ec := e.post(t, "/api/v1/account/link", tt.token, tt.body, nil)
			if code != tt.status || ec != tt.code {
				t.Fatalf("got %d %q, want %d %q", code, ec, tt.status, tt.code)
			}
		})
	}
	var info map[string]any
	if code, _, _ := e.call(t, "GET", "/api/v1/account", a.Session, "", nil, &info); code != 200 {
		t.Fatalf("GET /api/v1/account: %d", code)
	}
	creds, _ := json.Marshal(info["credentials"])
	if info["player_id"] != a.PlayerID || string(creds) != `["device","email"]` {
		t.Fatalf("account %v, want %s with device and email", info, a.PlayerID)
	}
	raw, _ := json.Marshal(info)
	if strings.Contains(string(raw), "argon2") || strings.Contains(string(raw), deviceID("a")) {
		t.Fatalf("account view leaks a secret: %s", raw)
	}
	// The linked credentials reach the same account.
	for _, body := range []string{`{"device_id":"` + deviceID("a2") + `"}`} {
		if r := e.signIn(t, "device", body); r.PlayerID != a.PlayerID {
			t.Fatalf("linked device reaches %s, want %s", r.PlayerID, a.PlayerID)
		}
	}
	if r := e.signIn(t, "email", `{"email":"a@example.org","password":"long enough"}`); r.PlayerID != a.PlayerID {
		t.Fatalf("linked email reaches %s, want %s", r.PlayerID, a.PlayerID)
	}
}

func TestPasswordLockout(t *testing.T) {
	e := newWSEnv(t)
	acct := e.signIn(t, "email", `{"email":"lock@example.com","password":"the right one","create":true}`)
	if code, _ := e.post(t, "/api/v1/account/link", acct.Session, `{"device_id":"`+deviceID("lock")+`"}`, nil); code != 200 {
		t.Fatalf("link device: %d", code)
	}
	wrong := `{"email":"lock@example.com","password":"the wrong one"}`
	right := `{"email":"lock@example.com","password":"the right one"}`
	for i := range accounts.MaxFailures {
		if code, ec := e.post(t, "/api/v1/auth/email", "", wrong, nil); code != 401 || ec != "bad_credentials" {
			t.Fatalf("wrong password %d: %d %s, want 401 bad_credentials", i+1, code, ec)
		}
	}
	for _, body := range []string{wrong, right} {
		code, ec, resp := e.call(t, "POST", "/api/v1/auth/email", "", body, nil, nil)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if code != 429 || ec != "rate_limited" || ra < 800 || ra > 900 {
			t.Fatalf("locked sign-in %s: %d %s Retry-After %q, want 429 rate_limited with about 900 s", body, code, ec, resp.Header.Get("Retry-After"))
		}
	}
	// Other credentials of the account still work.
	if r := e.signIn(t, "device", `{"device_id":"`+deviceID("lock")+`"}`); r.PlayerID != acct.PlayerID {
		t.Fatalf("device sign-in during the lockout reached %s", r.PlayerID)
	}
	e.AcctClock.Advance(accounts.LockFor + time.Second)
	if r := e.signIn(t, "email", right); r.PlayerID != acct.PlayerID {
		t.Fatalf("after the lockout: %s", r.PlayerID)
	}
}

// signUpAndRefresh makes a device account and refreshes its first
// tokens once: the first grant, whose refresh token is now spent, and the
// second.
func (e *wsEnv) signUpAndRefresh(t *testing.T, device string) (first, second testSignIn) {
	t.Helper()
	first = e.signIn(t, "device", `{"device_id":"`+deviceID(device)+`","create":true}`)
	if code, ec := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+first.Refresh+`"}`, &second); code != 200 {
		t.Fatalf("refresh: %d %s", code, ec)
	}
	return first, second
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newWSEnv(t)
	first, second := e.signUpAndRefresh(t, "r")
	if second.Session == first.Session || second.Refresh == first.Refresh || second.PlayerID != first.PlayerID {
		t.Fatalf("refresh gave %+v, want a new session and refresh token for %s", second, first.PlayerID)
	}
	if code, _, _ := e.call(t, "GET", "/api/v1/player", first.Session, "", nil, nil); code != 401 {
		t.Fatalf("the session before the refresh: %d, want 401 (replaced)", code)
	}
	if code, _, _ := e.call(t, "GET", "/api/v1/player", second.Session, "", nil, nil); code != 200 {
		t.Fatalf("the refreshed session: %d, want 200", code)
	}
	w := e.dial(t)
	w.send(`{"type":"login","session":"` + second.Session + `"}`)
	w.expect("login_ok")

	// The spent token again: the whole family (and every session) dies.
	if code, ec := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+first.Refresh+`"}`, nil); code != 401 || ec != "unauthorized" {
		t.Fatalf("reused refresh token: %d %s, want 401 unauthorized", code, ec)
	}
	if code, ec := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+second.Refresh+`"}`, nil); code != 401 || ec != "unauthorized" {
		t.Fatalf("the newest refresh token after a reuse: %d %s, want 401", code, ec)
	}
	if code, _, _ := e.call(t, "GET", "/api/v1/player", second.Session, "", nil, nil); code != 401 {
		t.Fatalf("session after the reuse, HTTP: %d, want 401", code)
	}
	if m := w.expect("event"); m["event"].(map[string]any)["kind"] != push.Replaced {
		t.Fatalf("socket after the reuse: %v, want a replaced event", m)
	}
	if _, m := e.wsLogin(t, second.Session); wsCode(m) != "unauthorized" {
		t.Fatalf("WebSocket resume after the reuse: %v, want unauthorized", m)
	}
	// Signing in again works: a new family.
	again := e.signIn(t, "device", `{"device_id":"`+deviceID("r")+`"}`)
	if code, _ := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+again.Refresh+`"}`, nil); code != 200 {
		t.Fatalf("refresh of a fresh sign-in after the revocation: %d", code)
	}
}

// TestSignInSupersedesRefresh: a new sign-in makes the previous refresh
// tokens unauthorized without revoking anything, whether the player was
// in memory or is loaded from S3 again (its family is in its object),
// and a WebSocket resume keeps the family.
func TestSignInSupersedesRefresh(t *testing.T) {
	e := newWSEnv(t)
	device := `{"device_id":"` + deviceID("sup") + `","create":true}`
	refresh := func(token string) (int, string, testSignIn) {
		var out testSignIn
		code, ec := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+token+`"}`, &out)
		return code, ec, out
	}
	mustRefresh := func(token, when string) testSignIn {
		t.Helper()
		code, ec, out := refresh(token)
		if code != 200 {
			t.Fatalf("refresh %s: %d %s, want 200", when, code, ec)
		}
		return out
	}
	idle := func() { // the server logs the player out; its next load is from S3
		t.Helper()
		e.Clock.Advance(11 * time.Minute)
		e.Store.Sweep(context.Background())
		if n := e.Store.OnlineCount(); n != 0 {
			t.Fatalf("online after the idle sweep = %d, want 0", n)
		}
	}
	g1 := e.signIn(t, "device", device)
	g2 := e.signIn(t, "device", device) // in memory: the family is saved
	if code, ec, _ := refresh(g1.Refresh); code != 401 || ec != "unauthorized" {
		t.Fatalf("the superseded refresh token: %d %s, want 401 unauthorized", code, ec)
	}
	if code, _, _ := e.call(t, "GET", "/api/v1/player", g2.Session, "", nil, nil); code != 200 {
		t.Fatalf("the live session after a superseded refresh: %d, want 200 (nothing revoked)", code)
	}
	idle()
	g3 := mustRefresh(g2.Refresh, "after the idle logout")
	// A resumed session (the resume loads the player) keeps the family.
	idle()
	if _, m := e.wsLogin(t, g3.Session); m["type"] != "login_ok" {
		t.Fatalf("resume: %v", m)
	}
	g4 := mustRefresh(g3.Refresh, "after a resume")
	idle()
	g5 := e.signIn(t, "device", device) // loaded: the family rides on the lease
	for _, old := range []string{g2.Refresh, g3.Refresh, g4.Refresh} {
		if code, ec, _ := refresh(old); code != 401 || ec != "unauthorized" {
			t.Fatalf("a refresh token from before the last sign-in: %d %s, want 401", code, ec)
		}
	}
	mustRefresh(g5.Refresh, "of the newest sign-in")
}

// TestRefreshReuseOffline: a spent token presented while the player is
// out of memory is found spent in its object, and revokes the account.
func TestRefreshReuseOffline(t *testing.T) {
	e := newWSEnv(t)
	first, second := e.signUpAndRefresh(t, "off")
	e.Clock.Advance(11 * time.Minute)
	e.Store.Sweep(context.Background())
	if n := e.Store.OnlineCount(); n != 0 {
		t.Fatalf("online after the idle sweep = %d, want 0", n)
	}
	if code, ec := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+first.Refresh+`"}`, nil); code != 401 || ec != "unauthorized" {
		t.Fatalf("the spent token, player offline: %d %s, want 401 unauthorized", code, ec)
	}
	if code, ec := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+second.Refresh+`"}`, nil); code != 401 || ec != "unauthorized" {
		t.Fatalf("the newest token after the reuse: %d %s, want 401 (the account revoked)", code, ec)
	}
	if _, m := e.wsLogin(t, second.Session); wsCode(m) != "unauthorized" {
		t.Fatalf("resuming the session after the reuse: %v, want unauthorized (the account revoked)", m)
	}
}

func TestLogoutRevokes(t *testing.T) {
	for _, via := range []string{"http", "ws"} {
		t.Run(via, func(t *testing.T) {
			e := newWSEnv(t)
			r := e.signIn(t, "device", `{"device_id":"`+deviceID("out")+`","create":true}`)
			w, m := e.wsLogin(t, r.Session)
			if m["type"] != "login_ok" {
				t.Fatalf("ws login: %v", m)
			}
			if via == "http" {
				if code, ec := e.post(t, "/api/v1/logout", r.Session, "{}", nil); code != 200 {
					t.Fatalf("logout: %d %s", code, ec)
				}
			} else {
				w.send(`{"type":"logout"}`)
				w.expect("logout_ok")
			}
			if n := e.Store.OnlineCount(); n != 0 {
				t.Fatalf("online after logout: %d", n)
			}
			if code, _, _ := e.call(t, "GET", "/api/v1/player", r.Session, "", nil, nil); code != 401 {
				t.Fatalf("session after logout, HTTP: %d, want 401", code)
			}
			// The hole: the socket used to resume a logged-out session by
			// loading the player again.
			if _, m := e.wsLogin(t, r.Session); wsCode(m) != "unauthorized" {
				t.Fatalf("session after logout, WebSocket login: %v, want unauthorized", m)
			}
			if code, _ := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+r.Refresh+`"}`, nil); code != 401 {
				t.Fatalf("refresh token after logout: %d, want 401", code)
			}
			if n := e.Store.OnlineCount(); n != 0 {
				t.Fatalf("online after refused resumes: %d, want 0", n)
			}
		})
	}
}

func TestBanSignsOut(t *testing.T) {
	const admin = "admin-token-for-tests"
	e := newEnv(t, envOptions{api: func(c *Config) { c.AdminToken = admin }})
	r := e.signIn(t, "device", `{"device_id":"`+deviceID("bad")+`","create":true}`)
	w, m := e.wsLogin(t, r.Session)
	if m["type"] != "login_ok" {
		t.Fatalf("ws login: %v", m)
	}
	until := e.AcctClock.Now().Add(24 * time.Hour).UnixMilli()
	if code, ec := e.post(t, "/admin/v1/players/"+r.PlayerID+"/ban", admin, fmt.Sprintf(`{"until":%d,"reason":"cheating"}`, until), nil); code != 200 {
		t.Fatalf("ban: %d %s", code, ec)
	}
	if m := w.expect("event"); m["event"].(map[string]any)["kind"] != push.Replaced {
		t.Fatalf("socket of the banned player: %v, want replaced", m)
	}
	if _, err := w.tryRecv(); closeStatus(err) != websocket.CloseNormalClosure {
		t.Fatalf("socket of the banned player: %v, want closed", err)
	}
	if n := e.Store.OnlineCount(); n != 0 {
		t.Fatalf("online after the ban: %d, want 0 (signed out, saved)", n)
	}
	if code, _, _ := e.call(t, "GET", "/api/v1/player", r.Session, "", nil, nil); code != 401 {
		t.Fatalf("session after the ban: %d, want 401", code)
	}
	var eb errorOf
	code, _, _ := e.call(t, "POST", "/api/v1/auth/device", "", `{"device_id":"`+deviceID("bad")+`"}`, nil, nil)
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/auth/device", strings.NewReader(`{"device_id":"`+deviceID("bad")+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if code != 403 || eb.Error.Code != "banned" || eb.Error.Until == nil || *eb.Error.Until != until ||
		!strings.Contains(eb.Error.Message, time.UnixMilli(until).UTC().Format(time.RFC3339)) {
		t.Fatalf("sign-in while banned: %d %+v, want 403 banned until %d (in the message too)", code, eb.Error, until)
	}
	if code, _ := e.post(t, "/api/v1/auth/refresh", "", `{"refresh":"`+r.Refresh+`"}`, nil); code != 401 && code != 403 {
		t.Fatalf("refresh while banned: %d, want refused", code)
	}
	if code, ec := e.post(t, "/admin/v1/players/"+r.PlayerID+"/unban", admin, `{}`, nil); code != 200 {
		t.Fatalf("unban: %d %s", code, ec)
	}
	e.signIn(t, "device", `{"device_id":"`+deviceID("bad")+`"}`)
	if code, _, _ := e.call(t, "GET", "/api/v1/player", r.Session, "", nil, nil); code != 401 {
		t.Fatalf("the session from before the ban, after the unban: %d, want 401 (revoked for good)", code)
	}
}

func TestAdminRoutes(t *testing.T) {
	const admin = "admin-token-for-tests"
	closed := newWSEnv(t)
	if code, ec, _ := closed.call(t, "GET", "/admin/v1/players/u0000000000000000000000", admin, "", nil, nil); code != 404 || ec != "not_found" {
		t.Fatalf("admin route without --admin-token: %d %s, want 404", code, ec)
	}
	e := newEnv(t, envOptions{api: func(c *Config) { c.AdminToken = admin }})
	p := e.signIn(t, "device", `{"device_id":"`+deviceID("gem")+`","create":true}`)
	gems := func() int64 {
		var v struct {
			Player struct {
				Base struct {
					Res map[string]int64 `json:"res"`
				} `json:"base"`
			} `json:"player"`
		}
		if code, _, _ := e.call(t, "GET", "/api/v1/player", p.Session, "", nil, &v); code != 200 {
			t.Fatalf("player: %d", code)
		}
		return v.Player.Base.Res["gems"]
	}
	before := gems()
	grant := `{"id":"ticket-4711","resources":{"gems":100},"reason":"refund"}`
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "GET", "/admin/v1/players/" + p.PlayerID, "", "", 401, "unauthorized"},
		{"wrong token", "GET", "/admin/v1/players/" + p.PlayerID, "not-the-token", "", 401, "unauthorized"},
		{"player session as token", "GET", "/admin/v1/players/" + p.PlayerID, p.Session, "", 401, "unauthorized"},
		{"player", "GET", "/admin/v1/players/" + p.PlayerID, admin, "", 200, ""},
		{"unknown account", "GET", "/admin/v1/players/u0000000000000000000000", admin, "", 404, "not_found"},
		{"bad id", "GET", "/admin/v1/players/a%20b", admin, "", 400, "bad_request"},
		{"grant", "POST", "/admin/v1/players/" + p.PlayerID + "/grant", admin, grant, 200, ""},
		{"grant again, same id", "POST", "/admin/v1/players/" + p.PlayerID + "/grant", admin, grant, 200, ""},
		{"grant unknown resource", "POST", "/admin/v1/players/" + p.PlayerID + "/grant", admin, `{"id":"g2","resources":{"mana":1}}`, 400, "bad_request"},
		{"grant negative", "POST", "/admin/v1/players/" + p.PlayerID + "/grant", admin, `{"id":"g3","resources":{"gems":-5}}`, 400, "bad_request"},
		{"grant without id", "POST", "/admin/v1/players/" + p.PlayerID + "/grant", admin, `{"resources":{"gems":5}}`, 400, "bad_request"},
		{"grant wrong type", "POST", "/admin/v1/players/" + p.PlayerID + "/grant", admin, `{"id":"g4","resources":{"gems":"5"}}`, 400, "bad_request"},
		{"grant to no account", "POST", "/admin/v1/players/u0000000000000000000000/grant", admin, `{"id":"g5","resources":{"gems":5}}`, 404, "not_found"},
		{"ban bad until", "POST", "/admin/v1/players/" + p.PlayerID + "/ban", admin, `{"until":"tomorrow"}`, 400, "bad_request"},
		{"ban unknown", "POST", "/admin/v1/players/u0000000000000000000000/ban", admin, `{"until":0}`, 404, "not_found"},
		{"unban not banned", "POST", "/admin/v1/players/" + p.PlayerID + "/unban", admin, `{}`, 200, ""},
		{"wrong method", "DELETE", "/admin/v1/players/" + p.PlayerID, admin, "", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ec, _ := e.call(t, tt.method, tt.path, tt.token, tt.body, nil, nil)
			if code != tt.status || ec != tt.code {
				t.Fatalf("got %d %q, want %d %q", code, ec, tt.status, tt.code)
			}
		})
	}
	if got := gems(); got != before+100 {
		t.Fatalf("gems after two grants with one id: %d, want %d", got, before+100)
	}
	var view struct {
		Account struct {
			PlayerID    string   `json:"player_id"`
			Credentials []string `json:"credentials"`
		} `json:"account"`
		Player json.RawMessage `json:"player"`
		Online bool            `json:"online"`
	}
	if code, _, _ := e.call(t, "GET", "/admin/v1/players/"+p.PlayerID, admin, "", nil, &view); code != 200 ||
		view.Account.PlayerID != p.PlayerID || len(view.Account.Credentials) != 1 || !view.Online || len(view.Player) == 0 {
		t.Fatalf("admin view: %d %+v", code, view)
	}
	if got, want := len(e.Analytics.kinds("admin")), len(tests)+1-1; got < want {
		t.Fatalf("admin events recorded: %d, want one per admin call (%d)", got, want)
	}
}

func TestPlayerRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{store: func(c *state.Config) { c.RateLimit, c.RateBurst = 0.5, 3 }})
	r := e.signIn(t, "device", `{"device_id":"`+deviceID("fast")+`","create":true}`)
	for i := 1; i <= 3; i++ {
		if code, ec := e.post(t, "/api/v1/actions", r.Session, fmt.Sprintf(`{"actions":[{"seq":%d,"name":"ping"}]}`, i), nil); code != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, code, ec)
		}
	}
	code, ec, resp := e.call(t, "POST", "/api/v1/actions", r.Session, `{"actions":[{"seq":4,"name":"ping"}]}`, nil, nil)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if code != 429 || ec != "rate_limited" || ra < 1 || ra > 2 {
		t.Fatalf("past the burst: %d %s Retry-After %q, want 429 rate_limited with 1-2 s", code, ec, resp.Header.Get("Retry-After"))
	}
	// One budget: the socket is refused too, then closed with 1008.
	w := e.dial(t)
	w.send(`{"type":"login","session":"` + r.Session + `"}`)
	w.expect("login_ok")
	for range wsMaxLimited {
		w.send(`{"type":"actions","actions":[{"seq":4,"name":"ping"}]}`)
	}
	limited := 0
	var err error
	for {
		var m map[string]any
		if m, err = w.tryRecv(); err != nil {
			break
		}
		if wsCode(m) != "rate_limited" {
			t.Fatalf("message past the budget answered %v, want rate_limited", m)
		}
		limited++
	}
	if closeStatus(err) != websocket.ClosePolicyViolation || limited == 0 {
		t.Fatalf("client that kept going: %d rate_limited errors then %v, want errors then close 1008", limited, err)
	}
	var v struct {
		Player struct {
			LastSeq int64 `json:"last_seq"`
		} `json:"player"`
	}
	e.Clock.Advance(time.Minute) // the game clock; the budget runs on real time
	sess, err := e.Store.Authenticate(r.Session)
	if err != nil {
		t.Fatal(err)
	}
	view, _ := e.Store.View(sess)
	json.Unmarshal([]byte(`{"player":`+string(view)+`}`), &v)
	if v.Player.LastSeq != 3 {
		t.Fatalf("last_seq %d after refused requests, want 3: nothing refused was applied", v.Player.LastSeq)
	}
}

func TestSignInLimitPerAddress(t *testing.T) {
	e := newEnv(t, envOptions{api: func(c *Config) {
		c.SignInLimiter = accounts.NewKeyedLimiter(0.001, 2, 1000, nil)
		c.TrustedProxies = nil
	}})
	body := `{"device_id":"` + deviceID("addr") + `","create":true}`
	for i := range 2 {
		if code, _ := e.post(t, "/api/v1/auth/device", "", body, nil); code != 200 {
			t.Fatalf("sign-in %d: %d", i, code)
		}
	}
	// An untrusted peer cannot buy a new budget with X-Forwarded-For.
	code, ec, resp := e.call(t, "POST", "/api/v1/auth/device", "", body, map[string]string{"X-Forwarded-For": "198.51.100.7"}, nil)
	if code != 429 || ec != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third sign-in from one address: %d %s, want 429 with Retry-After", code, ec)
	}
}

func TestClientAddr(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: mustPrefixes(t, "10.0.0.0/8", "127.0.0.1/32")}}
	tests := []struct {
		name, remote string
		header       map[string]string
		want         string
	}{
		{"direct", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer, forged header", "203.0.113.5:4000", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "203.0.113.5"},
		{"trusted proxy", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"},
		{"chain of proxies", "127.0.0.1:4000", map[string]string{"X-Forwarded-For": "1.2.3.4, 198.51.100.9, 10.0.0.7"}, "198.51.100.9"},
		{"Forwarded", "10.1.2.3:4000", map[string]string{"Forwarded": `for="[2001:db8::1]:4711";proto=https`}, "2001:db8::1"},
		{"garbage hop", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "not-an-ip"}, "10.1.2.3"},
		{"v4-mapped peer", "[::ffff:203.0.113.5]:4000", nil, "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := s.clientAddr(r); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDevDoor(t *testing.T) {
	tests := []struct {
		name   string
		open   bool
		body   string
		status int
		code   string
	}{
		{"closed", false, `{"player_id":"alice"}`, 404, "not_found"},
		{"open", true, `{"player_id":"alice"}`, 200, ""},
		{"open, account-shaped id", true, `{"player_id":"u0000000000000000000000"}`, 400, "bad_request"},
		{"open, bad id", true, `{"player_id":"a b"}`, 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{api: func(c *Config) { c.DevLogin = tt.open }})
			var r testSignIn
			code, ec := e.post(t, "/api/v1/login", "", tt.body, &r)
			if code != tt.status || ec != tt.code {
				t.Fatalf("HTTP: got %d %q, want %d %q", code, ec, tt.status, tt.code)
			}
			w := e.dial(t)
			w.send(`{"type":"login",` + strings.TrimPrefix(tt.body, "{"))
			m := w.recv()
			if got := wsCode(m); got != tt.code {
				t.Fatalf("WebSocket: got %v, want code %q", m, tt.code)
			}
			if code != 200 {
				return
			}
			// A dev session is not resumed once its player logged out.
			if code, _ := e.post(t, "/api/v1/logout", m["session"].(string), "{}", nil); code != 200 {
				t.Fatalf("logout: %d", code)
			}
			if _, m := e.wsLogin(t, m["session"].(string)); wsCode(m) != "unauthorized" {
				t.Fatalf("dev session after logout: %v, want unauthorized", m)
			}
		})
	}
}

// TestSeqBoundsOverHTTP: the store's seq rules, as a client sees them.
func TestSeqBoundsOverHTTP(t *testing.T) {
	e := newWSEnv(t)
	r := e.signIn(t, "device", `{"device_id":"`+deviceID("seq")+`","create":true}`)
	if code, _ := e.post(t, "/api/v1/actions", r.Session, `{"actions":[{"seq":10,"name":"ping"},{"seq":12,"name":"ping"}]}`, nil); code != 200 {
		t.Fatalf("seqs 10 and 12: %d", code)
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string // HTTP error code, or the action's
	}{
		{"at 2^53", fmt.Sprintf(`{"actions":[{"seq":%d,"name":"ping"}]}`, int64(1)<<53), 400, "bad_request"},
		{"more than 2^32 above", fmt.Sprintf(`{"actions":[{"seq":%d,"name":"ping"}]}`, 12+int64(1)<<32+1), 400, "bad_request"},
		{"bad one in a good batch", fmt.Sprintf(`{"actions":[{"seq":13,"name":"ping"},{"seq":%d,"name":"ping"}]}`, int64(1)<<60), 400, "bad_request"},
		{"float", `{"actions":[{"seq":11.5,"name":"ping"}]}`, 400, "bad_request"},
		{"negative", `{"actions":[{"seq":-1,"name":"ping"}]}`, 400, "bad_request"},
		{"never applied, below the last", `{"actions":[{"seq":11,"name":"ping"}]}`, 200, "out_of_order"},
		{"below the remembered window", `{"actions":[{"seq":5,"name":"ping"}]}`, 200, "stale_seq"},
		{"applied before", `{"actions":[{"seq":12,"name":"ping"}]}`, 200, ""},
		{"exactly 2^32 above", fmt.Sprintf(`{"actions":[{"seq":%d,"name":"ping"}]}`, 12+int64(1)<<32), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ar struct {
				Results []state.Reply `json:"results"`
			}
			code, ec := e.post(t, "/api/v1/actions", r.Session, tt.body, &ar)
			if code != tt.status {
				t.Fatalf("got %d %s, want %d", code, ec, tt.status)
			}
			if code != 200 {
				if ec != tt.code {
					t.Fatalf("got code %s, want %s", ec, tt.code)
				}
				return
			}
			got := ""
			if ar.Results[0].Error != nil {
				got = ar.Results[0].Error.Code
			}
			if got != tt.code {
				t.Fatalf("action result %+v, want code %q", ar.Results[0], tt.code)
			}
		})
	}
}

func mustPrefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestTicketsNotConfigured: without a studio key every ticket is a bad
// one (401), and other kinds keep their own answers (not_found).
func TestTicketsNotConfigured(t *testing.T) {
	e := newEnv(t, envOptions{accounts: func(c *accounts.Config) { c.TicketSecret = nil }})
	tests := []struct {
		name, kind, body string
		status           int
		code             string
	}{
		{"ticket", "ticket", `{"ticket":"` + ticket(testTicketSecret, "HS256", "x", time.Now().Add(time.Hour)) + `","create":true}`, 401, "bad_credentials"},
		{"unknown device", "device", `{"device_id":"` + deviceID("nobody") + `"}`, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, ec := e.post(t, "/api/v1/auth/"+tt.kind, "", tt.body, nil); code != tt.status || ec != tt.code {
				t.Fatalf("got %d %q, want %d %q", code, ec, tt.status, tt.code)
			}
		})
	}
}
