package api

import (
	"encoding/json"
	"strconv"

	"rampart/state"
)

// The actions route is most of the server's requests, and encoding/json's
// reflection was a tenth of the server's CPU at 25,000 players (9.5 µs to
// decode a batch, 4 µs to encode its reply). The two functions here do
// the common shape by hand and hand anything else back to encoding/json,
// so the answers (and the errors) stay encoding/json's: FuzzActionsFastPath,
// FuzzActionsReplyFastPath and FuzzDecodeWSMessage check that both ways
// agree on every input.

// maxFastDepth bounds the nesting skipValue follows (inside an action's
// args, or a reply's result); deeper goes to encoding/json (which allows
// 10,000).
const maxFastDepth = 64

// parseActions decodes b, a trimmed body, when it is exactly
// {"actions":[{"seq":<int>,"name":"<printable ASCII>","args":<any JSON>},…]}
// with the keys spelled so, each at most once, and JSON whitespace anywhere
// between tokens; a WebSocket message's "type" (a string without escapes)
// may stand before or after "actions": typ is it ("" when absent), which
// the actions route ignores as encoding/json ignores it and the socket
// reads as decodeWSType would. ok false says nothing about b: it is
// simply not that shape (another key, a key spelled otherwise, an escape
// in a name, a number that is not a plain int64, invalid JSON), and
// encoding/json decides.
// The actions' Args slice b: the caller must not reuse b while they live.
func parseActions(b []byte) (typ string, acts []state.Action, ok bool) {
	i := ws(b, 0)
	if !lit(b, i, '{') {
		return "", nil, false
	}
	i = ws(b, i+1)
	var seenType bool
	for {
		switch {
		case key(b, i, "type") && !seenType:
			seenType = true
			i = ws(b, i+len(`"type"`))
			if !lit(b, i, ':') {
				return "", nil, false
			}
			if typ, i, ok = parsePlainString(b, ws(b, i+1)); !ok {
				return "", nil, false
			}
		case key(b, i, "actions") && acts == nil:
			i = ws(b, i+len(`"actions"`))
			if !lit(b, i, ':') {
				return "", nil, false
			}
			if acts, i, ok = parseActionList(b, ws(b, i+1)); !ok {
				return "", nil, false
			}
		default:
			return "", nil, false
		}
		i = ws(b, i)
		if lit(b, i, ',') {
			i = ws(b, i+1)
			continue
		}
		if !lit(b, i, '}') || acts == nil || ws(b, i+1) != len(b) {
			return "", nil, false
		}
		return typ, acts, true
	}
}

// parseActionList decodes the array of actions at b[i:] (never nil when
// ok), answering the index after its closing bracket.
func parseActionList(b []byte, i int) ([]state.Action, int, bool) {
	if !lit(b, i, '[') {
		return nil, 0, false
	}
	i = ws(b, i+1)
	acts := make([]state.Action, 0, 4)
	if lit(b, i, ']') {
		return acts, i + 1, true
	}
	for {
		var a state.Action
		var ok bool
		if i, ok = parseAction(b, i, &a); !ok {
			return nil, 0, false
		}
		acts = append(acts, a)
		if len(acts) > MaxBatch { // refused anyway: let the slow path say so
			return nil, 0, false
		}
		i = ws(b, i)
		if lit(b, i, ',') {
			i = ws(b, i+1)
			continue
		}
		if !lit(b, i, ']') {
			return nil, 0, false
		}
		return acts, i + 1, true
	}
}

// parseAction decodes one action object at b[i:], answering the index
// after its closing brace.
func parseAction(b []byte, i int, a *state.Action) (int, bool) {
	if !lit(b, i, '{') {
		return 0, false
	}
	i = ws(b, i+1)
	if lit(b, i, '}') {
		return i + 1, true
	}
	var seen [3]bool
	for {
		var field int
		switch {
		case key(b, i, "seq"):
			field, i = 0, i+len(`"seq"`)
		case key(b, i, "name"):
			field, i = 1, i+len(`"name"`)
		case key(b, i, "args"):
			field, i = 2, i+len(`"args"`)
		default:
			return 0, false
		}
		if seen[field] { // encoding/json keeps the last; leave that to it
			return 0, false
		}
		seen[field] = true
		i = ws(b, i)
		if !lit(b, i, ':') {
			return 0, false
		}
		i = ws(b, i+1)
		var ok bool
		switch field {
		case 0:
			a.Seq, i, ok = parseInt(b, i)
		case 1:
			a.Name, i, ok = parsePlainString(b, i)
		case 2:
			start := i
			if i, ok = skipValue(b, i, 0); ok {
				a.Args = json.RawMessage(b[start:i:i])
			}
		}
		if !ok {
			return 0, false
		}
		i = ws(b, i)
		if lit(b, i, ',') {
			i = ws(b, i+1)
			continue
		}
		if lit(b, i, '}') {
			return i + 1, true
		}
		return 0, false
	}
}

// ws skips JSON whitespace.
func ws(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func lit(b []byte, i int, c byte) bool { return i < len(b) && b[i] == c }

// key says whether b[i:] starts with k in quotes.
func key(b []byte, i int, k string) bool {
	return len(b)-i >= len(k)+2 && b[i] == '"' && string(b[i+1:i+1+len(k)]) == k && b[i+1+len(k)] == '"'
}

// parseInt reads a JSON integer without fraction or exponent that fits an
// int64.
func parseInt(b []byte, i int) (int64, int, bool) {
	start := i
	if lit(b, i, '-') {
		i++
	}
	d := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	switch {
	case i == d, b[d] == '0' && i-d > 1: // no digits; a leading zero is not JSON
		return 0, 0, false
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, 0, false
	}
	n, err := strconv.ParseInt(string(b[start:i]), 10, 64)
	return n, i, err == nil
}

// parsePlainString reads a string of printable ASCII without escapes.
func parsePlainString(b []byte, i int) (string, int, bool) {
	if !lit(b, i, '"') {
		return "", 0, false
	}
	i++
	start := i
	for i < len(b) && b[i] != '"' {
		if c := b[i]; c < 0x20 || c > 0x7e || c == '\\' {
			return "", 0, false
		}
		i++
	}
	if i == len(b) {
		return "", 0, false
	}
	return string(b[start:i]), i + 1, true
}

// skipValue validates the JSON value at b[i:] and answers the index after
// it, as encoding/json's scanner would accept it (strings may hold any
// byte from 0x20 up, unchecked as UTF-8, which json.RawMessage keeps as
// is).
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth == maxFastDepth {
			return 0, false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = ws(b, i+1)
		if lit(b, i, end) {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i, ok = skipString(b, i); !ok {
					return 0, false
				}
				if i = ws(b, i); !lit(b, i, ':') {
					return 0, false
				}
				i = ws(b, i+1)
			}
			if i, ok = skipValue(b, i, depth+1); !ok {
				return 0, false
			}
			i = ws(b, i)
			switch {
			case lit(b, i, ','):
				i = ws(b, i+1)
			case lit(b, i, end):
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '"':
		return skipString(b, i)
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	case c == 't':
		return word(b, i, "true")
	case c == 'f':
		return word(b, i, "false")
	case c == 'n':
		return word(b, i, "null")
	}
	return 0, false
}

func word(b []byte, i int, w string) (int, bool) {
	if len(b)-i >= len(w) && string(b[i:i+len(w)]) == w {
		return i + len(w), true
	}
	return 0, false
}

// skipString validates a JSON string at b[i:].
func skipString(b []byte, i int) (int, bool) {
	if !lit(b, i, '"') {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i == len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return 0, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// skipNumber validates a JSON number at b[i:].
func skipNumber(b []byte, i int) (int, bool) {
	if lit(b, i, '-') {
		i++
	}
	switch {
	case lit(b, i, '0'):
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, false
	}
	if lit(b, i, '.') {
		d := i + 1
		if i = digits(b, d); i == d {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		if i = digits(b, d); i == d {
			return 0, false
		}
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// marshal is json.Marshal, by hand for an actions reply.
func marshal(v any) ([]byte, error) {
	if r, ok := v.(actionsReply); ok {
		n := 96 + len(r.GamedataVersion)
		for i := range r.Results {
			n += 64 + len(r.Results[i].Result)
		}
		if b, ok := appendActionsReply(make([]byte, 0, n), &r); ok {
			return b, nil
		}
	}
	return json.Marshal(v)
}

// appendActionsReply appends r as json.Marshal would write it, or answers
// false for a reply it does not do by hand: a result that is not compact
// or holds a byte json.Marshal would rewrite (<, >, &, U+2028, U+2029),
// or invalid JSON.
func appendActionsReply(b []byte, r *actionsReply) ([]byte, bool) {
	b = append(b, '{')
	if r.Type != "" {
		b = append(b, `"type":`...)
		b = appendString(b, r.Type)
		b = append(b, ',')
	}
	b = append(b, `"results":`...)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Results {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendReply(b, &r.Results[i]); !ok {
				return nil, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"gamedata_version":`...)
	b = appendString(b, r.GamedataVersion)
	b = append(b, `,"server_time":`...)
	b = strconv.AppendInt(b, r.ServerTime, 10)
	return append(b, '}'), true
}

func appendReply(b []byte, r *state.Reply) ([]byte, bool) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, r.Seq, 10)
	b = append(b, `,"ok":`...)
	b = strconv.AppendBool(b, r.OK)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	if r.Pending {
		b = append(b, `,"pending":true`...)
	}
	if len(r.Result) > 0 {
		if !compactSafe(r.Result) {
			return nil, false
		}
		b = append(b, `,"result":`...)
		b = append(b, r.Result...)
	}
	if r.Error != nil {
		b = append(b, `,"error":{"code":`...)
		b = appendString(b, r.Error.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, r.Error.Message)
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// compactSafe says whether json.Marshal writes raw unchanged: valid JSON
// with no whitespace at all and no byte it escapes.
func compactSafe(raw []byte) bool {
	for i, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&':
			return false
		case 0xe2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
			if i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xa8 {
				return false
			}
		}
	}
	end, ok := skipValue(raw, 0, 0)
	return ok && end == len(raw)
}

// appendString appends s quoted as json.Marshal would: printable ASCII
// that needs no escape by hand, anything else by json.Marshal itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
