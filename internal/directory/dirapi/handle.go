package dirapi

import (
	"strings"
)

// A Handle is a normalised address a device can verify and be found by:
// "mailto:" followed by a lower-case e-mail address, or "tel:" followed by
// an E.164 number ("+" and 8 to 15 digits, the first not 0). Only
// ParseHandle makes Handles; the zero Handle is invalid.
type Handle string

// Handle limits.
const (
	// MaxHandleInput is the longest string ParseHandle looks at; longer
	// input is refused before any other work.
	MaxHandleInput = 320
	maxLocalPart   = 64
	maxDomain      = 253
	maxEmail       = 254
	minPhoneDigits = 8
	maxPhoneDigits = 15
)

// Kind returns "mailto" or "tel".
func (h Handle) Kind() string {
	kind, _, _ := strings.Cut(string(h), ":")
	return kind
}

// Address returns the handle without its scheme: the e-mail address or the
// "+" number.
func (h Handle) Address() string {
	_, addr, _ := strings.Cut(string(h), ":")
	return addr
}

// ParseHandle normalises a handle as a person or a client may type it:
//
//	mailto:Alice@Example.COM   → mailto:alice@example.com
//	Alice@Example.com          → mailto:alice@example.com (bare address)
//	tel:+1 (555) 123-4567      → tel:+15551234567
//	+44 20 7946 0958           → tel:+442079460958 (bare number)
//
// The scheme is case-insensitive. E-mail addresses are ASCII only (no
// internationalised addresses yet): a local part of letters, digits and
// !#$%&'*+=?^_`{|}~.- (no leading, trailing or doubled dot, at most 64
// bytes), "@", and a domain of at least two dot-separated labels of
// letters, digits and inner hyphens (at most 63 bytes each, 253 in all);
// the whole address is lower-cased. Numbers must be in international form:
// "+", then 8 to 15 digits, the first not 0; spaces, dots, hyphens and
// parentheses between digits are dropped. Anything else is an error with
// code [CodeInvalidHandle] that says what is wrong.
func ParseHandle(s string) (Handle, error) {
	if len(s) > MaxHandleInput {
		return "", handleErr("is longer than %d bytes", MaxHandleInput)
	}
	if s == "" {
		return "", handleErr("is empty")
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	switch {
	case hasScheme && strings.EqualFold(scheme, "mailto"):
		return parseEmail(rest)
	case hasScheme && strings.EqualFold(scheme, "tel"):
		return parsePhone(rest)
	case strings.HasPrefix(s, "+"):
		return parsePhone(s)
	case strings.Contains(s, "@") && !hasScheme:
		return parseEmail(s)
	case hasScheme:
		return "", handleErr("has an unknown scheme; use mailto:address or tel:+number")
	}
	return "", handleErr("is neither an e-mail address nor a +number; use mailto:address or tel:+number")
}

func parseEmail(s string) (Handle, error) {
	if len(s) > maxEmail {
		return "", handleErr("e-mail address is longer than %d bytes", maxEmail)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", handleErr("e-mail address must have exactly one @")
	}
	if local == "" || len(local) > maxLocalPart {
		return "", handleErr("e-mail address needs a local part of 1 to %d bytes before the @", maxLocalPart)
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", handleErr("e-mail local part must not start or end with a dot or have two in a row")
	}
	for i := 0; i < len(local); i++ {
		if !localChar(local[i]) {
			return "", handleErr("e-mail local part has a character that is not allowed (ASCII letters, digits and !#$%%&'*+=?^_`{|}~.- only)")
		}
	}
	if domain == "" || len(domain) > maxDomain {
		return "", handleErr("e-mail domain must be 1 to %d bytes", maxDomain)
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", handleErr("e-mail domain must have at least two labels, like example.org")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", handleErr("e-mail domain labels must be 1 to 63 bytes")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", handleErr("e-mail domain labels must not start or end with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(isAlnum(c) || c == '-') {
				return "", handleErr("e-mail domain has a character that is not allowed (ASCII letters, digits, hyphens and dots only)")
			}
		}
	}
	return Handle("mailto:" + strings.ToLower(s)), nil
}

func parsePhone(s string) (Handle, error) {
	if !strings.HasPrefix(s, "+") {
		return "", handleErr("phone number must be in international form: + then country code and number")
	}
	digits := make([]byte, 0, maxPhoneDigits+1)
	digits = append(digits, '+')
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(digits) > maxPhoneDigits {
				return "", handleErr("phone number has more than %d digits", maxPhoneDigits)
			}
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			// visual separator, dropped
		default:
			return "", handleErr("phone number may contain only digits after the +, and spaces, dots, hyphens or parentheses between them")
		}
	}
	n := len(digits) - 1
	if n < minPhoneDigits || n > maxPhoneDigits {
		return "", handleErr("phone number must have %d to %d digits after the +", minPhoneDigits, maxPhoneDigits)
	}
	if digits[1] == '0' {
		return "", handleErr("phone number country code cannot start with 0")
	}
	return Handle("tel:" + string(digits)), nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func localChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+=?^_`{|}~.-", c) >= 0
}

func handleErr(format string, args ...any) error {
	return Errorf(CodeInvalidHandle, "handle "+format, args...)
}
