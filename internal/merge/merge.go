// Package merge fills merge fields ({{first_name}}) into the texts of letters
// and e-mails. A template is parsed once, when it is saved, against the
// fields its use offers, so an unknown field is refused at save time instead
// of printing "{{frist_name}}" into ten thousand letters.
package merge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fairlead/fairlead/internal/validate"
)

// Template is a parsed text: literal parts and field references alternate.
type Template struct {
	parts  []string // literal text; len(parts) == len(fields)+1
	fields []string
}

// Parse reads text, in which {{ name }} refers to a merge field. field names
// the input for errors (e.g. "body"); allowed are the merge fields the use
// offers. "{{" that is not followed by a well-formed reference is an error
// too, so a typo never reaches the printed letter.
func Parse(field, text string, allowed []string) (*Template, error) {
	t := &Template{}
	rest := text
	var lit strings.Builder
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			lit.WriteString(rest)
			break
		}
		lit.WriteString(rest[:i])
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, &validate.Error{Field: field, Code: "unclosed_merge_field",
				Message: fmt.Sprintf("%s: a merge field opened with {{ is not closed with }}", field)}
		}
		name := strings.TrimSpace(rest[i+2 : i+2+j])
		if !validName(name) {
			return nil, &validate.Error{Field: field, Code: "invalid_merge_field", Allowed: allowed,
				Message: fmt.Sprintf("%s: %q is not a merge field name (use one of %s)", field, name, strings.Join(allowed, ", "))}
		}
		if !slices.Contains(allowed, name) {
			return nil, &validate.Error{Field: field, Code: "unknown_merge_field", Allowed: allowed,
				Message: fmt.Sprintf("%s: unknown merge field %q (allowed: %s)", field, name, strings.Join(allowed, ", "))}
		}
		t.parts = append(t.parts, lit.String())
		lit.Reset()
		t.fields = append(t.fields, name)
		rest = rest[i+2+j+2:]
	}
	t.parts = append(t.parts, lit.String())
	return t, nil
}

func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Fields lists the fields the template uses, each once, in order of first use.
func (t *Template) Fields() []string {
	var out []string
	for _, f := range t.fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Execute fills in values; a field without a value becomes empty. escape,
// when not nil, is applied to every value (HTML bodies), never to the
// template's own text.
func (t *Template) Execute(values map[string]string, escape func(string) string) string {
	var b strings.Builder
	for i, f := range t.fields {
		b.WriteString(t.parts[i])
		v := values[f]
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
	}
	b.WriteString(t.parts[len(t.parts)-1])
	return b.String()
}
