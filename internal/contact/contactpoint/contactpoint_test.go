package contactpoint

import (
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Anna.Muster@Example.COM ": "anna.muster@example.com",
		"a@b.de":                    "a@b.de",
		"Anna <anna@example.com>":   "",
		"anna":                      "",
		"anna@":                     "",
		"":                          "",
		"a b@example.com":           "",
		strings.Repeat("a", 250) + "@example.com": "",
	} {
		got, err := Email(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("Email(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+49 (171) 123-45.67": "+491711234567",
		"0049 171 1234567":    "+491711234567",
		"0171/1234567":        "01711234567",
		" +4930123 ":          "+4930123",
		"12":                  "",
		"+0171 1234":          "",
		"171 12x4":            "",
		"1+2345678":           "",
		"1234567890123456":    "",
	} {
		got, err := Phone(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("Phone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzNormalize checks that normalisation is idempotent and yields only the
// characters a blind index is computed over.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"a@b.de", " A@B.DE", "+49 171 1234567", "0049-30-1234", "x", "\"a b\"@c.de", "@", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e, err := Email(s); err == nil {
			if e != strings.ToLower(e) || strings.TrimSpace(e) != e {
				t.Fatalf("Email(%q) = %q: not lower-case and trimmed", s, e)
			}
			if again, err := Email(e); err != nil || again != e {
				t.Fatalf("Email not idempotent: %q -> %q -> %q, %v", s, e, again, err)
			}
		}
		if p, err := Phone(s); err == nil {
			for i, r := range p {
				if !(r >= '0' && r <= '9' || r == '+' && i == 0) {
					t.Fatalf("Phone(%q) = %q: unexpected %q", s, p, r)
				}
			}
			if again, err := Phone(p); err != nil || again != p {
				t.Fatalf("Phone not idempotent: %q -> %q -> %q, %v", s, p, again, err)
			}
		}
	})
}
