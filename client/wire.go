package client

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
)

// This file holds the hot-path wire code: requests are appended to pooled
// buffers by hand and replies are scanned in place, without reflection.
// Anything the scanner cannot vouch for fails with errSyntax; the
// callers wrap it as ErrProtocol.

var errSyntax = errors.New("malformed JSON reply")

// scanner walks one JSON document without building values. It is lenient
// about commas (a client is not a validator) but never reads out of
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

// parseResults scans an actions reply (HTTP body or WebSocket "results"
// message) into dst, which it appends to. Codes are interned, messages
// unescaped, and every "result" value is copied into one new backing
// array, so nothing in dst points into b.
func parseResults(b []byte, dst []Result, vc *versionCache) ([]Result, replyMeta, error) {
	var s scanner
	s.reset(b)
	var version []byte
	var serverTime int64
	start := len(dst)
	raws := 0
	if !s.open('{') {
		return dst, replyMeta{}, s.err
	}
	for s.more('}') {
		switch string(s.key()) {
		case "gamedata_version":
			version = s.str()
			continue
		case "server_time":
			serverTime = s.int()
			continue
		case "results":
		default:
			s.skip()
			continue
		}
		if !s.open('[') {
			break
		}
		for s.more(']') {
			var r Result
			if !s.open('{') {
				break
			}
			for s.more('}') {
				switch string(s.key()) {
				case "seq":
					r.Seq = s.int()
				case "ok":
					r.OK = s.bool()
				case "duplicate":
					r.Duplicate = s.bool()
				case "pending":
					r.Pending = s.bool()
				case "error":
					code, msg := s.errorBody()
					r.Code, r.Message = intern(code), jsonString(msg)
				case "result":
					raw := s.skip()
					raws += len(raw)
					// Kept pointing into b until the copy below.
					r.Value = raw
				default:
					s.skip()
				}
			}
			dst = append(dst, r)
		}
	}
	if s.err != nil {
		return dst[:start], replyMeta{}, s.err
	}
	if raws > 0 {
		backing := make([]byte, 0, raws)
		for i := start; i < len(dst); i++ {
			if v := dst[i].Value; v != nil {
				n := len(backing)
				backing = append(backing, v...)
				dst[i].Value = backing[n:len(backing):len(backing)]
			}
		}
	}
	return dst, replyMeta{version: vc.get(version), serverTime: serverTime}, nil
}

// replyMeta is what an actions reply says beside its results.
type replyMeta struct {
	version    string
	serverTime int64 // Unix ms; 0 if absent
}

// errorBody reads {"code": ..., "message": ...} (or null) and returns the
// raw code and message.
func (s *scanner) errorBody() (code, msg []byte) {
	if s.peek() == 'n' { // null
		s.skip()
		return nil, nil
	}
	if !s.open('{') {
		return nil, nil
	}
	for s.more('}') {
		switch string(s.key()) {
		case "code":
			code = s.str()
		case "message":
			msg = s.str()
		default:
			s.skip()
		}
	}
	return code, msg
}

// parseError reads an error body {"error": {"code", "message"}} (HTTP, or
// a WebSocket "error" message). ok is false when b is not one.
func parseError(b []byte) (code, msg string, ok bool) {
	var s scanner
	s.reset(b)
	if !s.open('{') {
		return "", "", false
	}
	for s.more('}') {
		if string(s.key()) == "error" {
			c, m := s.errorBody()
			return intern(c), jsonString(m), s.err == nil && c != nil
		}
		s.skip()
	}
	return "", "", false
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

// unquote returns the raw contents of a JSON string value, or nil.
func unquote(raw []byte) []byte {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil
	}
	return raw[1 : len(raw)-1]
}

// jsonString turns the raw contents of a JSON string into a Go string,
// decoding escapes when there are any.
func jsonString(raw []byte) string {
	for _, c := range raw {
		if c == '\\' {
			var s string
			q := make([]byte, 0, len(raw)+2)
			q = append(append(append(q, '"'), raw...), '"')
			if json.Unmarshal(q, &s) != nil {
				return string(raw)
			}
			return s
		}
	}
	return string(raw)
}

// knownCodes are the codes of API.md and ACTIONS.md: a reply carrying one
// costs no allocation for it.
var knownCodes = func() map[string]string {
	m := map[string]string{}
	for _, c := range []string{
		"bad_request", "unauthorized", "bad_credentials", "banned", "not_found", "method_not_allowed",
		"player_busy", "already_exists", "too_large", "rate_limited", "unavailable", "internal", "unknown_type",
		"duplicate", "out_of_order", "stale_seq", "unknown_action", "bad_args", "wrong_building",
		"out_of_bounds", "occupied", "limit_reached", "requirement_not_met", "no_free_builder",
		"not_enough_resources", "busy", "not_upgrading", "max_level", "nothing_to_collect", "storage_full",
		"housing_full", "queue_full", "nothing_to_speed_up", "not_in_queue", "shielded", "no_target",
	} {
		m[c] = c
	}
	return m
}()

func intern(b []byte) string {
	if b == nil {
		return ""
	}
	if s, ok := knownCodes[string(b)]; ok {
		return s
	}
	return string(b)
}

// versionCache remembers the last game data version seen, so that every
// reply carrying the same one costs no allocation. A Client has one,
// shared by its sessions.
type versionCache struct{ p atomic.Pointer[string] }

func (vc *versionCache) get(b []byte) string {
	if b == nil {
		return ""
	}
	if p := vc.p.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	vc.p.Store(&s)
	return s
}

// appendString appends s as a JSON string.
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

// appendActions appends [{"seq":n,"name":"...","args":{...}},...] for acts
// numbered from first.
func appendActions(b []byte, first int64, acts []Action) []byte {
	b = append(b, '[')
	for i, a := range acts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = strconv.AppendInt(b, first+int64(i), 10)
		b = append(b, `,"name":`...)
		b = appendString(b, a.Name)
		b = append(b, `,"args":`...)
		if len(a.Args) == 0 {
			b = append(b, "{}"...)
		} else {
			b = append(b, a.Args...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}
