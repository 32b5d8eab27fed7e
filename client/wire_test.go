package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseResults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []Result
		version string
		wantErr bool
	}{
		{name: "one ok", in: `{"results":[{"seq":7,"ok":true,"result":{"a":[1,{"b":"}"}]}}],"gamedata_version":"x1","server_time":1}`,
			want: []Result{{Seq: 7, OK: true, Value: json.RawMessage(`{"a":[1,{"b":"}"}]}`)}}, version: "x1"},
		{name: "failure and duplicate", in: ` { "server_time" : 1 , "results" : [ {"seq":8,"ok":false,"error":{"message":"m \"q\" \u00e9","code":"nothing_to_collect"}},
			{"seq":9,"ok":true,"duplicate":true,"pending":true} ] }`,
			want: []Result{{Seq: 8, Code: "nothing_to_collect", Message: `m "q" é`}, {Seq: 9, OK: true, Duplicate: true, Pending: true}}},
		{name: "websocket message", in: `{"type":"results","results":[{"seq":12345678901,"ok":true,"error":null}]}`,
			want: []Result{{Seq: 12345678901, OK: true}}},
		{name: "unknown code", in: `{"results":[{"seq":1,"ok":false,"error":{"code":"brand_new"}}]}`,
			want: []Result{{Seq: 1, Code: "brand_new"}}},
		{name: "empty", in: `{"results":[]}`, want: nil},
		{name: "truncated", in: `{"results":[{"seq":1,"ok":tr`, wantErr: true},
		{name: "not an object", in: `[1]`, wantErr: true},
		{name: "float seq", in: `{"results":[{"seq":1.5}]}`, wantErr: true},
		{name: "trailing comma", in: `{"results":[{"seq":1},]}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vc versionCache
			in := []byte(tc.in)
			got, meta, err := parseResults(in, nil, &vc)
			version := meta.version
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if len(got) != 0 {
					t.Fatalf("got %d results with the error, want none", len(got))
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if version != tc.version {
				t.Errorf("version %q, want %q", version, tc.version)
			}
			if tc.version == "x1" && meta.serverTime != 1 {
				t.Errorf("server_time %d, want 1", meta.serverTime)
			}
			// The results must not point into the reply buffer.
			for i := range in {
				in[i] = 'X'
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("after overwriting the reply: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseResultsAppendsAndInterns(t *testing.T) {
	var vc versionCache
	dst := make([]Result, 1, 4)
	dst[0] = Result{Seq: 1, OK: true}
	in := []byte(`{"results":[{"seq":2,"ok":false,"error":{"code":"busy","message":""}}],"gamedata_version":"v"}`)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if _, _, err = parseResults(in, dst[:1], &vc); err != nil {
			t.Fatal(err)
		}
	})
	got, _, _ := parseResults(in, dst[:1], &vc)
	if len(got) != 2 || got[0].Seq != 1 || got[1].Code != "busy" {
		t.Fatalf("got %+v, want the old result then seq 2 busy", got)
	}
	if allocs != 0 {
		t.Errorf("parse into room with a known code and version: %.0f allocations, want 0", allocs)
	}
}

func TestParseLogin(t *testing.T) {
	var vc versionCache
	in := `{"session":"tok\/1","refresh":"r1","player_id":"p1","created":true,"player":{"id":"p1","last_seq":42,"base":{"res":{"gold":5}}},"gamedata_version":"g","server_time":17}`
	r, err := parseLogin([]byte(in), &vc)
	if err != nil {
		t.Fatal(err)
	}
	if r.session != "tok/1" || r.refresh != "r1" || r.playerID != "p1" || !r.created || r.lastSeq != 42 || r.version != "g" || r.serverTime != 17 {
		t.Fatalf("got %+v", r)
	}
	if string(r.player) != `{"id":"p1","last_seq":42,"base":{"res":{"gold":5}}}` {
		t.Fatalf("player %s", r.player)
	}
	// The development door and login_ok carry no player_id: the player's id is taken.
	r, err = parseLogin([]byte(`{"type":"login_ok","session":"s","player":{"last_seq":0,"id":"alice"}}`), &vc)
	if err != nil || r.playerID != "alice" || r.lastSeq != 0 {
		t.Fatalf("login_ok: got %+v, %v", r, err)
	}
	if _, err := parseLogin([]byte(`{"player":{}}`), &vc); err == nil {
		t.Fatal("a reply without a session parsed")
	}
}

func TestAppendActionsIsJSON(t *testing.T) {
	b := appendActions(nil, 7, []Action{Act("ping", ""), Act("collect", `{"building_id":"b4"}`), {Name: "odd \"name\"\n"}})
	var got []struct {
		Seq  int64           `json:"seq"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := []string{"7 ping {}", `8 collect {"building_id":"b4"}`, "9 odd \"name\"\n {}"}
	for i, g := range got {
		if s := fmt.Sprintf("%d %s %s", g.Seq, g.Name, g.Args); s != want[i] {
			t.Errorf("action %d: got %q, want %q", i, s, want[i])
		}
	}
}

func TestErrorIs(t *testing.T) {
	for _, tc := range []struct {
		status   int
		code     string
		sentinel error
	}{
		{400, "bad_request", ErrBadRequest},
		{401, "unauthorized", ErrUnauthorized},
		{401, "bad_credentials", ErrBadCredentials},
		{403, "banned", ErrBanned},
		{404, "not_found", ErrNotFound},
		{405, "method_not_allowed", ErrMethodNotAllowed},
		{409, "player_busy", ErrPlayerBusy},
		{409, "already_exists", ErrAlreadyExists},
		{413, "too_large", ErrTooLarge},
		{429, "rate_limited", ErrRateLimited},
		{503, "unavailable", ErrUnavailable},
		{500, "internal", ErrInternal},
	} {
		t.Run(tc.code, func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", &Error{Status: tc.status, Code: tc.code, Message: "m"})
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			if errors.Is(err, ErrRateLimited) != (tc.code == "rate_limited") {
				t.Errorf("errors.Is(%v, ErrRateLimited) = %v", err, !(tc.code == "rate_limited"))
			}
			if got := codeStatus(tc.code); got != tc.status {
				t.Errorf("codeStatus(%s) = %d, want %d", tc.code, got, tc.status)
			}
		})
	}
}

func TestErrReplacedIsUnauthorized(t *testing.T) {
	err := fmt.Errorf("actions 3..3: %w", ErrReplaced)
	if !errors.Is(err, ErrReplaced) || !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrClosed) {
		t.Errorf("errors.Is(%v): replaced %v unauthorized %v closed %v; want true, true, false",
			err, errors.Is(err, ErrReplaced), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrClosed))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":     0,
		"3":    3 * time.Second,
		"-1":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBackoffBounded(t *testing.T) {
	c, err := New("http://127.0.0.1:1", WithBackoff(10*time.Millisecond, 80*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for n := range 70 {
		d := c.backoffFor(n)
		want := min(10*time.Millisecond<<min(n, 20), 80*time.Millisecond)
		if d < want/2 || d > want {
			t.Errorf("backoff %d = %s, want in [%s, %s]", n, d, want/2, want)
		}
	}
}

// FuzzParseResults checks the scanner against encoding/json: whatever it
// accepts, encoding/json reads the same.
func FuzzParseResults(f *testing.F) {
	f.Add([]byte(`{"results":[{"seq":7,"ok":true,"result":{"a":[1,{"b":"}"}]}}],"gamedata_version":"x"}`))
	f.Add([]byte(`{"results":[{"seq":8,"ok":false,"error":{"code":"busy","message":"a\"b"}},{"seq":9,"ok":true,"duplicate":true}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var vc versionCache
		got, _, err := parseResults(in, nil, &vc)
		if err != nil {
			return
		}
		// Maps, not structs: encoding/json matches struct fields case-
		// insensitively, the server's keys are exact.
		var top map[string]json.RawMessage
		if !json.Valid(in) || json.Unmarshal(in, &top) != nil {
			return // the scanner is lenient; encoding/json is the validator
		}
		var want []map[string]json.RawMessage
		if json.Unmarshal(top["results"], &want) != nil || len(got) != len(want) {
			return // duplicate keys, nulls and the like: not our server's output
		}
		for i, w := range want {
			g := got[i]
			var seq int64
			var ok, dup, pending bool
			json.Unmarshal(w["seq"], &seq)
			json.Unmarshal(w["ok"], &ok)
			json.Unmarshal(w["duplicate"], &dup)
			json.Unmarshal(w["pending"], &pending)
			if g.Seq != seq || g.OK != ok || g.Duplicate != dup || g.Pending != pending {
				t.Fatalf("result %d: got %+v, want %s", i, g, in)
			}
			var e map[string]json.RawMessage
			if json.Unmarshal(w["error"], &e) == nil && e != nil {
				var code, msg string
				json.Unmarshal(e["code"], &code)
				json.Unmarshal(e["message"], &msg)
				if g.Code != code || g.Message != msg {
					t.Fatalf("result %d error: got %q %q, want %q %q", i, g.Code, g.Message, code, msg)
				}
			}
		}
	})
}
