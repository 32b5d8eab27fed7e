package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"rampart/accounts"
)

// BenchmarkSignIn is one sign-in over HTTP on loopback against the
// embedded S3, per kind of credential, with the production password
// hash (argon2id m=19456 KiB, t=2): the wall time of the request, with
// p50 and p99. Every sign-in after the first finds the account and the
// player (in memory: a sign-in replaces the session).
func BenchmarkSignIn(b *testing.B) {
	exp := time.Now().Add(24 * time.Hour)
	kinds := []struct {
		name, kind string
		body       func(i int) string
		fresh      bool // a new account every time
	}{
		{"device", "device", func(int) string { return `{"device_id":"` + deviceID("bench") + `","create":true}` }, false},
		{"device-create", "device", func(i int) string {
			return fmt.Sprintf(`{"device_id":"%s","create":true}`, deviceID(fmt.Sprint("new", i)))
		}, true},
		{"email", "email", func(int) string { return `{"email":"bench@example.com","password":"benchmark password","create":true}` }, false},
		{"ticket", "ticket", func(int) string {
			return `{"ticket":"` + ticket(testTicketSecret, "HS256", "bench-user", exp) + `","create":true}`
		}, false},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			e := newEnv(b, envOptions{accounts: func(c *accounts.Config) { c.PasswordMemoryKiB, c.PasswordPasses = 0, 0 }})
			e.signIn(b, k.kind, k.body(-1))
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			var took []time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				resp, err := client.Post(e.URL+"/api/v1/auth/"+k.kind, "application/json", strings.NewReader(k.body(i)))
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("sign-in %d: %d", i, resp.StatusCode)
				}
				took = append(took, time.Since(t0))
				i++
			}
			slices.Sort(took)
			at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / 1e6 }
			b.ReportMetric(at(0.5), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}
