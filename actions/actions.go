package actions

import (
	"encoding/json"
	"time"

	"rampart/gamedata"
)

// CONTRACT STUB: the full rules replace this; Base, New, Apply, Error and
// Names keep their meaning and signatures.

// Base is a player's game state: resources, buildings, units, queues.
type Base struct {
	Resources map[string]int64 `json:"resources,omitempty"`
}

// New returns a new player's base from the game data's initial state.
func New(gd *gamedata.Bundle, now time.Time) Base { return Base{} }

// Error is a game-rule failure with a stable code.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// PingResult is ping's reply.
type PingResult struct{}

// Apply runs the action called name on b. On failure it returns an *Error
// and b is unchanged. The result is JSON-encodable.
func Apply(b *Base, gd *gamedata.Bundle, now time.Time, name string, args json.RawMessage) (any, error) {
	switch name {
	case "ping":
		return PingResult{}, nil
	}
	return nil, &Error{Code: "unknown_action", Message: "no action called " + name}
}

// Names lists every action Apply knows.
func Names() []string { return []string{"ping"} }
