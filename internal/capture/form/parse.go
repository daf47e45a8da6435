package form

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/contact/contactpoint"
)

// FieldError codes of Parse.
const (
	CodeRequired          = "required"
	CodeInvalidEmail      = "invalid_email"
	CodeInvalidPhone      = "invalid_phone"
	CodeTooLong           = "too_long"
	CodeInvalidOption     = "invalid_option"
	CodeConsentRequired   = "consent_required"
	CodeInvalidUTF8       = "invalid_utf8"
	CodeInvalidCharacters = "invalid_characters"
	CodeTooManyValues     = "too_many_values"
)

// MaxValues is the most form values Parse looks at. Hosted pages send the
// fields, the checkboxes, the spam trap and a few keys of their own.
const MaxValues = 100

// Submission is a parsed, normalised form submission.
type Submission struct {
	// Lang is the language to answer in: one of the form's languages.
	Lang string
	// Values holds the non-empty fields by name: trimmed, e-mail addresses
	// and phone numbers normalised (contactpoint), select values as the
	// option value.
	Values map[string]string
	// Consents are the keys of the ticked checkboxes, in definition order.
	Consents []string
	// Honeypot is set when the spam trap was filled in: the caller should
	// answer as if the submission succeeded and store nothing.
	Honeypot bool
}

// FieldError is one problem of a submission. Field is a field name or a
// consent key ("" for the submission as a whole). The message carries no
// submitted value, so it may be logged.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Max is the length limit of a too_long error.
	Max int `json:"max,omitempty"`
	// Consent is set on a required error for a field that is optional on
	// its own but needed by a ticked checkbox: the key of that checkbox.
	Consent string `json:"consent,omitempty"`
}

// Parse reads a submission of the form from v (the parsed POST body). lang
// is the language asked for ("de", "en", or a regional tag such as
// "de-AT"); when it is not one of the form's languages the form's first
// language is used. Keys that are not fields or checkboxes are
// ignored, but more than MaxValues values in all are refused. Errors come in
// definition order (fields, then checkboxes); with errors, the Submission
// holds Lang and what could be parsed, for showing the form again, and must
// not be stored.
//
// A checkbox counts as ticked when its value is "1", "on", "yes" or "true".
// A field that is optional on its own becomes required when a ticked
// checkbox needs it to reach the person: the e-mail field for an email
// consent, the tel field for sms or phone, the address for post. A consent
// without its contact point could neither be confirmed nor used.
func Parse(d Definition, v url.Values, lang string) (Submission, []FieldError) {
	s := Submission{Lang: d.lang(lang), Values: map[string]string{}, Consents: []string{}}
	n := len(v)
	for _, vs := range v {
		n += max(len(vs)-1, 0)
	}
	if n > MaxValues {
		return s, []FieldError{newError("", CodeTooManyValues)}
	}
	s.Honeypot = strings.TrimSpace(first(v, HoneypotField)) != ""

	ticked := make([]bool, len(d.Consents))
	neededBy := make([]string, len(d.Fields))
	for i, c := range d.Consents {
		ticked[i] = isTicked(first(v, c.Key))
		if !ticked[i] {
			continue
		}
		for _, ch := range c.Channels {
			idx, all := d.channelFields(ch)
			if all {
				for _, j := range idx {
					if neededBy[j] == "" {
						neededBy[j] = c.Key
					}
				}
				continue
			}
			if len(idx) > 0 && !slices.ContainsFunc(idx, func(j int) bool { return strings.TrimSpace(first(v, d.Fields[j].Name)) != "" }) {
				if neededBy[idx[0]] == "" {
					neededBy[idx[0]] = c.Key
				}
			}
		}
	}

	var errs []FieldError
	for i, f := range d.Fields {
		val, code := parseValue(f, first(v, f.Name))
		switch {
		case code == CodeRequired && (f.Required || neededBy[i] != ""):
			e := newError(f.Name, code)
			if !f.Required {
				e.Consent = neededBy[i]
				e.Message = e.MessageIn("en")
			}
			errs = append(errs, e)
		case code == CodeTooLong:
			e := FieldError{Field: f.Name, Code: code, Max: f.Limit()}
			e.Message = e.MessageIn("en")
			errs = append(errs, e)
		case code == CodeRequired:
		case code != "":
			errs = append(errs, newError(f.Name, code))
		default:
			s.Values[f.Name] = val
		}
	}
	for i, c := range d.Consents {
		switch {
		case ticked[i]:
			s.Consents = append(s.Consents, c.Key)
		case c.Required:
			errs = append(errs, newError(c.Key, CodeConsentRequired))
		}
	}
	return s, errs
}

// parseValue checks and normalises one value. An empty value gives
// CodeRequired; the caller decides whether that matters.
func parseValue(f Field, raw string) (string, string) {
	if !utf8.ValidString(raw) {
		return "", CodeInvalidUTF8
	}
	multiline := f.Type == "textarea"
	if multiline {
		// Browsers send textarea line breaks as CRLF (HTML form encoding).
		raw = strings.ReplaceAll(raw, "\r\n", "\n")
		raw = strings.ReplaceAll(raw, "\r", "\n")
	}
	val := strings.TrimSpace(raw)
	if val == "" {
		return "", CodeRequired
	}
	// Counting bytes first keeps a huge value from being walked rune by rune.
	limit := f.Limit()
	if len(val) > limit && (len(val) > 4*limit || utf8.RuneCountInString(val) > limit) {
		return "", CodeTooLong
	}
	for _, r := range val {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return "", CodeInvalidCharacters
		}
	}
	switch f.Type {
	case "email":
		e, err := contactpoint.Email(val)
		if err != nil {
			return "", CodeInvalidEmail
		}
		return e, ""
	case "tel":
		p, err := contactpoint.Phone(val)
		if err != nil {
			return "", CodeInvalidPhone
		}
		return p, ""
	case "select":
		if !slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == val }) {
			return "", CodeInvalidOption
		}
	}
	return val, ""
}

func first(v url.Values, key string) string {
	if vs := v[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func isTicked(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "on", "yes", "true":
		return true
	}
	return false
}

func newError(field, code string) FieldError {
	e := FieldError{Field: field, Code: code}
	e.Message = e.MessageIn("en")
	return e
}

// MessageIn returns the message for the person filling in the form, in
// lang ("de"; English otherwise).
func (e FieldError) MessageIn(lang string) string {
	de := lang == "de"
	pick := func(deText, enText string) string {
		if de {
			return deText
		}
		return enText
	}
	switch e.Code {
	case CodeRequired:
		if e.Consent != "" {
			return pick("Bitte füllen Sie dieses Feld aus: die angekreuzte Einwilligung braucht es, um Sie zu erreichen.",
				"Please fill in this field: the consent you ticked needs it to reach you.")
		}
		return pick("Bitte füllen Sie dieses Feld aus.", "Please fill in this field.")
	case CodeInvalidEmail:
		return pick("Bitte geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel name@example.com.",
			"Please enter a valid e-mail address such as name@example.com.")
	case CodeInvalidPhone:
		return pick("Bitte geben Sie eine Telefonnummer mit 5 bis 15 Ziffern ein, gern mit + und Ländervorwahl.",
			"Please enter a phone number of 5 to 15 digits, optionally starting with + and the country code.")
	case CodeTooLong:
		n := strconv.Itoa(e.Max)
		return pick("Bitte kürzen Sie Ihre Eingabe auf höchstens "+n+" Zeichen.",
			"Please shorten your entry to at most "+n+" characters.")
	case CodeInvalidOption:
		return pick("Bitte wählen Sie eine der angebotenen Möglichkeiten.", "Please choose one of the options offered.")
	case CodeConsentRequired:
		return pick("Bitte kreuzen Sie dieses Kästchen an, um fortzufahren.", "Please tick this box to continue.")
	case CodeInvalidUTF8:
		return pick("Die Eingabe ist kein gültiger Text (UTF-8).", "The entry is not valid text (UTF-8).")
	case CodeInvalidCharacters:
		return pick("Die Eingabe enthält Steuerzeichen; bitte entfernen Sie sie.", "The entry contains control characters; please remove them.")
	case CodeTooManyValues:
		return pick("Das Formular wurde mit zu vielen Werten gesendet.", "The form was sent with too many values.")
	}
	return pick("Die Eingabe ist ungültig.", "The entry is not valid.")
}
