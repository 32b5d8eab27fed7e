package gamedata

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// CONTRACT STUB: the full implementation (source files, validation,
// compile, content) replaces this; Bundle.Version, Parse, Embedded and
// Holder keep their meaning.

//go:embed bundle.json
var embedded []byte

// Bundle is one compiled, validated version of the game data.
type Bundle struct {
	Version string `json:"version"`

	raw []byte
}

// Raw is the compiled bundle as served to clients.
func (b *Bundle) Raw() []byte { return b.raw }

// Parse decodes and validates a compiled bundle.
func Parse(data []byte) (*Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parse game data bundle: %w", err)
	}
	if b.Version == "" {
		return nil, fmt.Errorf("parse game data bundle: no version")
	}
	b.raw = data
	return &b, nil
}

// Embedded returns the bundle compiled into the binary.
func Embedded() (*Bundle, error) { return Parse(embedded) }

// Holder holds the current bundle; Swap replaces it atomically, and callers
// that already hold the old pointer finish on it.
type Holder struct{ p atomic.Pointer[Bundle] }

// NewHolder returns a holder serving b.
func NewHolder(b *Bundle) *Holder {
	h := &Holder{}
	h.p.Store(b)
	return h
}

// Current is the bundle new work starts on.
func (h *Holder) Current() *Bundle { return h.p.Load() }

// Swap installs b and returns the bundle it replaced.
func (h *Holder) Swap(b *Bundle) *Bundle { return h.p.Swap(b) }
