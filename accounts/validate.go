package accounts

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Limits from API.md.
const (
	minDeviceID = 16
	maxDeviceID = 128
	minPassword = 8
	maxPassword = 128
	maxEmail    = 254
	maxLocal    = 64
	maxSub      = 255
)

// idChar reports whether c is one of [A-Za-z0-9_-].
func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func idChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

// ValidPlayerID reports whether id has the shape of an account's player
// id: "u" and 22 characters of [A-Za-z0-9_-] (128 random bits). Any other
// player id cannot be an account, so the development door may take it.
func ValidPlayerID(id string) bool {
	return len(id) == playerIDLen && id[0] == 'u' && idChars(id)
}

func checkDeviceID(id string) error {
	if len(id) < minDeviceID || len(id) > maxDeviceID || !idChars(id) {
		return badRequest("device_id must be 16-128 characters of [A-Za-z0-9_-]")
	}
	return nil
}

func checkPassword(pw string) error {
	if !utf8.ValidString(pw) {
		return badRequest("password must be UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < minPassword || n > maxPassword {
		return badRequest("password must be 8-128 characters")
	}
	return nil
}

// NormalizeEmail returns the form of an address that names its account,
// or a bad_request error. The rules (doc.go, "Email addresses"):
//
//   - exactly what net/mail.ParseAddress accepts as a single bare address:
//     no display name, no angle brackets, no comments, no surrounding space;
//   - ASCII only: a non-ASCII byte anywhere is refused, so no look-alike
//     letter (Cyrillic "а" for Latin "a", fullwidth forms, ...) can name a
//     second account that reads like the first; internationalised domains
//     are given in their xn-- form;
//   - the local part is a dot-atom (no quoted strings), at most 64 bytes;
//   - the domain has at least two labels of [a-z0-9-], 1-63 bytes each,
//     not starting or ending with "-";
//   - at most 254 bytes in all;
//   - the whole address is lower-cased: no mail provider in use treats
//     Alice@ and alice@ as two people, and two accounts that differ only
//     by case would invite impersonation.
func NormalizeEmail(s string) (string, error) {
	bad := badRequest("email must be a single plain address such as name@example.com (ASCII, at most 254 bytes)")
	if len(s) == 0 || len(s) > maxEmail {
		return "", bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return "", bad
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if !dotAtom(local) || len(local) > maxLocal || !validDomain(domain) {
		return "", bad
	}
	return strings.ToLower(local) + "@" + domain, nil
}

// dotAtom reports whether s is RFC 5322's dot-atom-text.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if idChar(c) || c == '.' || strings.IndexByte("!#$%&'*+/=?^`{|}~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
