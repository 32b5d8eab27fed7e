package loadtest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"rampart/actions"
	"rampart/client"
	"rampart/gamedata"
)

// TestPredictAtTheServersMoment checks that a batch is redone at the
// moment the reply's server_time names. A collect's amount is the same
// over many milliseconds of a wide window, but the base it leaves (the
// harvester's collection time) is not: the window's end, adopted without
// that moment, was a base the server never had, and a later collect came
// out one off ("divergences" in loaded runs).
func TestPredictAtTheServersMoment(t *testing.T) {
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	start := time.UnixMilli(1_800_000_000_000)
	base := actions.New(gd, start)
	mine := ""
	for _, b := range base.Buildings {
		if b.Type == "gold_mine" {
			mine = b.ID
		}
	}
	if mine == "" {
		t.Fatal("the starting base has no gold mine")
	}
	acts := []client.Action{{Name: "collect", Args: json.RawMessage(`{"building_id":"` + mine + `"}`)}}
	t0 := start.Add(2 * time.Hour)
	t1 := t0.Add(3 * time.Second) // a loaded server: a 3-s round trip
	tests := []struct {
		name      string
		at        int64 // the reply's server_time
		wantExact bool  // the adopted base is the server's
	}{
		{"the moment given, early in the window", t0.UnixMilli() + 250, true},
		{"the moment given, late in the window", t1.UnixMilli() - 40, true},
		{"no moment (an older server): a base of some matching moment", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			truth := time.UnixMilli(tt.at)
			if tt.at == 0 {
				truth = t0.Add(250 * time.Millisecond)
			}
			server := world{gd: gd, self: "p", base: base.Clone(), known: true}
			want, _, out := server.run(acts, 1, truth.UnixMilli())
			if !out[0].ok {
				t.Fatalf("collect at the server: %s", out[0])
			}
			res := []client.Result{{Seq: 1, OK: true, Value: out[0].value}}

			w := world{gd: gd, self: "p", base: base.Clone(), known: true, clocked: true}
			ok, _, _ := w.predict(acts, res, 1, tt.at, t0, t1)
			if !ok {
				t.Fatalf("predict: no moment in the window reproduces %s", out[0])
			}
			if exact := reflect.DeepEqual(w.base, want); exact != tt.wantExact {
				t.Errorf("adopted base is the server's: %v, want %v", exact, tt.wantExact)
			}
			if tt.wantExact && w.skew != 0 {
				t.Errorf("skew after an exact moment: %d ms, want 0", w.skew)
			}
		})
	}
}
