package actions

import (
	"encoding/json"
	"testing"
	"time"

	"rampart/internal/testenv/fixture"
)

// FuzzApply throws arbitrary action names, argument bytes and delays at a
// mid-game base. Whatever comes in: no panic, a failure is an *Error with a
// known code that changed nothing (apply checks both), a success keeps
// every invariant and never creates premium currency. The seed corpus is
// in testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	gd := bundle(f)
	base := MidGame(gd, t0)
	for _, s := range fixture.NewPlayerScript() {
		f.Add(s.Name, []byte(s.Args), int64(0))
	}
	f.Fuzz(func(t *testing.T, name string, args []byte, gap int64) {
		b := base.Clone()
		now := t0.Add(time.Duration(gap%(30*24*3600)) * time.Second)
		gems := b.Res["gems"]
		apply(t, &b, gd, now, name, string(args))
		if b.Res["gems"] > gems {
			t.Fatalf("premium currency created: %d → %d", gems, b.Res["gems"])
		}
		checkInvariants(t, &b, gd)
		if _, err := json.Marshal(&b); err != nil {
			t.Fatal(err)
		}
	})
}
