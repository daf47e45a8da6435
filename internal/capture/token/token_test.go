package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

type key []byte

func (k key) MAC(domain string, msg []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(domain + "\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

const (
	ws  = "01938a7e-0000-7000-8000-0000000000aa"
	sub = "01938a7e-1111-7000-8000-0000000000bb"
)

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	k := key("k1")
	in := Token{Kind: Unsubscribe, Workspace: ws, Subject: sub, Purpose: "newsletter", Channel: "email", Expires: now.Add(time.Hour)}
	s, err := Sign(k, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(s, "+/=") || len(s) > 140 {
		t.Fatalf("not a short URL-safe token: %q (%d)", s, len(s))
	}
	got, err := Parse(k, Unsubscribe, s, now)
	if err != nil || got != in {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	cases := map[string]struct {
		k    Signer
		kind Kind
		s    string
		at   time.Time
		want error
	}{
		"other key":         {key("k2"), Unsubscribe, s, now, ErrInvalid},
		"other kind":        {k, Preferences, s, now, ErrInvalid},
		"expired":           {k, Unsubscribe, s, now.Add(time.Hour), ErrExpired},
		"flipped character": {k, Unsubscribe, flip(s, 10), now, ErrInvalid},
		"truncated":         {k, Unsubscribe, s[:len(s)-3], now, ErrInvalid},
		"empty":             {k, Unsubscribe, "", now, ErrInvalid},
		"not base64":        {k, Unsubscribe, "!!!", now, ErrInvalid},
		"too long":          {k, Unsubscribe, strings.Repeat("A", 600), now, ErrInvalid},
	}
	for name, c := range cases {
		if _, err := Parse(c.k, c.kind, c.s, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// A link without expiry stays valid.
	forever, _ := Sign(k, Token{Kind: Preferences, Workspace: ws, Subject: sub})
	if _, err := Parse(k, Preferences, forever, now.AddDate(50, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(k, Token{Kind: Confirm, Workspace: "nope", Subject: sub}); err == nil {
		t.Fatal("signed a non-UUID workspace")
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func FuzzParse(f *testing.F) {
	k := key("fuzz")
	good, _ := Sign(k, Token{Kind: Confirm, Workspace: ws, Subject: sub, Expires: now.Add(time.Hour)})
	f.Add(good)
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(k, Confirm, s, now)
		if err != nil {
			return
		}
		// Anything accepted must be exactly what Sign makes of it.
		again, err := Sign(k, tok)
		if err != nil || again != s {
			t.Fatalf("accepted %q that does not re-sign to itself (%q, %v)", s, again, err)
		}
	})
}
