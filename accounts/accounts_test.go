package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/accounts"
)

var ctx = context.Background()

const (
	device1 = "device-0123456789abcdef"
	device2 = "device-fedcba9876543210"
	email1  = "alice@example.com"
	pw1     = "correct horse battery"
)

func ticket(sub string) string {
	return jws(map[string]string{"alg": "HS256", "typ": "JWT"}, map[string]any{"sub": sub, "exp": ticketNow.Add(time.Hour).Unix()}, hs256(ticketSecret))
}

func TestSignInPerKind(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		cases := []struct {
			name  string
			cred  accounts.Credential
			again accounts.Credential // the same credential, spelled differently
			kind  string
		}{
			{"device", accounts.Credential{DeviceID: device1}, accounts.Credential{DeviceID: device1}, "device"},
			{"email", accounts.Credential{Email: email1, Password: pw1}, accounts.Credential{Email: "Alice@EXAMPLE.com", Password: pw1}, "email"},
			{"ticket", accounts.Credential{Ticket: ticket("studio-user-1")}, accounts.Credential{Ticket: ticket("studio-user-1")}, "ticket"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := a.SignIn(ctx, c.cred, false)
				wantCode(t, err, "not_found")
				g := mustSignIn(t, a, c.cred, true)
				if !g.Created || !accounts.ValidPlayerID(g.PlayerID) {
					t.Fatalf("got created %v, id %q; want a new account id", g.Created, g.PlayerID)
				}
				for _, create := range []bool{false, true} {
					g2 := mustSignIn(t, a, c.again, create)
					if g2.Created || g2.PlayerID != g.PlayerID {
						t.Errorf("create=%v again: got %q created %v, want %q created false", create, g2.PlayerID, g2.Created, g.PlayerID)
					}
				}
				claims, err := a.Verify(g.Session)
				if err != nil || claims.Player != g.PlayerID || claims != g.Claims {
					t.Errorf("verify session: got %+v, %v; want %+v", claims, err, g.Claims)
				}
				info, err := a.Account(ctx, g.PlayerID)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(info.Credentials, []string{c.kind}) || info.PlayerID != g.PlayerID || info.Created != e.clock.Now().UnixMilli() {
					t.Errorf("account: got %+v", info)
				}
			})
		}
	})
}

func TestSignInEdDSATicket(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t, func(c *accounts.Config) { c.TicketSecret, c.TicketPublicKey = nil, edPublic })
		tk := jws(map[string]string{"alg": "EdDSA"}, map[string]any{"sub": "u1", "exp": ticketNow.Add(time.Hour).Unix()}, eddsa)
		g := mustSignIn(t, a, accounts.Credential{Ticket: tk}, true)
		if !g.Created {
			t.Fatal("not created")
		}
		_, err := a.SignIn(ctx, accounts.Credential{Ticket: ticket("u1")}, true) // HS256 to an EdDSA server
		wantCode(t, err, "bad_credentials")
		b := e.open(t, func(c *accounts.Config) { c.TicketSecret = nil })
		_, err = b.SignIn(ctx, accounts.Credential{Ticket: tk}, true)
		if !errors.Is(err, accounts.ErrTicketsDisabled) {
			t.Errorf("no ticket key: got %v, want ErrTicketsDisabled", err)
		}
	})
}

func TestWrongPassword(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		mustSignIn(t, a, accounts.Credential{Email: email1, Password: pw1}, true)
		for _, create := range []bool{false, true} {
			_, err := a.SignIn(ctx, accounts.Credential{Email: email1, Password: "wrong password"}, create)
			wantCode(t, err, "bad_credentials")
		}
	})
}

// Many sign-ins creating one credential at once, on several Accounts (as
// on several servers): one account, and every caller in it.
func TestConcurrentCreateMakesOneAccount(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		servers := []*accounts.Accounts{e.open(t), e.open(t), e.open(t)}
		for kind, cred := range map[string]accounts.Credential{
			"device": {DeviceID: device1},
			"email":  {Email: email1, Password: pw1},
			"ticket": {Ticket: ticket("studio-user-1")},
		} {
			t.Run(kind, func(t *testing.T) {
				const n = 12
				grants := make([]accounts.Grant, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						grants[i], errs[i] = servers[i%len(servers)].SignIn(ctx, cred, true)
					})
				}
				close(start)
				wg.Wait()
				created := 0
				for i := range n {
					if errs[i] != nil {
						t.Fatalf("sign-in %d: %v", i, errs[i])
					}
					if grants[i].PlayerID != grants[0].PlayerID {
						t.Errorf("sign-in %d: got player %s, want %s", i, grants[i].PlayerID, grants[0].PlayerID)
					}
					if grants[i].Created {
						created++
					}
				}
				if created != 1 {
					t.Errorf("got %d sign-ins that created the account, want 1", created)
				}
			})
		}
	})
}

func TestLink(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		alice := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, true).PlayerID
		bob := mustSignIn(t, a, accounts.Credential{DeviceID: device2}, true).PlayerID

		steps := []struct {
			name   string
			player string
			cred   accounts.Credential
			code   string // "" for success
		}{
			{"email", alice, accounts.Credential{Email: email1, Password: pw1}, ""},
			{"the same email again", alice, accounts.Credential{Email: email1, Password: pw1}, ""},
			{"ticket", alice, accounts.Credential{Ticket: ticket("studio-user-1")}, ""},
			{"a second device", alice, accounts.Credential{DeviceID: "device-second-of-alice"}, ""},
			{"the same device again", alice, accounts.Credential{DeviceID: device1}, ""},
			{"alice's email to bob", bob, accounts.Credential{Email: "ALICE@example.com", Password: "bob's password"}, "already_exists"},
			{"alice's device to bob", bob, accounts.Credential{DeviceID: device1}, "already_exists"},
			{"alice's ticket to bob", bob, accounts.Credential{Ticket: ticket("studio-user-1")}, "already_exists"},
			{"a second email", alice, accounts.Credential{Email: "alice2@example.com", Password: pw1}, "already_exists"},
			{"no such account", "uAAAAAAAAAAAAAAAAAAAAAA", accounts.Credential{DeviceID: "device-of-nobody-at-all"}, "not_found"},
			{"bad device", alice, accounts.Credential{DeviceID: "short"}, "bad_request"},
			{"bad ticket", alice, accounts.Credential{Ticket: "x.y.z"}, "bad_credentials"},
		}
		for _, s := range steps {
			err := a.Link(ctx, s.player, s.cred)
			if s.code == "" {
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("%s: succeeded, want %s", s.name, s.code)
			}
			wantCode(t, err, s.code)
		}
		for _, c := range []accounts.Credential{
			{Email: email1, Password: pw1},
			{Ticket: ticket("studio-user-1")},
			{DeviceID: "device-second-of-alice"},
		} {
			if g := mustSignIn(t, a, c, false); g.PlayerID != alice {
				t.Errorf("sign in with linked %+v: got %s, want %s", c, g.PlayerID, alice)
			}
		}
		info, err := a.Account(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"device", "email", "ticket"}; !slices.Equal(info.Credentials, want) {
			t.Errorf("credentials: got %v, want %v", info.Credentials, want)
		}
		shown, _ := json.Marshal(info)
		for _, secret := range []string{device1, "argon2", "alice@", "studio-user-1", "cred/", `"gen"`} {
			if strings.Contains(string(shown), secret) {
				t.Errorf("account view %s shows %q", shown, secret)
			}
		}
		info, _ = a.Account(ctx, bob)
		if want := []string{"device"}; !slices.Equal(info.Credentials, want) {
			t.Errorf("bob's credentials: got %v, want %v", info.Credentials, want)
		}
	})
}

func TestLockout(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		good := accounts.Credential{Email: email1, Password: pw1}
		bad := accounts.Credential{Email: email1, Password: "not the password"}
		id := mustSignIn(t, a, good, true).PlayerID
		if err := a.Link(ctx, id, accounts.Credential{DeviceID: device1}); err != nil {
			t.Fatal(err)
		}

		// Failures older than the window do not count.
		for range accounts.MaxFailures - 1 {
			_, err := a.SignIn(ctx, bad, false)
			wantCode(t, err, "bad_credentials")
		}
		e.clock.Advance(accounts.FailWindow + time.Second)
		for range accounts.MaxFailures - 1 {
			_, err := a.SignIn(ctx, bad, false)
			wantCode(t, err, "bad_credentials")
		}
		mustSignIn(t, a, good, false) // a success clears the count
		for range accounts.MaxFailures - 1 {
			_, err := a.SignIn(ctx, bad, false)
			wantCode(t, err, "bad_credentials")
		}
		e.clock.Advance(time.Minute)

		// The fifth in the window locks, whatever the password.
		_, err := a.SignIn(ctx, bad, false)
		wantCode(t, err, "bad_credentials")
		for _, c := range []accounts.Credential{good, bad} {
			for _, srv := range []*accounts.Accounts{a, e.open(t)} { // and a restarted or second server
				_, err := srv.SignIn(ctx, c, false)
				if ae := wantCode(t, err, "rate_limited"); ae.RetryAfter != accounts.LockFor {
					t.Errorf("retry after: got %s, want %s", ae.RetryAfter, accounts.LockFor)
				}
			}
		}
		// Other credentials still work.
		if g := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, false); g.PlayerID != id {
			t.Errorf("device: got %s, want %s", g.PlayerID, id)
		}
		e.clock.Advance(accounts.LockFor - time.Minute)
		_, err = a.SignIn(ctx, good, false)
		if ae := wantCode(t, err, "rate_limited"); ae.RetryAfter != time.Minute {
			t.Errorf("retry after: got %s, want 1m", ae.RetryAfter)
		}
		e.clock.Advance(time.Minute)
		mustSignIn(t, e.open(t), good, false)
	})
}

// Failures counted on several servers at once all land: the fifth locks.
func TestLockoutConcurrent(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a, b := e.open(t), e.open(t)
		good := accounts.Credential{Email: email1, Password: pw1}
		mustSignIn(t, a, good, true)
		var wg sync.WaitGroup
		for i := range accounts.MaxFailures {
			wg.Go(func() {
				_, err := []*accounts.Accounts{a, b}[i%2].SignIn(ctx, accounts.Credential{Email: email1, Password: "wrong password"}, false)
				if !errors.Is(err, accounts.ErrBadCredentials) {
					t.Errorf("wrong password %d: got %v, want bad_credentials", i, err)
				}
			})
		}
		wg.Wait()
		_, err := a.SignIn(ctx, good, false)
		wantCode(t, err, "rate_limited")
	})
}

// TestRefresh: Refresh checks the token's signature, expiry, account,
// ban and generation, and hands state the family's next counter to check
// against the player's family (Rotation). A sign-in starts a new family
// without writing the account.
func TestRefresh(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		g0 := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, true)
		id := g0.PlayerID
		if r := g0.Rotation; r.Family == "" || r.Counter != 0 || r.Refresh || r.Legacy {
			t.Fatalf("a sign-up's rotation: %+v, want a new family at 0", r)
		}
		writes := e.blobs.writes.Load()
		g1 := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, false)
		if n := e.blobs.writes.Load() - writes; n != 0 {
			t.Errorf("a device sign-in wrote %d S3 objects, want 0 (the family goes with the player)", n)
		}
		if g1.Rotation.Family == g0.Rotation.Family || g1.Rotation.Counter != 0 || g1.Rotation.Refresh {
			t.Errorf("a second sign-in's rotation: %+v, want a new family at 0 (the first's was %q)", g1.Rotation, g0.Rotation.Family)
		}

		_, err := a.Refresh(ctx, g1.Session) // a session is not a refresh token
		wantCode(t, err, "unauthorized")
		if _, err := a.Verify(g1.Refresh); !errors.Is(err, accounts.ErrUnauthorized) {
			t.Errorf("a refresh token verified as a session: %v", err)
		}
		writes = e.blobs.writes.Load()
		g2, err := e.open(t).Refresh(ctx, g1.Refresh) // any server
		if err != nil {
			t.Fatal(err)
		}
		want := accounts.Rotation{Family: g1.Rotation.Family, Counter: 1, Refresh: true}
		if g2.PlayerID != id || g2.Claims.Gen != g1.Claims.Gen || g2.Session == g1.Session || g2.Refresh == g1.Refresh || g2.Rotation != want {
			t.Fatalf("refresh: got %+v, want rotation %+v", g2, want)
		}
		if n := e.blobs.writes.Load() - writes; n != 0 {
			t.Errorf("a refresh wrote %d S3 objects, want 0", n)
		}
		if _, err := a.Verify(g2.Session); err != nil {
			t.Fatal(err)
		}
		// A spent token passes here with the same rotation: that it is
		// spent is state's to see, in the player's family.
		again, err := a.Refresh(ctx, g1.Refresh)
		if err != nil || again.Rotation != want {
			t.Errorf("the spent token again: %+v, %v; want rotation %+v for state to refuse", again.Rotation, err, want)
		}

		// A revocation (logout; state's reuse check calls it) ends every
		// token of the account.
		gen, err := a.Revoke(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if gen != g0.Claims.Gen+1 {
			t.Errorf("generation after a revocation: got %d, want %d", gen, g0.Claims.Gen+1)
		}
		_, err = a.Refresh(ctx, g2.Refresh)
		wantCode(t, err, "unauthorized")
		c, err := a.Verify(g2.Session) // no I/O: state's generation check ends it
		if err != nil || c.Gen >= gen {
			t.Errorf("verify after the revocation: got %+v, %v; want claims behind generation %d", c, err, gen)
		}
		g3 := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, false)
		if g3.Claims.Gen != gen {
			t.Errorf("sign-in generation: got %d, want %d", g3.Claims.Gen, gen)
		}

		// A ban answers banned.
		if _, err := a.Ban(ctx, id, time.Time{}, "test"); err != nil {
			t.Fatal(err)
		}
		_, err = a.Refresh(ctx, g3.Refresh)
		wantCode(t, err, "banned")
		if err := a.Unban(ctx, id); err != nil {
			t.Fatal(err)
		}

		// Expiry.
		g5 := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, false)
		e.clock.Advance(accounts.DefaultSessionTTL)
		_, err = a.Verify(g5.Session)
		wantCode(t, err, "unauthorized")
		e.clock.Advance(accounts.DefaultRefreshTTL - accounts.DefaultSessionTTL)
		_, err = a.Refresh(ctx, g5.Refresh)
		wantCode(t, err, "unauthorized")
	})
}

// TestRefreshLegacyFamily: an account written by an earlier version holds
// its family and unspent counter; a token of that family at that counter
// is marked Legacy (state takes it while the player holds no family)
// until the account forgets the family: ForgetLegacy (after state took
// it), a sign-in or a revocation.
func TestRefreshLegacyFamily(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		g := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, true)
		key := "accounts/" + g.PlayerID
		setLegacy := func() {
			t.Helper()
			data, etag, err := e.blobs.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatal(err)
			}
			rec["family"], rec["counter"] = "fam-legacy", 2
			if data, err = json.Marshal(rec); err != nil {
				t.Fatal(err)
			}
			if _, err := e.blobs.Replace(ctx, key, data, etag); err != nil {
				t.Fatal(err)
			}
		}
		exp := e.clock.Now().Add(time.Hour)
		gen := g.Claims.Gen
		refresh := func(family string, counter uint64) accounts.Rotation {
			t.Helper()
			got, err := a.Refresh(ctx, a.SignRefreshForTest(g.PlayerID, gen, family, counter, exp))
			if err != nil {
				t.Fatalf("refresh %s at %d: %v", family, counter, err)
			}
			return got.Rotation
		}
		setLegacy()
		for _, tt := range []struct {
			name    string
			family  string
			counter uint64
			legacy  bool
		}{
			{"spent under the earlier version", "fam-legacy", 1, false},
			{"ahead", "fam-legacy", 3, false},
			{"another family", "fam-other", 2, false},
			{"the unspent one", "fam-legacy", 2, true},
			{"the unspent one again: refresh writes nothing", "fam-legacy", 2, true},
		} {
			want := accounts.Rotation{Family: tt.family, Counter: tt.counter + 1, Refresh: true, Legacy: tt.legacy}
			if got := refresh(tt.family, tt.counter); got != want {
				t.Errorf("%s: rotation %+v, want %+v", tt.name, got, want)
			}
		}
		if err := a.ForgetLegacy(ctx, g.PlayerID, "fam-other"); err != nil {
			t.Fatal(err)
		}
		if got := refresh("fam-legacy", 2); !got.Legacy {
			t.Errorf("legacy family after forgetting another: %+v, want kept", got)
		}
		for _, forget := range []struct {
			name string
			do   func()
		}{
			{"ForgetLegacy", func() {
				if err := a.ForgetLegacy(ctx, g.PlayerID, "fam-legacy"); err != nil {
					t.Fatal(err)
				}
			}},
			{"a sign-in", func() { mustSignIn(t, a, accounts.Credential{DeviceID: device1}, false) }},
			{"a revocation", func() {
				var err error
				if gen, err = a.Revoke(ctx, g.PlayerID); err != nil {
					t.Fatal(err)
				}
			}},
		} {
			setLegacy()
			forget.do()
			if got := refresh("fam-legacy", 2); got.Legacy {
				t.Errorf("legacy family after %s: %+v, want forgotten", forget.name, got)
			}
		}
	})
}

// A write whose reply is lost lands anyway; the retry meets it with 412
// and must know it for our own, not a rival's: else a refresh would look
// like a reuse and revoke the player.
func TestLostReplies(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		e.blobs.loseNext.Store(2) // the account and the credential
		g := mustSignIn(t, a, accounts.Credential{DeviceID: device1}, true)
		if !g.Created {
			t.Fatal("not created")
		}
		e.blobs.loseNext.Store(1)
		if err := a.Link(ctx, g.PlayerID, accounts.Credential{DeviceID: device2}); err != nil {
			t.Fatalf("link with a lost reply: %v", err)
		}
		if g2 := mustSignIn(t, a, accounts.Credential{DeviceID: device2}, false); g2.PlayerID != g.PlayerID {
			t.Errorf("linked device: got %s, want %s", g2.PlayerID, g.PlayerID)
		}
	})
}

func TestRevokeBanUnban(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		dev := accounts.Credential{DeviceID: device1}
		g := mustSignIn(t, a, dev, true)
		id := g.PlayerID

		gen, err := a.Revoke(ctx, id)
		if err != nil || gen != g.Claims.Gen+1 {
			t.Fatalf("revoke: got %d, %v; want %d", gen, err, g.Claims.Gen+1)
		}
		_, err = e.open(t).Refresh(ctx, g.Refresh)
		wantCode(t, err, "unauthorized")
		if info, _ := e.open(t).Account(ctx, id); info.Gen != gen {
			t.Errorf("generation after a restart: got %d, want %d", info.Gen, gen)
		}

		g = mustSignIn(t, a, dev, false)
		until := e.clock.Now().Add(time.Hour)
		if gen, err = a.Ban(ctx, id, until, "cheating"); err != nil || gen != g.Claims.Gen+1 {
			t.Fatalf("ban: got %d, %v", gen, err)
		}
		_, err = a.SignIn(ctx, dev, false)
		if ae := wantCode(t, err, "banned"); !ae.Until.Equal(until) || !strings.Contains(ae.Message, until.Format(time.RFC3339)) {
			t.Errorf("banned: got until %s, message %q; want %s", ae.Until, ae.Message, until)
		}
		_, err = a.Refresh(ctx, g.Refresh)
		wantCode(t, err, "banned")
		info, _ := a.Account(ctx, id)
		if info.Ban == nil || info.Ban.Reason != "cheating" || info.Ban.Until != until.UnixMilli() {
			t.Errorf("account ban: got %+v", info.Ban)
		}
		e.clock.Advance(time.Hour) // the ban runs out
		mustSignIn(t, a, dev, false)

		if _, err := a.Ban(ctx, id, time.Time{}, "for ever"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(100 * 365 * 24 * time.Hour)
		_, err = a.SignIn(ctx, dev, false)
		if ae := wantCode(t, err, "banned"); !ae.Until.IsZero() || !strings.Contains(ae.Message, "for ever") {
			t.Errorf("banned for ever: got %+v", ae)
		}
		if err := a.Unban(ctx, id); err != nil {
			t.Fatal(err)
		}
		mustSignIn(t, a, dev, false)

		for _, f := range []func() error{
			func() error { _, err := a.Revoke(ctx, "uAAAAAAAAAAAAAAAAAAAAAA"); return err },
			func() error { _, err := a.Ban(ctx, "alice", time.Time{}, ""); return err },
			func() error { return a.Unban(ctx, "uAAAAAAAAAAAAAAAAAAAAAA") },
			func() error { _, err := a.Account(ctx, "uAAAAAAAAAAAAAAAAAAAAAA"); return err },
		} {
			wantCode(t, f(), "not_found")
		}
	})
}

// Every bad input is refused with its code and writes nothing.
func TestBadInput(t *testing.T) {
	eachS3(t, func(t *testing.T, e *env) {
		a := e.open(t)
		mustSignIn(t, a, accounts.Credential{Email: email1, Password: pw1}, true)
		cases := []struct {
			name string
			cred accounts.Credential
			code string
		}{
			{"nothing", accounts.Credential{}, "bad_request"},
			{"two kinds", accounts.Credential{DeviceID: device1, Ticket: ticket("u")}, "bad_request"},
			{"device short", accounts.Credential{DeviceID: "0123456789abcde"}, "bad_request"},
			{"device long", accounts.Credential{DeviceID: strings.Repeat("a", 129)}, "bad_request"},
			{"device with a dot", accounts.Credential{DeviceID: "device.0123456789abcdef"}, "bad_request"},
			{"device with a space", accounts.Credential{DeviceID: "device 0123456789abcdef"}, "bad_request"},
			{"device non-ascii", accounts.Credential{DeviceID: "device-0123456789abcdé"}, "bad_request"},
			{"password without email", accounts.Credential{Password: pw1}, "bad_request"},
			{"email without password", accounts.Credential{Email: email1}, "bad_request"},
			{"email not an address", accounts.Credential{Email: "alice", Password: pw1}, "bad_request"},
			{"email with a name", accounts.Credential{Email: "Alice <alice@example.com>", Password: pw1}, "bad_request"},
			{"email in brackets", accounts.Credential{Email: "<alice@example.com>", Password: pw1}, "bad_request"},
			{"two emails", accounts.Credential{Email: "alice@example.com, bob@example.com", Password: pw1}, "bad_request"},
			{"email with a comment", accounts.Credential{Email: "alice@example.com (me)", Password: pw1}, "bad_request"},
			{"email with spaces", accounts.Credential{Email: " alice@example.com ", Password: pw1}, "bad_request"},
			{"email quoted local", accounts.Credential{Email: `"alice"@example.com`, Password: pw1}, "bad_request"},
			{"email no domain dot", accounts.Credential{Email: "alice@localhost", Password: pw1}, "bad_request"},
			{"email ip domain", accounts.Credential{Email: "alice@[127.0.0.1]", Password: pw1}, "bad_request"},
			{"email cyrillic a", accounts.Credential{Email: "аlice@example.com", Password: pw1}, "bad_request"},
			{"email fullwidth", accounts.Credential{Email: "ａlice@example.com", Password: pw1}, "bad_request"},
			{"email unicode domain", accounts.Credential{Email: "alice@exаmple.com", Password: pw1}, "bad_request"},
			{"email too long", accounts.Credential{Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", Password: pw1}, "bad_request"},
			{"email local too long", accounts.Credential{Email: strings.Repeat("a", 65) + "@example.com", Password: pw1}, "bad_request"},
			{"email label dash", accounts.Credential{Email: "alice@-example.com", Password: pw1}, "bad_request"},
			{"email double dot", accounts.Credential{Email: "al..ice@example.com", Password: pw1}, "bad_request"},
			{"email nul", accounts.Credential{Email: "alice\x00@example.com", Password: pw1}, "bad_request"},
			{"password empty", accounts.Credential{Email: email1, Password: ""}, "bad_request"},
			{"password short", accounts.Credential{Email: email1, Password: "1234567"}, "bad_request"},
			{"password short in runes", accounts.Credential{Email: email1, Password: "ééé"}, "bad_request"},
			{"password long", accounts.Credential{Email: email1, Password: strings.Repeat("p", 129)}, "bad_request"},
			{"password not utf-8", accounts.Credential{Email: email1, Password: "\xff\xfe12345678"}, "bad_request"},
			{"ticket garbage", accounts.Credential{Ticket: "garbage"}, "bad_credentials"},
			{"ticket alg none", accounts.Credential{Ticket: jws(map[string]string{"alg": "none"}, map[string]any{"sub": "u", "exp": ticketNow.Add(time.Hour).Unix()}, noSig)}, "bad_credentials"},
			{"ticket wrong alg", accounts.Credential{Ticket: jws(map[string]string{"alg": "EdDSA"}, map[string]any{"sub": "u", "exp": ticketNow.Add(time.Hour).Unix()}, eddsa)}, "bad_credentials"},
			{"ticket bad sig", accounts.Credential{Ticket: jws(map[string]string{"alg": "HS256"}, map[string]any{"sub": "u", "exp": ticketNow.Add(time.Hour).Unix()}, hs256([]byte("not-the-ticket-secret-not-the-32")))}, "bad_credentials"},
			{"ticket expired", accounts.Credential{Ticket: jws(map[string]string{"alg": "HS256"}, map[string]any{"sub": "u", "exp": ticketNow.Add(-time.Hour).Unix()}, hs256(ticketSecret))}, "bad_credentials"},
			{"ticket future", accounts.Credential{Ticket: jws(map[string]string{"alg": "HS256"}, map[string]any{"sub": "u", "exp": ticketNow.Add(2 * time.Hour).Unix(), "nbf": ticketNow.Add(time.Hour).Unix()}, hs256(ticketSecret))}, "bad_credentials"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := e.blobs.writes.Load()
				for _, create := range []bool{false, true} {
					_, err := a.SignIn(ctx, c.cred, create)
					wantCode(t, err, c.code)
				}
				if n := e.blobs.writes.Load() - before; n != 0 {
					t.Errorf("got %d writes, want none", n)
				}
			})
		}
		// Accepted spellings name the same account.
		for _, s := range []string{"ALICE@example.com", "alice@EXAMPLE.COM"} {
			mustSignIn(t, a, accounts.Credential{Email: s, Password: pw1}, false)
		}
	})
}

func TestVerify(t *testing.T) {
	a, err := accounts.New(accounts.Config{TokenKey: tokenKey, Now: func() time.Time { return ticketNow }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.DevSession("alice")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := a.Verify(g.Session); err != nil || c.Player != "alice" || c.Gen != 0 {
		t.Fatalf("dev session: got %+v, %v", c, err)
	}
	other, _ := accounts.New(accounts.Config{TokenKey: []byte("another-key-another-key-another-"), Now: func() time.Time { return ticketNow }}, nil, nil)
	tok := g.Session
	for name, bad := range map[string]string{
		"empty":          "",
		"garbage":        "garbage",
		"other key":      func() string { g, _ := other.DevSession("alice"); return g.Session }(),
		"flipped player": strings.Replace(tok, "alice", "alicf", 1),
		"flipped mac":    tok[:len(tok)-1] + map[bool]string{true: "B", false: "A"}[tok[len(tok)-1] == 'A'],
		"truncated":      tok[:len(tok)-1],
		"extended":       tok + "A",
		"a refresh kind": "r" + tok[1:],
	} {
		if _, err := a.Verify(bad); !errors.Is(err, accounts.ErrUnauthorized) {
			t.Errorf("%s: got %v, want unauthorized", name, err)
		}
	}
	for _, id := range []string{"", "uAAAAAAAAAAAAAAAAAAAAAA", "a.b", strings.Repeat("a", 65)} {
		_, err := a.DevSession(id)
		wantCode(t, err, "bad_request")
	}
}

func FuzzVerifyToken(f *testing.F) {
	a, err := accounts.New(accounts.Config{TokenKey: tokenKey, Now: func() time.Time { return ticketNow }}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	g, _ := a.DevSession("alice")
	f.Add(g.Session)
	f.Add("s1.alice.0.sid.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("r1.....")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := a.Verify(tok)
		if err != nil {
			if !errors.Is(err, accounts.ErrUnauthorized) {
				t.Fatalf("got %v, want unauthorized", err)
			}
			return
		}
		if c.Player == "" || c.Session == "" || c.Expires <= ticketNow.UnixMilli() {
			t.Fatalf("accepted %q as %+v", tok, c)
		}
	})
}
