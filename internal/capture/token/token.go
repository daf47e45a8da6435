// Package token signs and checks the links fairlead puts into messages to
// people: the double opt-in confirmation, the preference center, the
// one-click unsubscribe and the identity check of a data subject request.
// A link carries what it is for, the workspace, its subject (a contact, a
// double opt-in request or a case), an optional purpose and
// channel, and an expiry, all covered by a MAC under a key derived from the
// master key. Nothing secret is stored: a link is checked by recomputing its
// MAC, so a database dump does not hand out working links.
package token

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/fairlead/fairlead/internal/id"
)

// Kind says what a link may be used for; the MAC domain differs per kind,
// so a link of one kind never passes as another.
type Kind byte

const (
	// Confirm confirms a double opt-in request (subject: the request ID).
	Confirm Kind = 'c'
	// Preferences opens the preference center (subject: the contact ID).
	Preferences Kind = 'p'
	// Unsubscribe withdraws one consent (subject: the contact ID; purpose
	// and channel name the consent).
	Unsubscribe Kind = 'u'
	// Verify proves a data subject's identity for their request (subject:
	// the case ID): only the holder of the confirmed address can click it.
	Verify Kind = 'v'
)

func (k Kind) domain() string {
	switch k {
	case Confirm:
		return "link:confirm"
	case Preferences:
		return "link:preferences"
	case Unsubscribe:
		return "link:unsubscribe"
	case Verify:
		return "link:dsr-verify"
	}
	return ""
}

// Token is what a link says.
type Token struct {
	Kind      Kind
	Workspace string // UUID
	Subject   string // UUID
	Purpose   string // business purpose key, up to 64 bytes (Unsubscribe)
	Channel   string // up to 16 bytes (Unsubscribe)
	// Expires is the end of the link's life; zero = it does not expire.
	Expires time.Time
}

// Signer makes the MAC (keyring.Keyring implements it).
type Signer interface {
	MAC(domain string, msg []byte) []byte
}

// Errors of Parse. A caller shows people the same page for both where
// telling them apart would reveal nothing useful.
var (
	ErrInvalid = errors.New("the link is not valid")
	ErrExpired = errors.New("the link has expired")
)

const (
	version = 1
	macLen  = 16 // 128-bit truncated HMAC-SHA256
	maxLen  = 512
)

// Sign encodes t as a URL-safe string.
func Sign(s Signer, t Token) (string, error) {
	ws, ok := id.Bytes(t.Workspace)
	if !ok {
		return "", errors.New("token: workspace is not a UUID")
	}
	sub, ok := id.Bytes(t.Subject)
	if !ok {
		return "", errors.New("token: subject is not a UUID")
	}
	if t.Kind.domain() == "" {
		return "", errors.New("token: unknown kind")
	}
	if len(t.Purpose) > 64 || len(t.Channel) > 16 {
		return "", errors.New("token: purpose or channel too long")
	}
	b := make([]byte, 0, 64)
	b = append(b, version, byte(t.Kind))
	b = append(b, ws[:]...)
	b = append(b, sub[:]...)
	var exp int64
	if !t.Expires.IsZero() {
		exp = t.Expires.Unix()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = append(b, byte(len(t.Purpose)))
	b = append(b, t.Purpose...)
	b = append(b, byte(len(t.Channel)))
	b = append(b, t.Channel...)
	b = append(b, s.MAC(t.Kind.domain(), b)[:macLen]...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Parse checks a link of the wanted kind at time now.
func Parse(s Signer, want Kind, str string, now time.Time) (Token, error) {
	if len(str) > maxLen || want.domain() == "" {
		return Token{}, ErrInvalid
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(str)
	if err != nil || len(b) < 2+16+16+8+1+1+macLen {
		return Token{}, ErrInvalid
	}
	body, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	if body[0] != version || Kind(body[1]) != want {
		return Token{}, ErrInvalid
	}
	if !hmac.Equal(mac, s.MAC(want.domain(), body)[:macLen]) {
		return Token{}, ErrInvalid
	}
	t := Token{Kind: want, Workspace: string(id.AppendText(nil, body[2:18])), Subject: string(id.AppendText(nil, body[18:34]))}
	exp := int64(binary.BigEndian.Uint64(body[34:42]))
	rest := body[42:]
	var ok bool
	if t.Purpose, rest, ok = field(rest); !ok {
		return Token{}, ErrInvalid
	}
	if t.Channel, rest, ok = field(rest); !ok || len(rest) != 0 {
		return Token{}, ErrInvalid
	}
	if exp != 0 {
		t.Expires = time.Unix(exp, 0).UTC()
		if !now.Before(t.Expires) {
			return t, ErrExpired
		}
	}
	return t, nil
}

func field(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}
