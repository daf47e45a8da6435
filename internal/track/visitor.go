package track

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/fairlead/fairlead/internal/id"
)

// A visitor token is what the tracking script keeps on the device, and only
// after the server found a tracking consent for the contact it names: the
// workspace, the contact and an expiry under a MAC of a key derived from
// the master key. It holds no personal data and nothing secret is stored:
// it is checked by recomputing the MAC.

const (
	visitorVersion = 1
	visitorDomain  = "track:visitor"
	visitorMACLen  = 16
	// VisitorTokenDays is how long a visitor token is accepted. The server
	// asks the engine at every event anyway, so a withdrawn consent stops
	// identification at once; the expiry only bounds a stolen token.
	VisitorTokenDays = 90
)

// ErrVisitorToken is a visitor token that is malformed, forged or expired.
var ErrVisitorToken = errors.New("track: the visitor token is not valid")

// Signer makes the MAC (keyring.Keyring implements it).
type Signer interface {
	MAC(domain string, msg []byte) []byte
}

// SignVisitor makes a visitor token for the contact of the workspace.
func SignVisitor(s Signer, ws, contactID string, expires time.Time) (string, error) {
	w, ok1 := id.Bytes(ws)
	c, ok2 := id.Bytes(contactID)
	if !ok1 || !ok2 {
		return "", ErrVisitorToken
	}
	b := make([]byte, 0, 1+16+16+8+visitorMACLen)
	b = append(b, visitorVersion)
	b = append(b, w[:]...)
	b = append(b, c[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(expires.Unix()))
	b = append(b, s.MAC(visitorDomain, b)[:visitorMACLen]...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ParseVisitor checks a visitor token and returns its workspace and contact.
func ParseVisitor(s Signer, tok string, now time.Time) (ws, contactID string, err error) {
	if len(tok) > 128 {
		return "", "", ErrVisitorToken
	}
	// Strict: a token has one spelling, so a changed last character never
	// decodes to the same bytes.
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != 1+16+16+8+visitorMACLen || b[0] != visitorVersion {
		return "", "", ErrVisitorToken
	}
	body, mac := b[:len(b)-visitorMACLen], b[len(b)-visitorMACLen:]
	if !hmac.Equal(mac, s.MAC(visitorDomain, body)[:visitorMACLen]) {
		return "", "", ErrVisitorToken
	}
	if now.Unix() > int64(binary.BigEndian.Uint64(body[33:41])) {
		return "", "", ErrVisitorToken
	}
	return string(id.AppendText(nil, body[1:17])), string(id.AppendText(nil, body[17:33])), nil
}
