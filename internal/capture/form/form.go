// Package form is the pure core of lead-capture forms: the form definition
// (also the import/export format), its structural validation, the form lint
// for data minimisation and consent rules, and the parser of submissions. It
// does no I/O; storage, hosted pages and double opt-in build on it.
//
// The purpose catalogue and the notice versions come in through Catalog, so
// the package does not depend on the stores that hold them.
package form

import (
	"slices"
	"strings"
)

// Languages a form can be offered in.
var Languages = []string{"de", "en"}

// Audiences a form may declare (rules §4.1 audience).
var Audiences = []string{"b2c", "b2b"}

// FieldTypes are the input types of a field.
var FieldTypes = []string{"email", "tel", "text", "textarea", "select"}

// Channels are the channels a consent can name (contactability-rules.md §1).
var Channels = []string{"email", "sms", "phone", "post", "web", "none"}

// HoneypotField is the name of the hidden field that people leave empty and
// bots fill in. No field or consent may use it.
const HoneypotField = "website"

// Limits of a definition.
const (
	MaxFields       = 50
	MaxConsents     = 20
	MaxOptions      = 100
	MaxFieldLength  = 10000
	MaxOrigins      = 20
	maxTitleLength  = 200
	maxTextLength   = 5000
	maxURLLength    = 2000
	maxOptionLength = 200
)

// Definition is a lead-capture form. The JSON names are the import/export
// format.
type Definition struct {
	Key       string            `json:"key"` // slug of /p/forms/{key}: a-z, 0-9, -
	Title     map[string]string `json:"title"`
	Intro     map[string]string `json:"intro,omitempty"`
	Languages []string          `json:"languages"` // first = default; every text needs each
	// Audience of the people who sign up: "b2c" (consumers, the default)
	// or "b2b" (contact persons of companies); the engine reasons on it.
	Audience        string            `json:"audience,omitempty"`
	MarketingSignup bool              `json:"marketing_signup"` // the form's service is the marketing itself
	ServicePurposes []string          `json:"service_purposes"` // what the form's own service needs, without consent
	Fields          []Field           `json:"fields"`
	Consents        []Consent         `json:"consents"`
	PrivacyNotice   map[string]string `json:"privacy_notice"` // language -> notice version (privacy_notice)
	Offer           *Offer            `json:"offer,omitempty"`
	AllowedOrigins  []string          `json:"allowed_origins,omitempty"` // CORS origins of the embed snippet
	Success         map[string]string `json:"success,omitempty"`         // the "check your inbox" page
}

// Field is one input of a form.
type Field struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Label     map[string]string `json:"label"`
	Required  bool              `json:"required"`
	MaxLength int               `json:"max_length,omitempty"` // 0: the type's default, see Limit
	Options   []Option          `json:"options,omitempty"`    // select only
	Purposes  []string          `json:"purposes"`             // purposes that need this field
	Category  string            `json:"category,omitempty"`   // data category; "": see DataCategory
}

// Option is one choice of a select field.
type Option struct {
	Value string            `json:"value"`
	Label map[string]string `json:"label"`
}

// Consent is one consent checkbox. Its key shares the namespace of the
// submitted values with the field names. Names and keys cannot start with
// "_", so hosted pages may use such keys for their own values.
type Consent struct {
	Key       string            `json:"key"`
	Purposes  []string          `json:"purposes"`
	Channels  []string          `json:"channels"`
	Notice    map[string]string `json:"notice"`   // language -> notice version (consent_text): the text beside the box
	Required  bool              `json:"required"` // must be ticked to submit
	PreTicked bool              `json:"pre_ticked"`
}

// Offer is the content offer (e-book, checklist) shown after confirmation.
type Offer struct {
	Title map[string]string `json:"title"`
	URL   string            `json:"url"` // https URL, or a path on this site starting with /
}

// PurposeInfo is what the form needs to know of a business purpose.
type PurposeInfo struct {
	Key, Kind                string
	DataCategories, Channels []string
}

// NoticeInfo is what the form needs to know of a notice version.
type NoticeInfo struct{ Hash, Kind, Language string }

// Catalog gives the workspace's purposes and notice versions.
type Catalog interface {
	Purpose(key string) (PurposeInfo, bool)
	Notice(hash string) (NoticeInfo, bool)
}

// PurposeLister may be implemented by a Catalog so that an unknown purpose
// is reported together with the keys that would have been accepted.
type PurposeLister interface {
	PurposeKeys() []string
}

// Notice kinds the form refers to.
const (
	NoticeKindConsentText   = "consent_text"
	NoticeKindPrivacyNotice = "privacy_notice"
)

var defaultMaxLength = map[string]int{"email": 254, "tel": 32, "text": 200, "textarea": 5000, "select": maxOptionLength}

// Limit is the maximum length of the field's value in characters.
func (f Field) Limit() int {
	if f.MaxLength > 0 {
		return f.MaxLength
	}
	return defaultMaxLength[f.Type]
}

var defaultCategory = map[string]string{
	"email": "email", "phone": "phone",
	"first_name": "name", "last_name": "name",
	"company": "organization", "job_title": "organization",
	"street": "postal_address", "postal_code": "postal_address", "city": "postal_address", "country": "postal_address",
}

// DataCategory is the field's data category: Category, or the default for
// its name ("custom" for names without one).
func (f Field) DataCategory() string {
	if f.Category != "" {
		return f.Category
	}
	if c, ok := defaultCategory[f.Name]; ok {
		return c
	}
	return "custom"
}

// addressParts are the fields that together make a postal address.
var addressParts = []string{"street", "postal_code", "city"}

// channelFields returns the indexes of the fields a consent on the channel
// needs to reach the person, and whether all of them (post) or one of them
// (email, sms, phone) must be filled in. Channels without a contact point
// (web, none) need none.
func (d Definition) channelFields(channel string) (idx []int, all bool) {
	switch channel {
	case "email":
		for i, f := range d.Fields {
			if f.Type == "email" {
				idx = append(idx, i)
			}
		}
	case "sms", "phone":
		for i, f := range d.Fields {
			if f.Type == "tel" {
				idx = append(idx, i)
			}
		}
	case "post":
		// An address is either the three well-known parts or one field
		// declared as a whole postal address (e.g. a textarea "address").
		for _, part := range addressParts {
			i := d.fieldIndex(part)
			if i < 0 {
				idx = nil
				break
			}
			idx = append(idx, i)
		}
		if idx != nil {
			return idx, true
		}
		for i, f := range d.Fields {
			if f.DataCategory() == "postal_address" && !slices.Contains(addressParts, f.Name) && f.Name != "country" {
				return []int{i}, false
			}
		}
	}
	return idx, false
}

func (d Definition) fieldIndex(name string) int {
	return slices.IndexFunc(d.Fields, func(f Field) bool { return f.Name == name })
}

// needsContactPoint reports whether a consent on the channel is only
// meaningful with a contact point on the form.
func needsContactPoint(channel string) bool {
	switch channel {
	case "email", "sms", "phone", "post":
		return true
	}
	return false
}

// lang returns lang if it is one of the form's languages, else the default.
// A regional tag counts as its language ("de-AT" is "de"), since callers
// may pass what a browser asked for.
func (d Definition) lang(lang string) string {
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	lang = strings.ToLower(lang)
	if slices.Contains(d.Languages, lang) || len(d.Languages) == 0 {
		return lang
	}
	return d.Languages[0]
}
