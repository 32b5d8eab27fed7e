package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"rampart/internal/testenv"
)

// TestPlayerBusyAcrossLoneServers: two servers without a cluster (no
// --cluster-addr, each with its own data dir and embedded MongoDB) share
// one S3. While the first holds nora's lease, a sign-in on the second
// answers 409 player_busy with the error body of API.md and leaves her
// session on the first live; once the first logs her out (releasing the
// lease), the second signs her in with her saved progress.
func TestPlayerBusyAcrossLoneServers(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	shared := []string{"--s3-endpoint", s3.Endpoint, "--s3-access-key", s3.AccessKey, "--s3-secret-key-file", secretFile(t, s3.SecretKey)}
	a := startServer(t, t.TempDir(), shared...)
	b := startServer(t, t.TempDir(), shared...)

	lr := loginAs(t, a.URL, "nora")
	if code := call(t, "POST", a.URL+"/api/v1/actions", lr.Session, pings(1, 2), nil); code != 200 {
		t.Fatalf("pings on the first server: %d", code)
	}

	resp, err := http.Post(b.URL+"/api/v1/auth/device", "application/json",
		strings.NewReader(`{"device_id":"`+deviceID("nora")+`","create":true}`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("sign-in on the second server while the first holds the lease: %d %s, want 409", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("409 Content-Type %q, want application/json", ct)
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(data, &body); err != nil || len(body) != 1 || len(body["error"]) != 2 ||
		body["error"]["code"] != "player_busy" || body["error"]["message"] == "" {
		t.Errorf("409 body %s (%v), want exactly {\"error\": {\"code\": \"player_busy\", \"message\": \"...\"}}", data, err)
	}
	if code := call(t, "GET", a.URL+"/api/v1/player", lr.Session, "", nil); code != 200 {
		t.Errorf("nora's session on the first server after the refused sign-in: %d, want 200", code)
	}

	if code := call(t, "POST", a.URL+"/api/v1/logout", lr.Session, "", nil); code != 200 {
		t.Fatalf("logout on the first server: %d", code)
	}
	if got := loginAs(t, b.URL, "nora"); got.Player.LastSeq != 2 {
		t.Errorf("sign-in on the second server after the logout: last_seq %d, want 2 (the first server's pings)", got.Player.LastSeq)
	}
}
