package testenv

import (
	"net/http"
	"testing"
	"time"
)

func TestStartRampartServesAndStops(t *testing.T) {
	p := StartRampart(t, nil)
	resp, err := http.Get(p.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: got %d, want 200", resp.StatusCode)
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Stderr())
	}
}
