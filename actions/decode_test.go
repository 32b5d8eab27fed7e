package actions

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"rampart/internal/testenv/fixture"
)

// FuzzBaseUnmarshal: Base.UnmarshalJSON gives exactly what encoding/json
// gives, for any input, whether called by json.Unmarshal (which validates
// first) or directly. Beyond the seeds below, testdata/fuzz has what the
// fast path must hand back to encoding/json: escapes, bad UTF-8, folded
// key case, nulls, number spellings, overflow, truncation.
func FuzzBaseUnmarshal(f *testing.F) {
	gd := bundle(f)
	mid := MidGame(gd, t0)
	CatchUp(&mid, gd, t0.Add(time.Hour))
	for _, b := range []Base{New(gd, t0), MidGame(gd, t0), mid, {}} {
		data, _ := json.Marshal(&b)
		f.Add(data)
		indented, _ := json.MarshalIndent(&b, "", "\t")
		f.Add(indented)
	}
	for _, s := range []string{
		`null`, `{}`, `[]`, `{"res":null}`, `{"RES":{"gold":1}}`, `{"res":{"gold":1.0}}`, `{"res":{"gold":1e2}}`,
		`{"bld":[{"id":"b1","t":"wall","lv":1},]}`, `{"bld":[{"id":"b\u0031"}]}`, `{"gd":"x","gd":"y"}`,
		`{"trophies":-9223372036854775808}`, `{"trophies":9223372036854775808}`, `{"trophies":01}`,
		`{"army":{"a":1,"a":2}}`, `{"bld":[{"q":[]}],"boosts":[]}`, `{"next_id":1} x`, `{"extra":[1,{"a":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want plainBase
		wantErr := json.Unmarshal(data, &want)

		var got Base
		err := json.Unmarshal(data, &got)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("json.Unmarshal: error %v, encoding/json %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, Base(want)) {
			t.Fatalf("json.Unmarshal:\ngot  %#v\nwant %#v", got, want)
		}

		var direct Base
		err = direct.UnmarshalJSON(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("UnmarshalJSON: error %v, encoding/json %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(direct, Base(want)) {
			t.Fatalf("UnmarshalJSON:\ngot  %#v\nwant %#v", direct, want)
		}
	})
}

func TestBaseRoundTrip(t *testing.T) {
	gd := bundle(t)
	for _, b := range []Base{New(gd, t0), MidGame(gd, t0)} {
		data := encode(t, &b)
		var fast Base
		d := decoder{data: data}
		if !d.base(&fast) || !d.end() {
			t.Fatal("canonical encoding left the fast path")
		}
		if !reflect.DeepEqual(fast, b) {
			t.Fatalf("round trip:\ngot  %+v\nwant %+v", fast, b)
		}
	}
}

// FuzzDecodeArgs: DecodeArgs gives what encoding/json gives, accepting
// and rejecting alike (seeds in testdata/fuzz: duplicates, overflow,
// exponents, bad UTF-8, folded case, wrong types, trailing bytes).
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range fixture.NewPlayerScript() {
		f.Add([]byte(s.Args))
	}
	for _, s := range []string{``, `null`, ` null `, `{"x":null}`, `{"X":1}`, `{"x":1,"x":2}`, `{"count":1.5}`, `{"kind":"\u0041"}`, `{"type":"é"}`, `{"x":-0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeArgs(data)
		want := NewArgs()
		var wantErr error
		if len(data) > 0 && string(data) != "null" {
			wantErr = json.Unmarshal(data, &want)
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("error %v, encoding/json %v", err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}
