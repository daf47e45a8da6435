package form

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/validate"
)

var (
	keyRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	categoryRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)
)

// wellKnownTypes pins the type of the fields that contact points are read
// from, so the e-mail address a double opt-in confirms is always normalised
// as one.
var wellKnownTypes = map[string]string{"email": "email", "phone": "tel"}

// Validate checks the structure of a definition against the workspace's
// catalogue and returns the first problem as a *validate.Error naming the
// field path (e.g. "fields[2].type"), a code and, where there is a closed
// set, the allowed values. Codes: required, invalid_value, unknown_purpose,
// duplicate, reserved, too_many, channel_not_allowed. A definition that fails must not
// be saved. Validate says nothing about whether the form is lawful; that is
// Lint's job.
func Validate(d Definition, c Catalog) error {
	v := validator{c: c}
	if !keyRE.MatchString(d.Key) {
		return invalid("key", "key must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit")
	}
	if len(d.Languages) == 0 {
		return &validate.Error{Field: "languages", Code: "required", Allowed: Languages,
			Message: "languages is required: at least one of " + strings.Join(Languages, ", ")}
	}
	for i, l := range d.Languages {
		p := index("languages", i)
		if !slices.Contains(Languages, l) {
			return validate.OneOf(p, l, Languages)
		}
		if slices.Index(d.Languages, l) != i {
			return duplicate(p, fmt.Sprintf("language %q is listed twice", l))
		}
	}
	if d.Audience != "" && d.Audience != "b2c" && d.Audience != "b2b" {
		return validate.OneOf("audience", d.Audience, Audiences)
	}
	langs := d.Languages
	if err := texts("title", d.Title, langs, true, maxTitleLength, false); err != nil {
		return err
	}
	if err := texts("intro", d.Intro, langs, false, maxTextLength, true); err != nil {
		return err
	}
	if err := v.purposes("service_purposes", d.ServicePurposes); err != nil {
		return err
	}
	if len(d.Fields) > MaxFields {
		return tooMany("fields", MaxFields)
	}
	for i, f := range d.Fields {
		if err := v.field(d, i, f); err != nil {
			return err
		}
	}
	if len(d.Consents) > MaxConsents {
		return tooMany("consents", MaxConsents)
	}
	for i, cs := range d.Consents {
		if err := v.consent(d, i, cs); err != nil {
			return err
		}
	}
	if err := hashes("privacy_notice", d.PrivacyNotice, langs); err != nil {
		return err
	}
	if d.Offer != nil {
		if err := texts("offer.title", d.Offer.Title, langs, true, maxTitleLength, false); err != nil {
			return err
		}
		if err := offerURL("offer.url", d.Offer.URL); err != nil {
			return err
		}
	}
	if len(d.AllowedOrigins) > MaxOrigins {
		return tooMany("allowed_origins", MaxOrigins)
	}
	for i, o := range d.AllowedOrigins {
		p := index("allowed_origins", i)
		if err := origin(p, o); err != nil {
			return err
		}
		if slices.Index(d.AllowedOrigins, o) != i {
			return duplicate(p, fmt.Sprintf("origin %q is listed twice", o))
		}
	}
	return texts("success", d.Success, langs, false, maxTextLength, true)
}

type validator struct{ c Catalog }

func (v validator) field(d Definition, i int, f Field) error {
	p := index("fields", i)
	if !nameRE.MatchString(f.Name) {
		return invalid(p+".name", p+".name must be 1-40 characters of a-z, 0-9 and _, starting with a letter")
	}
	if f.Name == HoneypotField {
		return reserved(p + ".name")
	}
	if d.fieldIndex(f.Name) != i {
		return duplicate(p+".name", fmt.Sprintf("field name %q is used twice", f.Name))
	}
	if !slices.Contains(FieldTypes, f.Type) {
		return validate.OneOf(p+".type", f.Type, FieldTypes)
	}
	if want, ok := wellKnownTypes[f.Name]; ok && f.Type != want {
		return &validate.Error{Field: p + ".type", Code: "invalid_value", Allowed: []string{want},
			Message: fmt.Sprintf("%s.type of the field %q must be %q (got %q)", p, f.Name, want, f.Type)}
	}
	if err := texts(p+".label", f.Label, d.Languages, true, maxTitleLength, false); err != nil {
		return err
	}
	maxLen := MaxFieldLength
	if f.Type == "email" {
		maxLen = defaultMaxLength["email"]
	}
	if f.MaxLength < 0 || f.MaxLength > maxLen {
		return invalid(p+".max_length", fmt.Sprintf("%s.max_length must be between 1 and %d, or 0 for the default of %d", p, maxLen, defaultMaxLength[f.Type]))
	}
	if f.Type != "select" && len(f.Options) > 0 {
		return invalid(p+".options", p+".options are only allowed for fields of type select")
	}
	if f.Type == "select" && len(f.Options) == 0 {
		return &validate.Error{Field: p + ".options", Code: "required", Message: p + ".options is required: a select field needs at least one option"}
	}
	if len(f.Options) > MaxOptions {
		return tooMany(p+".options", MaxOptions)
	}
	for j, o := range f.Options {
		op := index(p+".options", j)
		if o.Value == "" {
			return validate.Required(op + ".value")
		}
		if err := plain(op+".value", o.Value, f.Limit(), false); err != nil {
			return err
		}
		if o.Value != strings.TrimSpace(o.Value) {
			return invalid(op+".value", op+".value must not start or end with spaces")
		}
		if slices.IndexFunc(f.Options, func(x Option) bool { return x.Value == o.Value }) != j {
			return duplicate(op+".value", fmt.Sprintf("option value %q is used twice", o.Value))
		}
		if err := texts(op+".label", o.Label, d.Languages, true, maxTitleLength, false); err != nil {
			return err
		}
	}
	if err := v.purposes(p+".purposes", f.Purposes); err != nil {
		return err
	}
	if f.Category != "" && !categoryRE.MatchString(f.Category) {
		return invalid(p+".category", p+".category must be 2-63 characters of a-z, 0-9 and _ such as postal_address")
	}
	return nil
}

func (v validator) consent(d Definition, i int, c Consent) error {
	p := index("consents", i)
	if !nameRE.MatchString(c.Key) {
		return invalid(p+".key", p+".key must be 1-40 characters of a-z, 0-9 and _, starting with a letter")
	}
	if c.Key == HoneypotField {
		return reserved(p + ".key")
	}
	if slices.IndexFunc(d.Consents, func(x Consent) bool { return x.Key == c.Key }) != i {
		return duplicate(p+".key", fmt.Sprintf("consent key %q is used twice", c.Key))
	}
	if d.fieldIndex(c.Key) >= 0 {
		return duplicate(p+".key", fmt.Sprintf("consent key %q is already the name of a field; checkboxes and fields share one namespace", c.Key))
	}
	if len(c.Purposes) == 0 {
		return validate.Required(p + ".purposes")
	}
	if err := v.purposes(p+".purposes", c.Purposes); err != nil {
		return err
	}
	if len(c.Channels) == 0 {
		return &validate.Error{Field: p + ".channels", Code: "required", Allowed: Channels,
			Message: p + ".channels is required: one of " + strings.Join(Channels, ", ")}
	}
	for j, ch := range c.Channels {
		cp := index(p+".channels", j)
		if !slices.Contains(Channels, ch) {
			return validate.OneOf(cp, ch, Channels)
		}
		if slices.Index(c.Channels, ch) != j {
			return duplicate(cp, fmt.Sprintf("channel %q is listed twice", ch))
		}
		for _, key := range c.Purposes {
			pi, _ := v.c.Purpose(key)
			if !slices.Contains(pi.Channels, ch) {
				return &validate.Error{Field: cp, Code: "channel_not_allowed", Allowed: slices.Clone(pi.Channels),
					Message: fmt.Sprintf("purpose %q does not allow channel %q; allowed: %s", key, ch, strings.Join(pi.Channels, ", "))}
			}
		}
	}
	return hashes(p+".notice", c.Notice, d.Languages)
}

// purposes checks a list of purpose keys against the catalogue.
func (v validator) purposes(path string, keys []string) error {
	for i, k := range keys {
		p := index(path, i)
		if v.c == nil {
			return &validate.Error{Field: p, Code: "unknown_purpose", Message: fmt.Sprintf("unknown purpose %q", k)}
		}
		if _, ok := v.c.Purpose(k); !ok {
			if l, ok := v.c.(PurposeLister); ok {
				e := validate.OneOf(p, k, l.PurposeKeys())
				e.Code = "unknown_purpose"
				return e
			}
			return &validate.Error{Field: p, Code: "unknown_purpose",
				Message: fmt.Sprintf("unknown purpose %q; add it to the workspace's purposes first", k)}
		}
		if slices.Index(keys, k) != i {
			return duplicate(p, fmt.Sprintf("purpose %q is listed twice", k))
		}
	}
	return nil
}

// texts checks a per-language text: only form languages as keys, and with
// required a non-empty text for every form language.
func texts(path string, m map[string]string, langs []string, required bool, max int, multiline bool) error {
	if err := onlyLanguages(path, m, langs); err != nil {
		return err
	}
	for _, l := range langs {
		s, ok := m[l]
		p := path + "." + l
		if strings.TrimSpace(s) == "" {
			if required {
				return &validate.Error{Field: p, Code: "required", Message: fmt.Sprintf("%s is required: every form language (%s) needs a text", p, strings.Join(langs, ", "))}
			}
			if ok && s != "" {
				return invalid(p, p+" must not be blank; leave it out instead")
			}
			continue
		}
		if err := plain(p, s, max, multiline); err != nil {
			return err
		}
	}
	return nil
}

// hashes checks a language -> notice version map. A missing language is a
// lint finding, not a structural error, so that a form can be saved while
// its notices are still being written.
func hashes(path string, m map[string]string, langs []string) error {
	if err := onlyLanguages(path, m, langs); err != nil {
		return err
	}
	for _, l := range langs {
		if h := m[l]; h != "" && !validHash(h) {
			return invalid(path+"."+l, path+"."+l+" must be a notice version: 64 lower-case hexadecimal characters")
		}
	}
	return nil
}

func onlyLanguages(path string, m map[string]string, langs []string) error {
	var extra []string
	for k := range m {
		if !slices.Contains(langs, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	k := extra[0]
	e := validate.OneOf(path+"."+k, k, slices.Clone(langs))
	e.Message = fmt.Sprintf("language must be one of the form's languages %s (got %q)", strings.Join(langs, ", "), k)
	return e
}

// plain checks that s is valid UTF-8 without control characters (newlines
// and tabs only where multiline) and at most max characters long.
func plain(path, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return invalid(path, path+" must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return invalid(path, path+" must not contain control characters")
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(path, fmt.Sprintf("%s must have at most %d characters (has %d)", path, max, n))
	}
	return nil
}

func offerURL(path, s string) error {
	if s == "" {
		return validate.Required(path)
	}
	bad := invalid(path, path+` must be an https:// URL or a path starting with "/"`)
	if len(s) > maxURLLength || strings.ContainsAny(s, "\\ ") || plain(path, s, maxURLLength, false) != nil {
		return bad
	}
	if strings.HasPrefix(s, "/") {
		// "//host" would leave the site (protocol-relative URL).
		if strings.HasPrefix(s, "//") {
			return bad
		}
		if _, err := url.Parse(s); err != nil {
			return bad
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return bad
	}
	return nil
}

// origin checks a CORS origin. It must be exactly what a browser sends in
// the Origin header (scheme, lower-case host, optional port), since origins
// are compared as strings.
func origin(path, s string) error {
	bad := invalid(path, fmt.Sprintf(`%s must be an origin such as "https://www.example.com" or "https://www.example.com:8443" (got %q)`, path, s))
	if plain(path, s, maxURLLength, false) != nil {
		return bad
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") ||
		u.String() != s || strings.ToLower(s) != s {
		return bad
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.ContainsAny(host, " %") {
		return bad
	}
	if strings.Contains(u.Host, ":") && !strings.HasSuffix(u.Host, "]") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port || n == 443 {
			return bad
		}
	}
	return nil
}

func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func invalid(field, msg string) *validate.Error { return validate.Invalid(field, msg) }

func duplicate(field, msg string) *validate.Error {
	return &validate.Error{Field: field, Code: "duplicate", Message: msg}
}

func reserved(field string) *validate.Error {
	return &validate.Error{Field: field, Code: "reserved",
		Message: fmt.Sprintf("%q is reserved for the spam trap of hosted forms", HoneypotField)}
}

func tooMany(field string, max int) *validate.Error {
	return &validate.Error{Field: field, Code: "too_many", Message: fmt.Sprintf("at most %d allowed", max)}
}
