// Package contactpoint normalises e-mail addresses and phone numbers, the
// contact points that consents, blind indexes and dedupe are keyed on. It is
// a leaf package (no imports of ours) so its parsers can be fuzzed alone.
//
// A double opt-in confirms exactly one address or number (rules §11), so two
// spellings of the same address must normalise to the same string; otherwise
// a consent would silently not cover the address it was given for.
package contactpoint

import (
	"errors"
	"net/mail"
	"strings"
)

// ErrEmail and ErrPhone say why a value is not a contact point.
var (
	ErrEmail = errors.New("must be a plain e-mail address such as name@example.com")
	ErrPhone = errors.New("must be a phone number of 5 to 15 digits, optionally starting with + (spaces, dashes, dots, slashes and parentheses are ignored)")
)

// Email trims and lower-cases an e-mail address after checking that it is a
// plain address (no display name, no comments), at most 254 characters.
// Lower-casing the local part is not strictly RFC 5321, but every provider
// that matters treats it case-insensitively, and dedupe needs one spelling.
func Email(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return "", ErrEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", ErrEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n\"") {
		return "", ErrEmail
	}
	return strings.ToLower(s), nil
}

// Phone reduces a phone number to its digits with an optional leading "+"
// ("E.164-ish": the country code cannot be inferred, so a national number
// such as 0171 … keeps its leading 0). A leading "00" becomes "+". Visual
// separators are dropped; any other character is an error.
func Phone(s string) (string, error) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '/' || r == '(' || r == ')':
		default:
			return "", ErrPhone
		}
	}
	d := b.String()
	if !plus && strings.HasPrefix(d, "00") {
		d, plus = d[2:], true
	}
	if len(d) < 5 || len(d) > 15 || (plus && d[0] == '0') {
		return "", ErrPhone
	}
	if plus {
		return "+" + d, nil
	}
	return d, nil
}
