package consentrecord

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
)

// Input is everything the ledger knows about one consent: one person, one
// business purpose, the channels it covers, and the events in the order they
// happened. It deliberately mirrors the ledger in plain types so that this
// package does not depend on how the ledger stores anything.
type Input struct {
	// RecordID identifies the consent record (a UUID, as ISO/IEC TS 27560
	// recommends). It stays the same across versions of the record.
	RecordID string `json:"record_id"`
	// Version counts changes to the record, starting at 1.
	Version int `json:"version"`
	// CreatedAt and UpdatedAt are when the record was created and last
	// changed; UpdatedAt defaults to CreatedAt.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// ReceiptID identifies the receipt (a UUID). Empty means derived from
	// RecordID and Version, so the same record version always gives the
	// same receipt.
	ReceiptID string `json:"receipt_id,omitempty"`
	// IssuedAt is when the receipt is issued; defaults to UpdatedAt so the
	// output stays deterministic.
	IssuedAt time.Time `json:"issued_at"`

	Controller Controller `json:"controller"`
	Subject    Subject    `json:"subject"`
	Purpose    Purpose    `json:"purpose"`
	// Channels the consent covers: email, sms, phone, post, web.
	Channels []string `json:"channels"`
	// Jurisdictions as DPV location concepts, e.g. "loc:DE".
	Jurisdictions []string `json:"jurisdictions"`
	// ApplicableLaws, e.g. the GDPR ("eu-gdpr:GDPR") and UWG § 7a.
	ApplicableLaws []Law `json:"applicable_laws,omitempty"`
	// Storage is where and how long the personal data are kept.
	Storage Storage `json:"storage"`
	// Recipients other than the controller (processors, third parties).
	Recipients []Recipient `json:"recipients,omitempty"`
	// WithdrawURL is where the person withdraws or changes the consent
	// (preference center).
	WithdrawURL string `json:"withdraw_url"`
	// RightsURL is where the person exercises their data protection rights.
	RightsURL string `json:"rights_url"`
	// Rights as DPV concepts; empty means the GDPR rights relevant to a
	// consent (Art. 7(3), 15–18, 20, 21).
	Rights []string `json:"rights,omitempty"`
	// Events in the order they happened.
	Events []Event `json:"events"`
	// Status is the current state as the ledger sees it; it must agree with
	// Events.
	Status Status `json:"status"`
}

// Party is an organisation named in the record. ISO/IEC TS 27560 requires
// name, identifier, contact and postal address for every party other than the
// data subject.
type Party struct {
	// ID is an IRI identifying the party.
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Address Address `json:"address"`
	// At least one of Email, Phone and URL is the contact point.
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Controller is the data controller. ID defaults to ImprintURL, which in
// Germany is the legally required place identifying the business (§ 5 DDG).
type Controller struct {
	Party
	ImprintURL string `json:"imprint_url"`
}

// Recipient is a further recipient of the data.
type Recipient struct {
	Party
	// Role is "processor" or "third_party".
	Role string `json:"role"`
}

// Address is a postal address; Country is ISO 3166-1 alpha-2 (e.g. "DE").
type Address struct {
	Street     string `json:"street"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

// Subject identifies the person pseudonymously: the contact's UUID, never
// the e-mail address or phone number, so an exported record does not itself
// disclose who the person is.
type Subject struct {
	ContactID string `json:"contact_id"`
}

// Purpose is the business purpose the consent is for.
type Purpose struct {
	Key           string `json:"key"`
	DescriptionDE string `json:"description_de"`
	DescriptionEN string `json:"description_en"`
	// Kind is the legal purpose kind (direct_marketing, analytics,
	// personalization); it selects the DPV purpose category.
	Kind string `json:"kind"`
	// DPVPurpose overrides the DPV purpose category, e.g. "dpv:Advertising".
	DPVPurpose string `json:"dpv_purpose,omitempty"`
	// LawfulBasis: art6_1_a, or art9_2_a for special categories.
	LawfulBasis string `json:"lawful_basis"`
	// ConsentType is "expressed" (default) or "explicit".
	ConsentType    string         `json:"consent_type,omitempty"`
	DataCategories []DataCategory `json:"data_categories"`
}

// DataCategory is a category of personal data. Concept is a DPV personal
// data concept; it defaults from Key for name, email, phone and
// postal_address and is required otherwise.
type DataCategory struct {
	Key     string `json:"key"`
	Concept string `json:"concept,omitempty"`
}

// Law is a law applying to the processing.
type Law struct {
	// IRI identifies the law, e.g. "eu-gdpr:GDPR" or the URL of a section.
	IRI   string `json:"iri"`
	Title string `json:"title,omitempty"`
}

// Storage describes where the data are stored and for how long; both are
// mandatory in ISO/IEC TS 27560.
type Storage struct {
	// Locations as DPV location concepts, e.g. "loc:DE".
	Locations []string `json:"locations"`
	// Retention is an ISO 8601 period (e.g. "P5Y").
	Retention string `json:"retention"`
	// RetentionNote says from when the period runs.
	RetentionNote string `json:"retention_note,omitempty"`
}

// EventKind is what happened to the consent.
type EventKind string

// Event kinds.
const (
	EventRequested EventKind = "requested"
	EventConfirmed EventKind = "confirmed"
	EventWithdrawn EventKind = "withdrawn"
)

// Method is how an event was expressed. It is written as
// dpv:hasIndicationMethod.
type Method string

// Methods for requesting and giving consent.
const (
	MethodEmailDOI       Method = "email_doi"
	MethodSMSDOI         Method = "sms_doi"
	MethodWritten        Method = "written"
	MethodVoiceRecording Method = "voice_recording"
	MethodConsentBanner  Method = "consent_banner"
)

// Methods for withdrawing consent (written and voice_recording apply too).
const (
	MethodUnsubscribeLink  Method = "unsubscribe_link"
	MethodPreferenceCenter Method = "preference_center"
	MethodEmailReply       Method = "email_reply"
	MethodPhoneCall        Method = "phone_call"
)

// Status is the current consent state.
type Status string

// Statuses.
const (
	StatusPending   Status = "pending"
	StatusGiven     Status = "given"
	StatusWithdrawn Status = "withdrawn"
)

// Event is one entry of the consent's history with its evidence.
type Event struct {
	Kind EventKind `json:"kind"`
	At   time.Time `json:"at"`
	// Method says how the event was expressed (email_doi, …).
	Method Method `json:"method"`
	// Notice is the notice version shown; required for requested and
	// confirmed.
	Notice Notice `json:"notice"`
	// TextShown is the exact consent text shown next to the checkbox or
	// read out on the phone.
	TextShown string `json:"text_shown,omitempty"`
	// Source is the form or API client the event came through; required for
	// requested and confirmed.
	Source Source `json:"source"`
	// RecordedBy is who entered the event into the ledger (user, token or
	// "system").
	RecordedBy string `json:"recorded_by"`
	// ValidFor is how long the event is valid as an ISO 8601 period (e.g.
	// "P7D" for a double opt-in link); empty means until the next event.
	ValidFor string `json:"valid_for,omitempty"`
}

// Notice identifies one immutable version of a notice.
type Notice struct {
	VersionID string `json:"version_id"`
	// SHA256 is the ledger's version hash, 64 lower-case hex digits.
	SHA256   string `json:"sha256"`
	URL      string `json:"url"`
	Language string `json:"language"`
}

func (n Notice) empty() bool { return n == Notice{} }

// Source is where an event came from.
type Source struct {
	// Kind is "form", "api_client" or "manual".
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// FieldError is one problem with the input.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

var (
	knownChannels    = []string{"email", "sms", "phone", "post", "web"}
	knownSourceKinds = []string{"form", "api_client", "manual"}
	consentMethods   = []Method{MethodEmailDOI, MethodSMSDOI, MethodWritten, MethodVoiceRecording, MethodConsentBanner}
	withdrawMethods  = []Method{MethodUnsubscribeLink, MethodPreferenceCenter, MethodEmailReply, MethodPhoneCall, MethodWritten, MethodVoiceRecording}
)

// Validate checks the input and returns every problem found, joined; each is
// a *FieldError. Record and Receipt call it first, so an incomplete ledger
// entry never becomes a record that claims conformance.
func (in Input) Validate() error {
	v := &validator{}
	v.uuid("record_id", in.RecordID)
	if in.Version < 1 {
		v.add("version", "must be 1 or more")
	}
	if in.CreatedAt.IsZero() {
		v.add("created_at", "is required")
	}
	if !in.UpdatedAt.IsZero() && in.UpdatedAt.Before(in.CreatedAt) {
		v.add("updated_at", "is before created_at")
	}
	if !in.IssuedAt.IsZero() && in.IssuedAt.Before(in.CreatedAt) {
		v.add("issued_at", "is before created_at")
	}
	if in.ReceiptID != "" {
		v.uuid("receipt_id", in.ReceiptID)
	}

	v.party("controller", in.Controller.Party, in.Controller.ImprintURL != "")
	v.url("controller.imprint_url", in.Controller.ImprintURL, true)

	if strings.Contains(in.Subject.ContactID, "@") {
		v.add("subject.contact_id", "must be the pseudonymous contact UUID, not an e-mail address")
	} else {
		v.uuid("subject.contact_id", in.Subject.ContactID)
	}

	p := in.Purpose
	v.required("purpose.key", p.Key)
	v.required("purpose.description_de", p.DescriptionDE)
	v.required("purpose.description_en", p.DescriptionEN)
	if p.DPVPurpose == "" {
		if _, ok := purposeKinds[p.Kind]; !ok {
			v.add("purpose.kind", fmt.Sprintf("unknown or not consent-based kind %q (want one of %s, or set dpv_purpose)", p.Kind, keys(purposeKinds)))
		}
	} else {
		v.concept("purpose.dpv_purpose", p.DPVPurpose)
	}
	switch basis, ok := lawfulBases[p.LawfulBasis]; {
	case !ok:
		v.add("purpose.lawful_basis", fmt.Sprintf("unknown lawful basis %q (want one of %s)", p.LawfulBasis, keys(lawfulBases)))
	case !basis.consent:
		v.add("purpose.lawful_basis", fmt.Sprintf("%q is not consent; a consent record needs art6_1_a or art9_2_a", p.LawfulBasis))
	}
	if _, ok := consentTypes[p.ConsentType]; !ok {
		v.add("purpose.consent_type", fmt.Sprintf("unknown consent type %q (want expressed or explicit)", p.ConsentType))
	}
	if len(p.DataCategories) == 0 {
		v.add("purpose.data_categories", "at least one is required")
	}
	for i, c := range p.DataCategories {
		f := fmt.Sprintf("purpose.data_categories[%d]", i)
		v.required(f+".key", c.Key)
		if c.Concept == "" {
			if _, ok := dataConcepts[c.Key]; !ok && c.Key != "" {
				v.add(f+".concept", fmt.Sprintf("no DPV concept known for %q; set one, e.g. \"pd:PurchaseHistory\"", c.Key))
			}
		} else {
			v.concept(f+".concept", c.Concept)
		}
	}

	if len(in.Channels) == 0 {
		v.add("channels", "at least one is required")
	}
	seen := map[string]bool{}
	for i, c := range in.Channels {
		if !contains(knownChannels, c) {
			v.add(fmt.Sprintf("channels[%d]", i), fmt.Sprintf("unknown channel %q (want one of %s)", c, strings.Join(knownChannels, ", ")))
		} else if seen[c] {
			v.add(fmt.Sprintf("channels[%d]", i), fmt.Sprintf("channel %q given twice", c))
		}
		seen[c] = true
	}
	if len(in.Jurisdictions) == 0 {
		v.add("jurisdictions", "at least one is required, e.g. \"loc:DE\"")
	}
	for i, j := range in.Jurisdictions {
		v.concept(fmt.Sprintf("jurisdictions[%d]", i), j)
	}
	for i, l := range in.ApplicableLaws {
		v.concept(fmt.Sprintf("applicable_laws[%d].iri", i), l.IRI)
	}
	if len(in.Storage.Locations) == 0 {
		v.add("storage.locations", "at least one is required, e.g. \"loc:DE\"")
	}
	for i, l := range in.Storage.Locations {
		v.concept(fmt.Sprintf("storage.locations[%d]", i), l)
	}
	v.period("storage.retention", in.Storage.Retention, true)
	for i, r := range in.Recipients {
		f := fmt.Sprintf("recipients[%d]", i)
		v.party(f, r.Party, false)
		if _, ok := recipientRoles[r.Role]; !ok {
			v.add(f+".role", fmt.Sprintf("unknown role %q (want processor or third_party)", r.Role))
		}
	}
	v.url("withdraw_url", in.WithdrawURL, true)
	v.url("rights_url", in.RightsURL, true)
	for i, r := range in.Rights {
		v.concept(fmt.Sprintf("rights[%d]", i), r)
	}

	if len(in.Events) == 0 {
		v.add("events", "at least one is required")
	}
	state := Status("")
	for i, e := range in.Events {
		f := fmt.Sprintf("events[%d]", i)
		if e.At.IsZero() {
			v.add(f+".at", "is required")
		} else if i > 0 && e.At.Before(in.Events[i-1].At) {
			v.add(f+".at", "is before the previous event; events must be in order")
		}
		v.required(f+".recorded_by", e.RecordedBy)
		v.period(f+".valid_for", e.ValidFor, false)
		switch e.Kind {
		case EventRequested, EventConfirmed:
			if !containsMethod(consentMethods, e.Method) {
				v.add(f+".method", fmt.Sprintf("unknown method %q for %s (want one of %s)", e.Method, e.Kind, methodList(consentMethods)))
			}
			v.notice(f+".notice", e.Notice)
			v.source(f+".source", e.Source)
		case EventWithdrawn:
			if !containsMethod(withdrawMethods, e.Method) {
				v.add(f+".method", fmt.Sprintf("unknown method %q for withdrawn (want one of %s)", e.Method, methodList(withdrawMethods)))
			}
			if !e.Notice.empty() {
				v.notice(f+".notice", e.Notice)
			}
			if e.Source != (Source{}) {
				v.source(f+".source", e.Source)
			}
			if state != StatusGiven {
				v.add(f+".kind", "withdrawn without consent given before")
			}
		default:
			v.add(f+".kind", fmt.Sprintf("unknown event kind %q (want requested, confirmed or withdrawn)", e.Kind))
		}
		state = next(state, e.Kind)
	}
	switch in.Status {
	case StatusPending, StatusGiven, StatusWithdrawn:
		if len(in.Events) > 0 && state != in.Status {
			v.add("status", fmt.Sprintf("is %q but the events lead to %q", in.Status, state))
		}
	default:
		v.add("status", fmt.Sprintf("unknown status %q (want pending, given or withdrawn)", in.Status))
	}
	return errors.Join(v.errs...)
}

// next is the consent state after an event. A new request does not end
// consent already given.
func next(s Status, k EventKind) Status {
	switch k {
	case EventRequested:
		if s == StatusGiven {
			return s
		}
		return StatusPending
	case EventConfirmed:
		return StatusGiven
	case EventWithdrawn:
		return StatusWithdrawn
	}
	return s
}

type validator struct{ errs []error }

func (v *validator) add(field, problem string) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: problem})
}

func (v *validator) required(field, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(field, "is required")
	}
}

func (v *validator) uuid(field, s string) {
	if s == "" {
		v.add(field, "is required")
	} else if !validUUID(s) {
		v.add(field, fmt.Sprintf("%q is not a lower-case UUID", s))
	}
}

func (v *validator) url(field, s string, required bool) {
	if s == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if !absoluteURL(s) {
		v.add(field, fmt.Sprintf("%q is not an absolute http(s) URL", s))
	}
}

// concept accepts a compact IRI with a known prefix (dpv:…) or an absolute
// URL.
func (v *validator) concept(field, s string) {
	if s == "" {
		v.add(field, "is required")
		return
	}
	if absoluteURL(s) {
		return
	}
	prefix, local, ok := strings.Cut(s, ":")
	if !ok || local == "" || context[prefix] == nil {
		v.add(field, fmt.Sprintf("%q is neither a compact IRI with a known prefix (%s) nor an absolute URL", s, strings.Join(contextPrefixes(), ", ")))
	}
}

func (v *validator) period(field, s string, required bool) {
	if s == "" {
		if required {
			v.add(field, "is required (ISO 8601 period, e.g. \"P5Y\")")
		}
		return
	}
	if !validPeriod(s) {
		v.add(field, fmt.Sprintf("%q is not an ISO 8601 period such as \"P5Y\" or \"P7D\"", s))
	}
}

func (v *validator) party(field string, p Party, idOptional bool) {
	v.required(field+".name", p.Name)
	if p.ID == "" && !idOptional {
		v.add(field+".id", "is required")
	} else if p.ID != "" && !absoluteIRI(p.ID) {
		v.add(field+".id", fmt.Sprintf("%q is not an absolute IRI", p.ID))
	}
	v.required(field+".address.street", p.Address.Street)
	v.required(field+".address.postal_code", p.Address.PostalCode)
	v.required(field+".address.city", p.Address.City)
	if c := p.Address.Country; len(c) != 2 || strings.ToUpper(c) != c {
		v.add(field+".address.country", fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 code such as \"DE\"", c))
	}
	if p.Email == "" && p.Phone == "" && p.URL == "" {
		v.add(field, "needs a contact: email, phone or url")
	}
	v.url(field+".url", p.URL, false)
}

func (v *validator) notice(field string, n Notice) {
	v.required(field+".version_id", n.VersionID)
	if !validHash(n.SHA256) {
		v.add(field+".sha256", fmt.Sprintf("%q is not 64 lower-case hex digits", n.SHA256))
	}
	v.url(field+".url", n.URL, true)
	if !validLanguage(n.Language) {
		v.add(field+".language", fmt.Sprintf("%q is not a language tag such as \"de\"", n.Language))
	}
}

func (v *validator) source(field string, s Source) {
	if !contains(knownSourceKinds, s.Kind) {
		v.add(field+".kind", fmt.Sprintf("unknown source kind %q (want one of %s)", s.Kind, strings.Join(knownSourceKinds, ", ")))
	}
	v.required(field+".id", s.ID)
}

// validUUID accepts the canonical lower-case form fairlead writes.
func validUUID(s string) bool { return id.Valid(s) }

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

// validLanguage accepts BCP 47 tags of the simple form ll or ll-XX.
func validLanguage(s string) bool {
	parts := strings.Split(s, "-")
	primary := parts[0]
	if len(primary) < 2 || len(primary) > 3 {
		return false
	}
	for _, r := range primary {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	for _, sub := range parts[1:] {
		if sub == "" || len(sub) > 8 {
			return false
		}
	}
	return true
}

// validPeriod accepts ISO 8601 periods like P5Y, P1Y6M, P7D, PT48H, P2W.
func validPeriod(s string) bool {
	if len(s) < 3 || s[0] != 'P' {
		return false
	}
	date, clock, hasT := strings.Cut(s[1:], "T")
	ok := func(part, units string) bool {
		digits := false
		for _, r := range part {
			switch {
			case r >= '0' && r <= '9':
				digits = true
			case digits && strings.ContainsRune(units, r):
				i := strings.IndexRune(units, r)
				units = units[i+1:] // units must appear in order, once
				digits = false
			default:
				return false
			}
		}
		return !digits
	}
	if !ok(date, "YMWD") || hasT && (clock == "" || !ok(clock, "HMS")) {
		return false
	}
	return date != "" || clock != ""
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func absoluteIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsMethod(list []Method, m Method) bool {
	for _, x := range list {
		if x == m {
			return true
		}
	}
	return false
}

func methodList(list []Method) string {
	s := make([]string, len(list))
	for i, m := range list {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
