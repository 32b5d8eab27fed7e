package state

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodePlayer(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr error
		seq     int64
	}{
		{"current schema", `{"schema":1,"id":"a","last_seq":5,"base":{}}`, nil, 5},
		{"before schema field", `{"id":"a","last_seq":3,"base":{}}`, nil, 3},
		{"newer schema", `{"schema":99,"id":"a"}`, ErrNewerSchema, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodePlayer([]byte(tt.doc))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got err %v, want %v", err, tt.wantErr)
			}
			if err == nil && (p.LastSeq != tt.seq || p.Schema != Schema) {
				t.Fatalf("got seq %d schema %d, want %d %d", p.LastSeq, p.Schema, tt.seq, Schema)
			}
		})
	}
	if _, err := decodePlayer([]byte(`{not json`)); err == nil {
		t.Fatal("corrupt document decoded without error")
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"alice", true}, {"A_b-9", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false}, {"a b", false}, {"a/b", false}, {"é", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.ok {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.ok)
		}
	}
}
