package loadtest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseResults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []result
		wantErr bool
	}{
		{name: "one ok", in: `{"results":[{"seq":7,"ok":true,"result":{"a":[1,{"b":"}"}]}}],"gamedata_version":"x","server_time":1}`,
			want: []result{{seq: 7, ok: true, raw: []byte(`{"a":[1,{"b":"}"}]}`)}}},
		{name: "failure and duplicate", in: ` { "server_time" : 1 , "results" : [ {"seq":8,"ok":false,"error":{"message":"m \"q\"","code":"nothing_to_collect"}},
			{"seq":9,"ok":true,"duplicate":true,"pending":true} ] }`,
			want: []result{{seq: 8, code: []byte("nothing_to_collect")}, {seq: 9, ok: true, duplicate: true, pending: true}}},
		{name: "websocket message", in: `{"type":"results","results":[{"seq":12345678901,"ok":true,"error":null}]}`,
			want: []result{{seq: 12345678901, ok: true}}},
		{name: "empty", in: `{"results":[]}`, want: nil},
		{name: "truncated", in: `{"results":[{"seq":1,"ok":tr`, wantErr: true},
		{name: "not an object", in: `[1]`, wantErr: true},
		{name: "float seq", in: `{"results":[{"seq":1.5}]}`, wantErr: true},
		{name: "trailing comma", in: `{"results":[{"seq":1},]}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResults([]byte(tc.in), nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d results, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.seq != w.seq || g.ok != w.ok || g.duplicate != w.duplicate || g.pending != w.pending ||
					string(g.code) != string(w.code) || string(g.raw) != string(w.raw) {
					t.Errorf("result %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestParseErrorAndField(t *testing.T) {
	body := []byte(`{"error": {"code": "rate_limited", "message": "slow down"}}`)
	if got := string(parseError(body)); got != "rate_limited" {
		t.Errorf("parseError: got %q, want rate_limited", got)
	}
	if got := parseError([]byte("<html>")); got != nil {
		t.Errorf("parseError of HTML: got %q, want nil", got)
	}
	login := []byte(`{"session":"tok-1","player":{"id":"a","last_seq":42,"base":{"resources":{"gold":5}}},"server_time":1}`)
	if got := string(unquote(field(login, "session"))); got != "tok-1" {
		t.Errorf("session: got %q", got)
	}
	snap, err := parseSnapshot(login)
	if err != nil || snap.lastSeq != 42 {
		t.Errorf("parseSnapshot: got %d, %v; want 42", snap.lastSeq, err)
	}
	if _, err := parseSnapshot([]byte(`{"player":{"id":"a"}}`)); err == nil {
		t.Error("parseSnapshot without last_seq: want an error")
	}
}

func TestAppendActionIsJSON(t *testing.T) {
	b := appendAction(nil, 3, "we\"ird\n", []byte(`{"x":1}`))
	b = appendAction(append(b, ','), 4, "ping", nil)
	var got []struct {
		Seq  int64           `json:"seq"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(append(append([]byte("["), b...), ']'), &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got[0].Name != "we\"ird\n" || got[0].Seq != 3 || string(got[1].Args) != "{}" {
		t.Errorf("got %+v", got)
	}
}

// FuzzParseResults checks the scanner never panics and agrees with
// encoding/json on documents both accept.
func FuzzParseResults(f *testing.F) {
	f.Add([]byte(`{"results":[{"seq":7,"ok":true,"result":{}}]}`))
	f.Add([]byte(`{"results":[{"seq":8,"ok":false,"error":{"code":"x","message":"y"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseResults(b, nil)
		if err != nil {
			return
		}
		var want struct {
			Results []struct {
				Seq int64 `json:"seq"`
				OK  bool  `json:"ok"`
			} `json:"results"`
		}
		if json.Unmarshal(b, &want) != nil {
			return
		}
		// encoding/json matches keys case-insensitively, decodes escapes
		// in keys and keeps the last of repeated keys; servers write each
		// key once, exactly, so those inputs prove nothing.
		s, lower := string(b), strings.ToLower(string(b))
		for _, k := range []string{`"seq"`, `"ok"`, `"results"`} {
			if strings.Count(s, k) != strings.Count(lower, k) {
				return
			}
		}
		if strings.Contains(s, `\`) || strings.Count(s, `"results"`) > 1 {
			return
		}
		if len(got) != len(want.Results) {
			t.Fatalf("%s: got %d results, encoding/json %d", b, len(got), len(want.Results))
		}
		for i := range got {
			if got[i].seq != want.Results[i].Seq || got[i].ok != want.Results[i].OK {
				t.Fatalf("%s: result %d got %+v, encoding/json %+v", b, i, got[i], want.Results[i])
			}
		}
	})
}

func BenchmarkParseResults(b *testing.B) {
	body := []byte(`{"results":[{"seq":7,"ok":true,"result":{}},{"seq":8,"ok":false,"error":{"code":"nothing_to_collect","message":"nothing yet"}}],"gamedata_version":"3f2a9c","server_time":1767225600000}`)
	var out []result
	b.ReportAllocs()
	for b.Loop() {
		out, _ = parseResults(body, out)
	}
}

func BenchmarkAppendActions(b *testing.B) {
	var buf []byte
	args := []byte(`{"building_id":"b3"}`)
	b.ReportAllocs()
	for b.Loop() {
		buf = append(buf[:0], `{"actions":[`...)
		buf = appendAction(buf, 123456, "upgrade_building", args)
		buf = append(buf, "]}"...)
	}
}
