package form_test

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/capture/form"
)

func TestParse(t *testing.T) {
	type errs = []string // "field code"
	cases := []struct {
		name     string
		def      func() form.Definition
		values   url.Values
		lang     string
		want     map[string]string // nil: do not check
		consents []string
		errs     errs
		honeypot bool
		wantLang string
	}{
		{
			name: "normalises and ignores extra keys", def: richForm, lang: "en",
			values: url.Values{
				"email": {"  Ada.Lovelace@Example.COM "}, "last_name": {" Lovelace "}, "phone": {"+49 (171) 123-4567"},
				"topic": {"support"}, "message": {"Hello,\r\n\r\n\tsecond line\r\n"}, "newsletter_email": {"on"},
				"sales_calls_phone": {"1"}, "offers_post": {"0"}, "_csrf": {"x"}, "unrelated": {"y"},
			},
			want: map[string]string{"email": "ada.lovelace@example.com", "last_name": "Lovelace", "phone": "+491711234567",
				"topic": "support", "message": "Hello,\n\n\tsecond line"},
			consents: []string{"newsletter_email", "sales_calls_phone"}, wantLang: "en",
		},
		{
			name: "unknown language falls back to the form's first", def: richForm, lang: "fr",
			values: url.Values{"email": {"a@example.com"}, "last_name": {"X"}}, want: map[string]string{"email": "a@example.com", "last_name": "X"},
			consents: []string{}, wantLang: "de",
		},
		{
			name: "regional tag counts as its language", def: richForm, lang: "EN-gb",
			values: url.Values{"email": {"a@example.com"}, "last_name": {"X"}}, want: map[string]string{"email": "a@example.com", "last_name": "X"},
			consents: []string{}, wantLang: "en",
		},
		{
			name: "required fields in definition order", def: richForm, lang: "de",
			values: url.Values{"email": {"   "}, "first_name": {"Ada"}},
			errs:   errs{"email required", "last_name required"}, wantLang: "de",
		},
		{
			name: "every kind of bad value", def: richForm, lang: "de",
			values: url.Values{
				"email": {"ada@@example.com"}, "last_name": {strings.Repeat("x", 201)}, "first_name": {"A\x00da"},
				"phone": {"0171-CALL-ME"}, "company": {"ACME\nInc"}, "topic": {"other"}, "message": {"a\x1b[31m"},
				"postal_code": {"12345678901"}, "city": {"K\xf6ln"},
			},
			errs: errs{"email invalid_email", "last_name too_long", "first_name invalid_characters", "phone invalid_phone",
				"company invalid_characters", "topic invalid_option", "message invalid_characters", "postal_code too_long", "city invalid_utf8"},
			wantLang: "de",
		},
		{
			name: "limits count characters, not bytes", def: richForm, lang: "de",
			values: url.Values{"email": {"a@example.com"}, "last_name": {strings.Repeat("ö", 200)}},
			want:   map[string]string{"email": "a@example.com", "last_name": strings.Repeat("ö", 200)}, consents: []string{}, wantLang: "de",
		},
		{
			name: "ticked phone consent needs the phone", def: richForm, lang: "de",
			values: url.Values{"email": {"a@example.com"}, "last_name": {"X"}, "sales_calls_phone": {"yes"}},
			errs:   errs{"phone required"}, wantLang: "de",
		},
		{
			name: "ticked post consent needs the whole address", def: richForm, lang: "de",
			values: url.Values{"email": {"a@example.com"}, "last_name": {"X"}, "offers_post": {"true"}, "city": {"Köln"}},
			errs:   errs{"street required", "postal_code required"}, wantLang: "de",
		},
		{
			name: "ticked post consent with address", def: richForm, lang: "de",
			values:   url.Values{"email": {"a@example.com"}, "last_name": {"X"}, "offers_post": {"TRUE"}, "street": {"Domkloster 4"}, "postal_code": {"50667"}, "city": {"Köln"}},
			want:     map[string]string{"email": "a@example.com", "last_name": "X", "street": "Domkloster 4", "postal_code": "50667", "city": "Köln"},
			consents: []string{"offers_post"}, wantLang: "de",
		},
		{
			name: "demo without the required consent", def: demo, lang: "en",
			values: url.Values{"email": {"a@example.com"}, "newsletter_email": {"off"}},
			errs:   errs{"newsletter_email consent_required"}, wantLang: "en",
		},
		{
			name: "demo signup", def: demo, lang: "",
			values: url.Values{"email": {"A@Example.com"}, "first_name": {""}, "newsletter_email": {"1"}},
			want:   map[string]string{"email": "a@example.com"}, consents: []string{"newsletter_email"}, wantLang: "de",
		},
		{
			name: "first of repeated values counts", def: demo, lang: "de",
			values: url.Values{"email": {"a@example.com", "b@example.com"}, "newsletter_email": {"1"}},
			want:   map[string]string{"email": "a@example.com"}, consents: []string{"newsletter_email"}, wantLang: "de",
		},
		{
			name: "honeypot", def: demo, lang: "de",
			values: url.Values{"email": {"a@example.com"}, "newsletter_email": {"1"}, form.HoneypotField: {"http://spam.example"}},
			want:   map[string]string{"email": "a@example.com"}, consents: []string{"newsletter_email"}, honeypot: true, wantLang: "de",
		},
		{
			name: "blank honeypot is no bot", def: demo, lang: "de",
			values: url.Values{"email": {"a@example.com"}, "newsletter_email": {"1"}, form.HoneypotField: {" "}},
			want:   map[string]string{"email": "a@example.com"}, consents: []string{"newsletter_email"}, wantLang: "de",
		},
		{
			name: "too many values", def: demo, lang: "en",
			values: func() url.Values {
				v := url.Values{"email": {"a@example.com"}}
				for i := range 100 {
					v.Set(fmt.Sprint("k", i), "x")
				}
				return v
			}(),
			errs: errs{" too_many_values"}, wantLang: "en",
		},
		{
			name: "too many repeated values", def: demo, lang: "en",
			values: url.Values{"email": make([]string, 101)},
			errs:   errs{" too_many_values"}, wantLang: "en",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.def()
			s, fes := form.Parse(d, tc.values, tc.lang)
			var got errs
			for _, e := range fes {
				got = append(got, e.Field+" "+e.Code)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.errs) {
				t.Errorf("errors\n got %q\nwant %q", got, tc.errs)
			}
			if s.Lang != tc.wantLang {
				t.Errorf("lang %q, want %q", s.Lang, tc.wantLang)
			}
			if s.Honeypot != tc.honeypot {
				t.Errorf("honeypot %v", s.Honeypot)
			}
			if tc.errs != nil {
				return
			}
			if !reflect.DeepEqual(s.Values, tc.want) {
				t.Errorf("values\n got %q\nwant %q", s.Values, tc.want)
			}
			if !reflect.DeepEqual(s.Consents, tc.consents) {
				t.Errorf("consents %q, want %q", s.Consents, tc.consents)
			}
		})
	}
}

func TestParseErrorDetails(t *testing.T) {
	d := richForm()
	_, fes := form.Parse(d, url.Values{"email": {"a@example.com"}, "last_name": {strings.Repeat("x", 300)}, "sales_calls_phone": {"on"}}, "de")
	if len(fes) != 2 {
		t.Fatalf("got %+v", fes)
	}
	if fes[0].Code != form.CodeTooLong || fes[0].Max != 200 || !strings.Contains(fes[0].MessageIn("de"), "200") {
		t.Errorf("too_long: %+v", fes[0])
	}
	if fes[1].Field != "phone" || fes[1].Consent != "sales_calls_phone" || !strings.Contains(fes[1].MessageIn("en"), "consent") {
		t.Errorf("required by consent: %+v", fes[1])
	}
}

// TestFieldErrorMessages checks that every code has its own German and
// English text, and that no submitted value ends up in a message.
func TestFieldErrorMessages(t *testing.T) {
	codes := []string{form.CodeRequired, form.CodeInvalidEmail, form.CodeInvalidPhone, form.CodeTooLong, form.CodeInvalidOption,
		form.CodeConsentRequired, form.CodeInvalidUTF8, form.CodeInvalidCharacters, form.CodeTooManyValues}
	seen := map[string]string{}
	for _, c := range codes {
		e := form.FieldError{Field: "email", Code: c, Max: 10}
		de, en := e.MessageIn("de"), e.MessageIn("en")
		if de == "" || en == "" || de == en {
			t.Errorf("%s: de %q en %q", c, de, en)
		}
		if e.MessageIn("fr") != en {
			t.Errorf("%s: other languages must get English", c)
		}
		for _, m := range []string{de, en} {
			if prev, ok := seen[m]; ok {
				t.Errorf("%s and %s share the message %q", c, prev, m)
			}
			seen[m] = c
		}
	}
	secret := "ada.secret@example.com"
	_, fes := form.Parse(richForm(), url.Values{"email": {secret + "\x00"}, "phone": {secret}, "topic": {secret}}, "en")
	for _, e := range fes {
		for _, m := range []string{e.Message, e.MessageIn("de")} {
			if strings.Contains(m, "ada.secret") {
				t.Errorf("message carries the value: %q", m)
			}
		}
	}
}
