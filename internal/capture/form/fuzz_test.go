package form_test

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/contact/contactpoint"
	"github.com/fairlead/fairlead/internal/validate"
)

var parseCodes = []string{form.CodeRequired, form.CodeInvalidEmail, form.CodeInvalidPhone, form.CodeTooLong, form.CodeInvalidOption,
	form.CodeConsentRequired, form.CodeInvalidUTF8, form.CodeInvalidCharacters, form.CodeTooManyValues}

// FuzzParse posts arbitrary bodies to the demo form and to the rich form:
// Parse must never panic, keep only fields of the form, each value valid
// UTF-8, trimmed, free of control characters (but newlines and tabs in a
// textarea) and within the field's limit, e-mail and phone already in their
// normal form, and report errors only for fields and checkboxes of the form
// in definition order.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"email=a%40example.com&newsletter_email=on",
		"email=+A@Example.COM+&first_name=Ada&newsletter_email=1&website=",
		"email=a@example.com&last_name=X&phone=%2B49+171+1234567&topic=support&message=Hi%0D%0Athere&sales_calls_phone=yes&offers_post=true&street=S&postal_code=1&city=K",
		"email=%ff&last_name=%00&phone=abc&topic=nope&message=%1b&website=x",
		"email=a@b&email=c@d&company=" + strings.Repeat("x", 300),
		"last_name=%E2%80%AE&city=%C3%B6&postal_code=12345678901",
		"a=1&b=2;c=3&%zz",
		"",
	} {
		f.Add(s, "de")
	}
	f.Add("email=a@example.com", "fr")
	defs := []form.Definition{demo(), richForm()}
	f.Fuzz(func(t *testing.T, body, lang string) {
		v, _ := url.ParseQuery(body)
		for _, d := range defs {
			checkParse(t, d, v, lang)
		}
	})
}

func checkParse(t *testing.T, d form.Definition, v url.Values, lang string) {
	s, errs := form.Parse(d, v, lang)
	if !slices.Contains(d.Languages, s.Lang) {
		t.Fatalf("lang %q is not a form language", s.Lang)
	}
	if lang != s.Lang && slices.Contains(d.Languages, lang) {
		t.Fatalf("asked for %q, got %q", lang, s.Lang)
	}
	wantHoneypot := len(v[form.HoneypotField]) > 0 && strings.TrimSpace(v[form.HoneypotField][0]) != ""
	if len(errs) == 0 || errs[0].Code != form.CodeTooManyValues {
		if s.Honeypot != wantHoneypot {
			t.Fatalf("honeypot %v for %q", s.Honeypot, v[form.HoneypotField])
		}
	}
	for name, val := range s.Values {
		i := slices.IndexFunc(d.Fields, func(f form.Field) bool { return f.Name == name })
		if i < 0 {
			t.Fatalf("value for %q, which is not a field", name)
		}
		f := d.Fields[i]
		if !utf8.ValidString(val) || val == "" || val != strings.TrimSpace(val) {
			t.Fatalf("%s: bad value %q", name, val)
		}
		if n := utf8.RuneCountInString(val); n > f.Limit() {
			t.Fatalf("%s: %d characters, limit %d", name, n, f.Limit())
		}
		for _, r := range val {
			if unicode.IsControl(r) && !(f.Type == "textarea" && (r == '\n' || r == '\t')) {
				t.Fatalf("%s: control character %U", name, r)
			}
		}
		switch f.Type {
		case "email":
			if e, err := contactpoint.Email(val); err != nil || e != val {
				t.Fatalf("%s: %q is not normalised (%q, %v)", name, val, e, err)
			}
		case "tel":
			if p, err := contactpoint.Phone(val); err != nil || p != val {
				t.Fatalf("%s: %q is not normalised (%q, %v)", name, val, p, err)
			}
		case "select":
			if !slices.ContainsFunc(f.Options, func(o form.Option) bool { return o.Value == val }) {
				t.Fatalf("%s: %q is no option", name, val)
			}
		}
	}
	last := -1
	for _, key := range s.Consents {
		i := slices.IndexFunc(d.Consents, func(c form.Consent) bool { return c.Key == key })
		if i <= last {
			t.Fatalf("consents %q not in definition order or unknown", s.Consents)
		}
		last = i
	}
	pos := -1
	for _, e := range errs {
		if !slices.Contains(parseCodes, e.Code) || e.Message == "" || e.MessageIn("de") == "" {
			t.Fatalf("bad error %+v", e)
		}
		if e.Field == "" {
			if e.Code != form.CodeTooManyValues || len(errs) != 1 {
				t.Fatalf("error without field: %+v", errs)
			}
			continue
		}
		i := slices.IndexFunc(d.Fields, func(f form.Field) bool { return f.Name == e.Field })
		if i < 0 {
			if j := slices.IndexFunc(d.Consents, func(c form.Consent) bool { return c.Key == e.Field }); j >= 0 {
				i = len(d.Fields) + j
			}
		}
		if i <= pos {
			t.Fatalf("errors not in definition order, repeated or for unknown fields: %+v", errs)
		}
		pos = i
	}
	if len(errs) > 0 {
		return
	}
	for _, f := range d.Fields {
		if _, ok := s.Values[f.Name]; f.Required && !ok {
			t.Fatalf("required %s missing without an error", f.Name)
		}
	}
	for _, c := range d.Consents {
		if c.Required && !slices.Contains(s.Consents, c.Key) {
			t.Fatalf("required consent %s not ticked without an error", c.Key)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic; an
// error is a *validate.Error with a message; a decoded definition exports
// and re-imports to the same export, and Validate, Lint and Parse cope with
// it whatever it holds.
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "demo-newsletter.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(encode(f, richForm()))
	for _, s := range []string{`{}`, `null`, `{"key":"a","key":"b"}`, `{"fields":[{"name":"x","max_length":1e3}]}`,
		`{"title":{"de":"\ud800"}}`, `{"offer":{}} x`, `[`, `{"consents":[{"notice":{"de":null}}]}`} {
		f.Add([]byte(s))
	}
	c := testCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := form.Decode(bytes.NewReader(data))
		if err != nil {
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Message == "" || ve.Code == "" {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		first := encode(t, d)
		if len(first) <= form.MaxDefinitionSize {
			back, err := form.Decode(bytes.NewReader(first))
			if err != nil {
				t.Fatalf("export does not import: %v\n%s", err, first)
			}
			if again := encode(t, back); !bytes.Equal(first, again) {
				t.Fatalf("export not stable:\n%s\n%s", first, again)
			}
		}
		if err := form.Validate(d, c); err != nil {
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("validation error without field: %#v", err)
			}
			return
		}
		form.Lint(d, c)
		checkParse(t, d, url.Values{"email": {"a@example.com"}}, "de")
	})
}
