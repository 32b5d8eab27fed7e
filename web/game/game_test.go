package game

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesClient(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, path, wantType, wantBody string
		wantStatus                     int
	}{
		{"page at root", "/", "text/html", `<script type="module" src="/game/js/main.js">`, http.StatusOK},
		{"module", "/game/js/main.js", "text/javascript", "import { Net } from './net.js'", http.StatusOK},
		{"network module", "/game/js/net.js", "text/javascript", "export class Net", http.StatusOK},
		{"stylesheet", "/game/style.css", "text/css", "#hud", http.StatusOK},
		{"missing file", "/game/js/nope.js", "text/plain", "404", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.wantType)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("GET %s: body does not contain %q:\n%.300s", tc.path, tc.wantBody, body)
			}
		})
	}
}
