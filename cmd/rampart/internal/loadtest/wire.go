package loadtest

import (
	"errors"
	"strconv"
)

// This file holds the hot-path wire code: requests are appended to reused
// buffers by hand and replies are scanned in place. Nothing here allocates
// unless a reply carries something new (an error code never seen before).

var errSyntax = errors.New("malformed JSON reply")

// scanner walks one JSON document without building values. It is lenient
// about commas (a load generator is not a validator) but never reads out of
// bounds, and any structural surprise sets err and stops the walk.
type scanner struct {
	b   []byte
	i   int
	err error
}

func (s *scanner) reset(b []byte) { s.b, s.i, s.err = b, 0, nil }

func (s *scanner) fail() {
	if s.err == nil {
		s.err = errSyntax
	}
	s.i = len(s.b)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// open consumes c ('{' or '['), or fails.
func (s *scanner) open(c byte) bool {
	if s.peek() != c {
		s.fail()
		return false
	}
	s.i++
	return true
}

// more reports whether the object or array being walked has another
// member, consuming a separating comma, or consumes the closing byte.
func (s *scanner) more(closing byte) bool {
	switch s.peek() {
	case ',':
		s.i++
		if s.peek() == closing {
			s.fail()
			return false
		}
		return s.err == nil
	case closing:
		s.i++
		return false
	case 0:
		s.fail()
		return false
	}
	return s.err == nil
}

// key reads an object key and its colon. The key is returned raw (escapes
// are not decoded; our keys never have any).
func (s *scanner) key() []byte {
	k := s.str()
	if s.peek() != ':' {
		s.fail()
		return nil
	}
	s.i++
	return k
}

// str reads a string and returns its raw contents.
func (s *scanner) str() []byte {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			v := s.b[start:s.i]
			s.i++
			return v
		case '\\':
			s.i += 2
		default:
			s.i++
		}
	}
	s.fail()
	return nil
}

// int reads an integer.
func (s *scanner) int() int64 {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	var n int64
	digits := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
		digits++
	}
	if digits == 0 || digits > 18 {
		s.fail()
		return 0
	}
	// A fraction or exponent means this was not an integer.
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.fail()
		return 0
	}
	if s.b[start] == '-' {
		n = -n
	}
	return n
}

// bool reads true or false; null reads as false.
func (s *scanner) bool() bool {
	s.ws()
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false
	case len(rest) >= 4 && string(rest[:4]) == "null":
		s.i += 4
		return false
	}
	s.fail()
	return false
}

// skip steps over one value of any kind and returns its raw bytes.
func (s *scanner) skip() []byte {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		s.fail()
		return nil
	}
	switch c := s.b[s.i]; c {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return s.b[start:s.i]
			}
		}
		s.fail()
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					s.fail()
				}
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	if s.err != nil {
		return nil
	}
	return s.b[start:s.i]
}

// result is one entry of an actions reply. code and raw point into the
// reply buffer and are valid until the next exchange.
type result struct {
	seq       int64
	ok        bool
	duplicate bool
	pending   bool
	code      []byte
	raw       []byte // the "result" value, if any
}

// errorBody reads {"code": ..., "message": ...} and returns the code.
func (s *scanner) errorBody() []byte {
	var code []byte
	if s.peek() == 'n' { // null
		s.skip()
		return nil
	}
	if !s.open('{') {
		return nil
	}
	for s.more('}') {
		if string(s.key()) == "code" {
			code = s.str()
		} else {
			s.skip()
		}
	}
	return code
}

// parseResults scans an actions reply (HTTP body or WebSocket "results"
// message) into out, reusing its backing array.
func parseResults(b []byte, out []result) ([]result, error) {
	out = out[:0]
	var s scanner
	s.reset(b)
	if !s.open('{') {
		return out, s.err
	}
	for s.more('}') {
		if string(s.key()) != "results" {
			s.skip()
			continue
		}
		if !s.open('[') {
			break
		}
		for s.more(']') {
			var r result
			if !s.open('{') {
				break
			}
			for s.more('}') {
				switch string(s.key()) {
				case "seq":
					r.seq = s.int()
				case "ok":
					r.ok = s.bool()
				case "duplicate":
					r.duplicate = s.bool()
				case "pending":
					r.pending = s.bool()
				case "error":
					r.code = s.errorBody()
				case "result":
					r.raw = s.skip()
				default:
					s.skip()
				}
			}
			out = append(out, r)
		}
	}
	return out, s.err
}

// parseError returns the code of an error body {"error": {"code": ...}}.
func parseError(b []byte) []byte {
	var s scanner
	s.reset(b)
	if !s.open('{') {
		return nil
	}
	for s.more('}') {
		if string(s.key()) == "error" {
			return s.errorBody()
		}
		s.skip()
	}
	return nil
}

// field returns the raw value of the top-level key name, or nil.
func field(b []byte, name string) []byte {
	var s scanner
	s.reset(b)
	if !s.open('{') {
		return nil
	}
	for s.more('}') {
		k := s.key()
		v := s.skip()
		if string(k) == name {
			return v
		}
	}
	return nil
}

// unquote returns the contents of a raw JSON string value, or nil.
func unquote(raw []byte) []byte {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil
	}
	return raw[1 : len(raw)-1]
}

// appendString appends s as a JSON string. Player ids, action names and
// arguments we generate are plain ASCII, but anything outside that is
// escaped correctly all the same.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendAction appends {"seq":n,"name":"...","args":{...}}.
func appendAction(b []byte, seq int64, name string, args []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, name)
	b = append(b, `,"args":`...)
	if len(args) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, args...)
	}
	return append(b, '}')
}

// interner turns reply bytes into strings for counting, allocating only the
// first time a value is seen. Owned by one goroutine.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}
