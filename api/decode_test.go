package api

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeActions(t *testing.T) {
	tests := []struct {
		name string
		body string
		n    int
		ok   bool
	}{
		{"one", `{"actions":[{"seq":1,"name":"ping","args":{}}]}`, 1, true},
		{"two no args", `{"actions":[{"seq":1,"name":"ping"},{"seq":5,"name":"collect"}]}`, 2, true},
		{"unknown fields allowed", `{"actions":[{"seq":1,"name":"ping","x":1}],"y":2}`, 1, true},
		{"empty body", ``, 0, false},
		{"array body", `[]`, 0, false},
		{"no actions", `{}`, 0, false},
		{"seq string", `{"actions":[{"seq":"1","name":"ping"}]}`, 0, false},
		{"seq float", `{"actions":[{"seq":1.5,"name":"ping"}]}`, 0, false},
		{"seq negative", `{"actions":[{"seq":-1,"name":"ping"}]}`, 0, false},
		{"no name", `{"actions":[{"seq":1}]}`, 0, false},
		{"seq not increasing", `{"actions":[{"seq":2,"name":"ping"},{"seq":2,"name":"ping"}]}`, 0, false},
		{"too many", `{"actions":[` + strings.Repeat(`{"seq":1,"name":"p"},`, MaxBatch) + `{"seq":1,"name":"p"}]}`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeActions([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("got err %v, want ok=%v", err, tt.ok)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Status != 400) {
				t.Fatalf("error %v is not a 400", err)
			}
			if len(got) != tt.n {
				t.Fatalf("got %d actions, want %d", len(got), tt.n)
			}
		})
	}
}

func TestDecodeLogin(t *testing.T) {
	tests := []struct {
		name, body, id string
		ok             bool
	}{
		{"valid", `{"player_id":"alice"}`, "alice", true},
		{"resume", `{"session":"x.y.z.w"}`, "", true},
		{"bad id", `{"player_id":"../etc"}`, "", false},
		{"id too long", `{"player_id":"` + strings.Repeat("a", 65) + `"}`, "", false},
		{"wrong type", `{"player_id":["a"]}`, "", false},
		{"missing", `{"ticket":"t"}`, "", false},
		{"null", `null`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := decodeLogin([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("got err %v, want ok=%v", err, tt.ok)
			}
			if req.PlayerID != tt.id && tt.ok {
				t.Fatalf("got id %q, want %q", req.PlayerID, tt.id)
			}
		})
	}
}

// The decoders never panic, and whatever they accept satisfies the
// contract the store relies on.
func FuzzDecodeActions(f *testing.F) {
	f.Add([]byte(`{"actions":[{"seq":1,"name":"ping","args":{}}]}`))
	f.Add([]byte(`{"actions":[{"seq":9007199254740993,"name":"build","args":{"type":"farm","x":1,"y":2}}]}`))
	f.Add([]byte(`{"actions":[{"seq":1,"name":"a"},{"seq":1,"name":"b"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		batch, err := decodeActions(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if len(batch) == 0 || len(batch) > MaxBatch {
			t.Fatalf("accepted a batch of %d", len(batch))
		}
		for i, a := range batch {
			if a.Seq <= 0 || a.Name == "" || (i > 0 && a.Seq <= batch[i-1].Seq) {
				t.Fatalf("accepted invalid action %d: %+v", i, a)
			}
		}
	})
}

func FuzzDecodeLogin(f *testing.F) {
	f.Add([]byte(`{"player_id":"alice"}`))
	f.Add([]byte(`{"player_id":"a","ticket":"t","session":"s"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeLogin(body)
		if err != nil {
			return
		}
		if req.PlayerID == "" && req.Session == "" {
			t.Fatalf("accepted a login with neither player nor session: %q", body)
		}
		if req.PlayerID != "" && !validIDForTest(req.PlayerID) {
			t.Fatalf("accepted invalid player id %q", req.PlayerID)
		}
	})
}

func validIDForTest(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
