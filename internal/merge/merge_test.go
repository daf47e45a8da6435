package merge

import (
	"errors"
	"html"
	"testing"

	"github.com/fairlead/fairlead/internal/validate"
)

var allowed = []string{"first_name", "last_name", "organization", "contact.city"}

func TestExecute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text, want string
		fields     []string
	}{
		{"Hallo {{first_name}} {{ last_name }},", "Hallo Jürgen Groß,", []string{"first_name", "last_name"}},
		{"no fields", "no fields", nil},
		{"{{organization}}", "Müller & Söhne", []string{"organization"}},
		{"{{first_name}}{{first_name}} in {{contact.city}}", "JürgenJürgen in ", []string{"first_name", "contact.city"}},
		{"a } b { c", "a } b { c", nil},
	} {
		tpl, err := Parse("body", tc.text, allowed)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		got := tpl.Execute(map[string]string{"first_name": "Jürgen", "last_name": "Groß", "organization": "Müller & Söhne"}, nil)
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.text, got, tc.want)
		}
		if f := tpl.Fields(); len(f) != len(tc.fields) || (len(f) > 0 && f[0] != tc.fields[0]) {
			t.Errorf("%q: fields %v, want %v", tc.text, f, tc.fields)
		}
	}
}

func TestEscapeOnlyValues(t *testing.T) {
	t.Parallel()
	tpl, err := Parse("html", "<p>{{organization}}</p>", allowed)
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Execute(map[string]string{"organization": "<b>&</b>"}, html.EscapeString)
	if want := "<p>&lt;b&gt;&amp;&lt;/b&gt;</p>"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, code string }{
		{"Hallo {{frist_name}}", "unknown_merge_field"},
		{"Hallo {{first_name", "unclosed_merge_field"},
		{"Hallo {{}}", "invalid_merge_field"},
		{"Hallo {{First}}", "invalid_merge_field"},
		{"Hallo {{first name}}", "invalid_merge_field"},
	} {
		_, err := Parse("subject", tc.text, allowed)
		var ve *validate.Error
		if !errors.As(err, &ve) {
			t.Fatalf("%q: got %v, want a validate.Error", tc.text, err)
		}
		if ve.Field != "subject" || ve.Code != tc.code {
			t.Errorf("%q: got field %q code %q, want subject %s", tc.text, ve.Field, ve.Code, tc.code)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Hallo {{first_name}}", "{{", "}}{{a}}", "{{ contact.city }}x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := Parse("body", s, allowed)
		if err != nil {
			return
		}
		// Without values, executing must give back the text minus the references.
		_ = tpl.Execute(nil, nil)
		for _, name := range tpl.Fields() {
			if !validName(name) {
				t.Fatalf("accepted field %q", name)
			}
		}
	})
}
