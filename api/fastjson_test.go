package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"rampart/actions"
	"rampart/state"
)

// Bodies as rampart loadtest and the browser client send them.
var typicalBodies = []string{
	`{"actions":[{"seq":1,"name":"ping","args":{}}]}`,
	`{"actions":[{"seq":41,"name":"collect","args":{"building_id":"b12"}},{"seq":42,"name":"upgrade","args":{"building_id":"b3"}}]}`,
	`{"actions":[{"seq":7,"name":"build","args":{"type":"farm","x":12,"y":-3}}]}`,
	`{"actions":[{"seq":9007199254740991,"name":"attack","args":{"opponent_id":"uAbC-_0123456789abcdefgh","units":{"knight":[1,2.5e3,-0.25]},"ok":true,"none":null}}]}`,
	" {\r\n\t\"actions\" : [ { \"name\" : \"ping\" , \"seq\" : 3 } ] } ",
	`{"actions":[{"seq":2,"name":"buy_item","args":"\u00e9\"\\\/\b\f\n\r\t"}]}`,
	`{"actions":[{"args":{"building_id":"b3"},"name":"upgrade","seq":8}],"type":"actions"}`, // the browser's socket
}

func TestParseActionsTakesTheCommonShape(t *testing.T) {
	tests := []struct {
		name string
		body string
		fast bool // the hand decoder takes it (else encoding/json decides)
	}{
		{"ping", typicalBodies[0], true},
		{"two", typicalBodies[1], true},
		{"negative number in args", typicalBodies[2], true},
		{"nested args", typicalBodies[3], true},
		{"whitespace, keys in another order, no args", typicalBodies[4], true},
		{"escapes in args", typicalBodies[5], true},
		{"empty batch", `{"actions":[]}`, true},
		{"a WebSocket message, type first", `{"type":"actions","actions":[{"seq":1,"name":"ping"}]}`, true},
		{"a WebSocket message, type last", `{"actions":[{"args":{},"name":"ping","seq":1}],"type":"actions"}`, true},
		{"type twice", `{"type":"actions","type":"actions","actions":[]}`, false},
		{"actions twice", `{"actions":[],"actions":[{"seq":1,"name":"ping"}]}`, false},
		{"type alone", `{"type":"actions"}`, false},
		{"type not a string", `{"type":1,"actions":[]}`, false},
		{"empty action", `{"actions":[{}]}`, true},
		{"key in capitals", `{"actions":[{"SEQ":1,"name":"ping"}]}`, false},
		{"unknown key", `{"actions":[{"seq":1,"name":"ping","x":1}]}`, false},
		{"another top-level key", `{"actions":[{"seq":1,"name":"ping"}],"y":2}`, false},
		{"duplicate key", `{"actions":[{"seq":1,"seq":2,"name":"ping"}]}`, false},
		{"escape in the name", `{"actions":[{"seq":1,"name":"p\u0069ng"}]}`, false},
		{"seq with a fraction", `{"actions":[{"seq":1.0,"name":"ping"}]}`, false},
		{"seq past int64", `{"actions":[{"seq":9223372036854775808,"name":"ping"}]}`, false},
		{"seq with a leading zero", `{"actions":[{"seq":01,"name":"ping"}]}`, false},
		{"null action", `{"actions":[null]}`, false},
		{"args not JSON", `{"actions":[{"seq":1,"name":"ping","args":{x}}]}`, false},
		{"args number cut short", `{"actions":[{"seq":1,"name":"ping","args":1.}]}`, false},
		{"bad escape in args", `{"actions":[{"seq":1,"name":"ping","args":"\x"}]}`, false},
		{"control byte in args", "{\"actions\":[{\"seq\":1,\"name\":\"ping\",\"args\":\"\x01\"}]}", false},
		{"trailing garbage", `{"actions":[]}x`, false},
		{"trailing comma", `{"actions":[{"seq":1,"name":"ping"},]}`, false},
		{"too many", `{"actions":[` + repeatAction(MaxBatch+1) + `]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, fast := parseActions(bytes.TrimSpace([]byte(tt.body)))
			if fast != tt.fast {
				t.Errorf("parseActions took it: %v, want %v", fast, tt.fast)
			}
			checkSameAsEncodingJSON(t, []byte(tt.body))
		})
	}
}

func repeatAction(n int) string {
	var b []byte
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":1,"name":"p"}`...)
	}
	return string(b)
}

// checkSameAsEncodingJSON fails if parseActions takes body and answers
// anything but what encoding/json decodes from it.
func checkSameAsEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	typ, got, fast := parseActions(bytes.TrimSpace(body))
	if !fast {
		return
	}
	var want struct {
		actionsRequest
		wsMessage
	}
	if err := unmarshal(body, &want); err != nil {
		t.Fatalf("parseActions took %q, which encoding/json refuses: %v", body, err)
	}
	if typ != want.Type {
		t.Fatalf("%q: type %q, encoding/json %q", body, typ, want.Type)
	}
	if len(got) != len(want.Actions) {
		t.Fatalf("%q: %d actions, encoding/json %d", body, len(got), len(want.Actions))
	}
	for i, a := range got {
		w := want.Actions[i]
		if a.Seq != w.Seq || a.Name != w.Name || !bytes.Equal(a.Args, w.Args) || (a.Args == nil) != (w.Args == nil) {
			t.Fatalf("%q: action %d is %+v, encoding/json %+v", body, i, a, w)
		}
	}
}

// Whatever the hand decoder takes, encoding/json decodes the same way.
func FuzzActionsFastPath(f *testing.F) {
	for _, b := range typicalBodies {
		f.Add([]byte(b))
	}
	f.Add([]byte(`{"actions":[{"seq":-0,"name":"","args":[[],{},"",0,-0.0e+1]}]}`))
	f.Add([]byte(`{"actions":[{"seq":1,"name":"a","args":"\ud800\udc00\uZZZZ"}]}`))
	f.Add([]byte("{\"actions\":[{\"seq\":1,\"name\":\"a\",\"args\":\"\xff\xfe\"}]}"))
	f.Add([]byte(`{"actions":[{"seq":1,"name":"a","args":null},{"seq":2,"name":"b","args":true}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameAsEncodingJSON(t, body)
	})
}

func TestActionsReplyTakesTheCommonShape(t *testing.T) {
	tests := []struct {
		name  string
		reply actionsReply
		fast  bool
	}{
		{"applied", actionsReply{Results: []state.Reply{{Seq: 4, OK: true, Result: json.RawMessage(`{"gold":120,"built":["b1"]}`)}},
			GamedataVersion: "a1b2c3", ServerTime: 1764633600000}, true},
		{"refused", actionsReply{Results: []state.Reply{{Seq: 5, Error: &actions.Error{Code: actions.CodeBadArgs, Message: `unknown building "b9"`}}},
			GamedataVersion: "a1b2c3", ServerTime: 1}, true},
		{"duplicate and pending, over the socket", actionsReply{Type: "results", Results: []state.Reply{{Seq: 1, OK: true, Duplicate: true}, {Seq: 2, OK: true, Pending: true}}}, true},
		{"no results", actionsReply{}, true},
		{"empty results", actionsReply{Results: []state.Reply{}}, true},
		{"html in a message", actionsReply{Results: []state.Reply{{Seq: 1, Error: &actions.Error{Code: "x", Message: "<b>&é\u2028"}}}}, true},
		{"result with spaces", actionsReply{Results: []state.Reply{{Seq: 1, Result: json.RawMessage(`{"a": 1}`)}}}, false},
		{"result with html", actionsReply{Results: []state.Reply{{Seq: 1, Result: json.RawMessage(`"<b>"`)}}}, false},
		{"result with U+2026 and U+2029", actionsReply{Results: []state.Reply{{Seq: 1, Result: json.RawMessage("\"\u2026\u2029\"")}}}, false},
		{"result with U+2026 and U+20AC", actionsReply{Results: []state.Reply{{Seq: 1, Result: json.RawMessage("\"\u2026\u20ac\"")}}}, true},
		{"result not JSON", actionsReply{Results: []state.Reply{{Seq: 1, Result: json.RawMessage(`{`)}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fast := appendActionsReply(nil, &tt.reply)
			if fast != tt.fast {
				t.Errorf("appendActionsReply took it: %v, want %v", fast, tt.fast)
			}
			checkReplySameAsEncodingJSON(t, tt.reply)
		})
	}
}

// checkReplySameAsEncodingJSON fails if marshal's bytes for r differ from
// json.Marshal's, or if one of them fails and the other does not.
func checkReplySameAsEncodingJSON(t *testing.T, r actionsReply) {
	t.Helper()
	got, gerr := marshal(r)
	want, werr := json.Marshal(r)
	if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("marshal(%+v) = %s, %v; json.Marshal %s, %v", r, got, gerr, want, werr)
	}
}

// The hand encoder writes json.Marshal's bytes, whatever the reply holds.
func FuzzActionsReplyFastPath(f *testing.F) {
	f.Add("results", "v1", int64(3), true, false, true, []byte(`{"gold":1}`), "bad_args", "no such building", uint8(2), true)
	f.Add("", "", int64(-1), false, true, false, []byte(`[1, 2]`), "", "<&>\u2028\u2029\xff\x00", uint8(1), true)
	f.Add("\"", "\\", int64(0), false, false, false, []byte("\"\xe2\x80\xa8\""), "\t", "\n", uint8(3), false)
	f.Fuzz(func(t *testing.T, typ, version string, seq int64, ok, dup, pending bool, result []byte, code, msg string, n uint8, withErr bool) {
		r := actionsReply{Type: typ, GamedataVersion: version, ServerTime: seq * 3}
		if n > 0 {
			r.Results = make([]state.Reply, n%4)
		}
		for i := range r.Results {
			r.Results[i] = state.Reply{Seq: seq + int64(i), OK: ok, Duplicate: dup, Pending: pending != (i%2 == 1), Result: result}
			if withErr && i%2 == 0 {
				r.Results[i].Error = &actions.Error{Code: code, Message: msg}
			}
		}
		checkReplySameAsEncodingJSON(t, r)
	})
}

func BenchmarkDecodeActions(b *testing.B) {
	body := []byte(typicalBodies[1])
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeActions(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req actionsRequest
			if err := unmarshal(body, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeActionsReply(b *testing.B) {
	r := actionsReply{Results: []state.Reply{
		{Seq: 41, OK: true, Result: json.RawMessage(`{"collected":{"gold":120,"elixir":0},"resources":{"gold":5120,"elixir":830,"gems":25}}`)},
		{Seq: 42, OK: true, Result: json.RawMessage(`{"building":{"id":"b3","type":"farm","level":3,"busy_until":1764633660000}}`)},
	}, GamedataVersion: "2f0c6a9d41e7", ServerTime: 1764633600000}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// checkWSMessageSameAsSlowPath fails unless decodeWSMessage answers orig as
// the two-pass path does (decodeWSType, then decodeActions of a copy),
// leaves the buffer it reads as it was, and returns actions that hold no
// byte of it. orig itself is not written (a fuzzer's input must not be).
func checkWSMessageSameAsSlowPath(t *testing.T, orig []byte) {
	t.Helper()
	data := bytes.Clone(orig) // the pooled read buffer
	typ, acts, err := decodeWSMessage(data)
	if !bytes.Equal(data, orig) {
		t.Fatalf("%q: decodeWSMessage wrote its input: %q", orig, data)
	}
	wantTyp, wantErr := decodeWSType(orig)
	if typ != wantTyp || !sameError(err, wantErr) {
		t.Fatalf("%q: type %q, error %v; the slow path %q, %v", orig, typ, err, wantTyp, wantErr)
	}
	if acts == nil {
		return
	}
	if typ != "actions" {
		t.Fatalf("%q: actions decoded for a %q message", orig, typ)
	}
	for i := range data {
		data[i] = 'X' // the pooled buffer, reused by the next message
	}
	got, gerr := checkActions(acts)
	want, werr := decodeActions(bytes.Clone(orig))
	if !sameError(gerr, werr) || len(got) != len(want) {
		t.Fatalf("%q: %d actions, error %v; the slow path %d, %v", orig, len(got), gerr, len(want), werr)
	}
	for i, a := range got {
		w := want[i]
		if a.Seq != w.Seq || a.Name != w.Name || !bytes.Equal(a.Args, w.Args) || (a.Args == nil) != (w.Args == nil) {
			t.Fatalf("%q: action %d is %+v, the slow path %+v", orig, i, a, w)
		}
	}
}

// sameError says whether two decoding errors would reach a client alike:
// both nil, or the same status, code, message and Retry-After.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var ea, eb *Error
	if !errors.As(a, &ea) || !errors.As(b, &eb) {
		return a.Error() == b.Error()
	}
	return *ea == *eb
}

// wsMessages are socket messages and whether decodeWSMessage decodes
// their actions in its one pass (else decodeWSType and the old path).
var wsMessages = []struct {
	name string
	data string
	acts bool
}{
	{"the browser's actions", typicalBodies[6], true},
	{"type first", `{"type":"actions","actions":[{"seq":1,"name":"ping","args":{}}]}`, true},
	{"empty batch", `{"type":"actions","actions":[]}`, true},
	{"bad seq", `{"type":"actions","actions":[{"seq":0,"name":"ping"}]}`, true},
	{"actions under another type", `{"type":"ping","actions":[{"seq":1,"name":"ping"}]}`, false},
	{"no type", `{"actions":[{"seq":1,"name":"ping"}]}`, false},
	{"empty type", `{"type":"","actions":[{"seq":1,"name":"ping"}]}`, false},
	{"escaped type", `{"type":"act\u0069ons","actions":[{"seq":1,"name":"ping"}]}`, false},
	{"another key", `{"type":"actions","actions":[],"x":1}`, false},
	{"ping", `{"type":"ping"}`, false},
	{"login", `{"type":"login","session":"s"}`, false},
	{"not an object", `["actions"]`, false},
	{"invalid", `{"type":"actions","actions":[`, false},
}

func TestDecodeWSMessage(t *testing.T) {
	for _, tt := range wsMessages {
		t.Run(tt.name, func(t *testing.T) {
			_, acts, _ := decodeWSMessage([]byte(tt.data))
			if (acts != nil) != tt.acts {
				t.Errorf("actions decoded: %v, want %v", acts != nil, tt.acts)
			}
			checkWSMessageSameAsSlowPath(t, []byte(tt.data))
		})
	}
}

// Whatever decodeWSMessage answers, the two-pass path answers too.
func FuzzDecodeWSMessage(f *testing.F) {
	for _, b := range typicalBodies {
		f.Add([]byte(b))
		if b != typicalBodies[6] { // the same bodies as socket messages
			f.Add([]byte(`{"type":"actions",` + strings.TrimPrefix(strings.TrimSpace(b), "{")))
		}
	}
	for _, tt := range wsMessages {
		f.Add([]byte(tt.data))
	}
	for _, m := range []string{
		`{"Type":"actions","ACTIONS":[{"seq":1,"name":"ping"}]}`,
		"\v{\"type\":\"actions\",\"actions\":[{\"seq\":1,\"name\":\"ping\"}]}\u2028",
		"{\"type\":\"act\xc3\xa9\",\"actions\":[]}",
		"{\"type\":\"a\x01\",\"actions\":[]}",
		`{"actions":[{"seq":2,"name":"b"},{"seq":1,"name":"a"}],"type":"actions"}`,
	} {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkWSMessageSameAsSlowPath(t, data)
	})
}

// BenchmarkDecodeWSActions: an actions message over the socket, in one pass
// against the type by encoding/json and then the actions by hand.
func BenchmarkDecodeWSActions(b *testing.B) {
	data := []byte(`{"type":"actions","actions":[{"seq":41,"name":"collect","args":{"building_id":"b12"}},{"seq":42,"name":"upgrade","args":{"building_id":"b3"}}]}`)
	b.Run("one_pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			typ, acts, err := decodeWSMessage(data)
			if err != nil || typ != "actions" {
				b.Fatal(typ, err)
			}
			if _, err := checkActions(acts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("two_pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			typ, err := decodeWSType(data)
			if err != nil || typ != "actions" {
				b.Fatal(typ, err)
			}
			if _, err := decodeActions(bytes.Clone(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
