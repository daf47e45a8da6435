package form

import (
	"fmt"
	"slices"
	"strings"
)

// Lint finding codes. They are a contract with the admin UI and the API.
const (
	FindingFieldNotNeeded             = "field_not_needed"
	FindingConsentCoupled             = "consent_coupled"
	FindingConsentNoticeMissing       = "consent_notice_missing"
	FindingConsentPreTicked           = "consent_pre_ticked"
	FindingConsentBundled             = "consent_bundled"
	FindingConsentChannelWithoutField = "consent_channel_without_field"
	FindingPrivacyNoticeMissing       = "privacy_notice_missing"
)

// Finding is one problem of a form that Lint found. Field is the path of
// the part to change (e.g. "fields[2]", "consents[0].notice.de"), Ref the
// legal reference. Message is English, MessageDE German.
type Finding struct {
	Code      string `json:"code"`
	Field     string `json:"field"`
	Message   string `json:"message"`
	MessageDE string `json:"message_de"`
	Ref       string `json:"ref"`
}

// MessageIn returns the message in lang ("de" or "en"; English otherwise).
func (f Finding) MessageIn(lang string) string {
	if lang == "de" && f.MessageDE != "" {
		return f.MessageDE
	}
	return f.Message
}

// Lint checks a form that passed Validate against the rules for lawful
// lead capture and returns every finding in definition order (fields, then
// consents, then the privacy notice); none means the form is clean. Lint
// never blocks a save: a finding is for a person to fix or to decide on.
//
// The form's purposes are its ServicePurposes plus the purposes of its
// consents. A purpose needs a field when the field lists it in Purposes and
// the purpose's data categories contain the field's DataCategory. A required
// field must be needed by a purpose everyone who submits is subject to (a
// service purpose or the purpose of a required checkbox); one that only the
// purpose of an optional checkbox needs is reported too, since people who
// leave that box empty would still have to fill it in.
//
//	code                           field                    when                                                                                   ref
//	field_not_needed               fields[i]                a required field that none of the form's purposes needs                               GDPR Art. 5(1)(c)
//	consent_coupled                consents[i].required     a checkbox that must be ticked although the form is not a marketing sign-up; or on a   GDPR Art. 7(4)
//	                                                        marketing sign-up that also offers a service (service_purposes); or for a purpose
//	                                                        that is not direct marketing (a sign-up's service is the marketing, not tracking)
//	consent_notice_missing         consents[i].notice.<l>   no consent text version for a form language, or one the catalogue does not know, of    GDPR Art. 7(2), 13
//	                                                        another kind than consent_text or in another language
//	consent_pre_ticked             consents[i].pre_ticked   the checkbox is ticked in advance                                                      CJEU C-673/17 (Planet49); BGH I ZR 7/16
//	consent_bundled                consents[i].purposes     one checkbox for more than one purpose, or (.channels) more than one channel           GDPR Art. 7(2); EDPB 05/2020
//	consent_channel_without_field  consents[i].channels[j]  an email consent without an email field, sms/phone without a tel field, post without   GDPR Art. 5(1)(b), 7(1)
//	                                                        an address (street, postal_code and city, or one field of category postal_address)
//	privacy_notice_missing         privacy_notice.<l>       no privacy notice version for a form language, or an unknown one, of another kind      GDPR Art. 13
//	                                                        than privacy_notice or in another language
//
// One checkbox for several channels of one purpose is allowed by BGH
// III ZR 196/17; consent_bundled still reports it, because EDPB 05/2020
// asks for granular choice and a person can withdraw per channel only if
// they could give it per channel.
func Lint(d Definition, c Catalog) []Finding {
	l := linter{d: d, c: c}
	var purposes []string
	for _, p := range d.ServicePurposes {
		if !slices.Contains(purposes, p) {
			purposes = append(purposes, p)
		}
	}
	for _, cs := range d.Consents {
		for _, p := range cs.Purposes {
			if !slices.Contains(purposes, p) {
				purposes = append(purposes, p)
			}
		}
	}
	// Purposes everyone who submits is subject to: the service's, and those
	// of checkboxes that must be ticked. A field only an optional
	// checkbox's purpose needs must not be mandatory for everybody; Parse
	// asks for it when that box is ticked.
	var always []string
	always = append(always, d.ServicePurposes...)
	for _, cs := range d.Consents {
		if cs.Required {
			always = append(always, cs.Purposes...)
		}
	}
	for i, f := range d.Fields {
		if !f.Required || l.needed(always, f) {
			continue
		}
		p := index("fields", i)
		if l.needed(purposes, f) {
			l.add(FindingFieldNotNeeded, p, "GDPR Art. 5(1)(c)",
				fmt.Sprintf("%q is mandatory, but only the purposes of optional checkboxes need it: make it optional (it becomes required when such a box is ticked, if it is the contact point)", f.Name),
				fmt.Sprintf("%q ist ein Pflichtfeld, wird aber nur für Zwecke freiwilliger Checkboxen gebraucht: machen Sie es optional (als Kontaktweg wird es verlangt, sobald eine solche Checkbox angekreuzt ist)", f.Name))
			continue
		}
		l.add(FindingFieldNotNeeded, p, "GDPR Art. 5(1)(c)",
			fmt.Sprintf("%q is mandatory, but none of the form's purposes needs data of category %q: make it optional, or list a purpose that needs it", f.Name, f.DataCategory()),
			fmt.Sprintf("%q ist ein Pflichtfeld, aber keiner der Zwecke des Formulars benötigt Daten der Kategorie %q: machen Sie es optional oder nennen Sie einen Zweck, der es benötigt", f.Name, f.DataCategory()))
	}
	for i, cs := range d.Consents {
		p := index("consents", i)
		l.coupled(p, cs)
		for _, lang := range d.Languages {
			l.notice(FindingConsentNoticeMissing, p+".notice."+lang, "GDPR Art. 7(2), 13", NoticeKindConsentText, lang, cs.Notice[lang],
				fmt.Sprintf("the checkbox %q", cs.Key), fmt.Sprintf("die Checkbox %q", cs.Key))
		}
		if cs.PreTicked {
			l.add(FindingConsentPreTicked, p+".pre_ticked", "CJEU C-673/17 (Planet49); BGH I ZR 7/16",
				fmt.Sprintf("the checkbox %q is ticked in advance; a pre-ticked box is no consent: leave it unticked", cs.Key),
				fmt.Sprintf("die Checkbox %q ist vorangekreuzt; eine vorangekreuzte Checkbox ist keine Einwilligung: lassen Sie sie leer", cs.Key))
		}
		if len(cs.Purposes) > 1 {
			l.add(FindingConsentBundled, p+".purposes", "GDPR Art. 7(2); EDPB 05/2020",
				fmt.Sprintf("the checkbox %q covers %d purposes (%s): give each purpose its own checkbox", cs.Key, len(cs.Purposes), strings.Join(cs.Purposes, ", ")),
				fmt.Sprintf("die Checkbox %q deckt %d Zwecke ab (%s): geben Sie jedem Zweck eine eigene Checkbox", cs.Key, len(cs.Purposes), strings.Join(cs.Purposes, ", ")))
		}
		if len(cs.Channels) > 1 {
			l.add(FindingConsentBundled, p+".channels", "GDPR Art. 7(2); EDPB 05/2020",
				fmt.Sprintf("the checkbox %q covers %d channels (%s): give each channel its own checkbox", cs.Key, len(cs.Channels), strings.Join(cs.Channels, ", ")),
				fmt.Sprintf("die Checkbox %q deckt %d Kanäle ab (%s): geben Sie jedem Kanal eine eigene Checkbox", cs.Key, len(cs.Channels), strings.Join(cs.Channels, ", ")))
		}
		for j, ch := range cs.Channels {
			if !needsContactPoint(ch) {
				continue
			}
			if idx, _ := d.channelFields(ch); len(idx) == 0 {
				what, wasDE := channelNeeds(ch)
				l.add(FindingConsentChannelWithoutField, index(p+".channels", j), "GDPR Art. 5(1)(b), 7(1)",
					fmt.Sprintf("the checkbox %q asks for consent to %s, but the form has no %s", cs.Key, ch, what),
					fmt.Sprintf("die Checkbox %q fragt eine Einwilligung für %s ab, aber das Formular hat %s", cs.Key, ch, wasDE))
			}
		}
	}
	for _, lang := range d.Languages {
		l.notice(FindingPrivacyNoticeMissing, "privacy_notice."+lang, "GDPR Art. 13", NoticeKindPrivacyNotice, lang, d.PrivacyNotice[lang],
			"the form", "das Formular")
	}
	return l.out
}

type linter struct {
	d   Definition
	c   Catalog
	out []Finding
}

func (l *linter) add(code, field, ref, en, de string) {
	l.out = append(l.out, Finding{Code: code, Field: field, Message: en, MessageDE: de, Ref: ref})
}

func (l *linter) purpose(key string) (PurposeInfo, bool) {
	if l.c == nil {
		return PurposeInfo{}, false
	}
	return l.c.Purpose(key)
}

func (l *linter) needed(purposes []string, f Field) bool {
	cat := f.DataCategory()
	for _, key := range purposes {
		if !slices.Contains(f.Purposes, key) {
			continue
		}
		if p, ok := l.purpose(key); ok && slices.Contains(p.DataCategories, cat) {
			return true
		}
	}
	return false
}

func (l *linter) coupled(path string, cs Consent) {
	if !cs.Required {
		return
	}
	const ref = "GDPR Art. 7(4)"
	path += ".required"
	switch {
	case !l.d.MarketingSignup:
		l.add(FindingConsentCoupled, path, ref,
			fmt.Sprintf("the checkbox %q must be ticked to submit, but the form offers a service that does not need this consent: make it optional", cs.Key),
			fmt.Sprintf("die Checkbox %q muss angekreuzt werden, aber der Dienst des Formulars braucht diese Einwilligung nicht: machen Sie sie freiwillig", cs.Key))
	case len(l.d.ServicePurposes) > 0:
		l.add(FindingConsentCoupled, path, ref,
			fmt.Sprintf("the checkbox %q must be ticked to submit, but the sign-up also offers a service (%s): the consent must not be its price", cs.Key, strings.Join(l.d.ServicePurposes, ", ")),
			fmt.Sprintf("die Checkbox %q muss angekreuzt werden, aber die Anmeldung bietet auch einen Dienst (%s): die Einwilligung darf nicht sein Preis sein", cs.Key, strings.Join(l.d.ServicePurposes, ", ")))
	default:
		for _, key := range cs.Purposes {
			if p, ok := l.purpose(key); ok && p.Kind != "direct_marketing" {
				l.add(FindingConsentCoupled, path, ref,
					fmt.Sprintf("the checkbox %q must be ticked to submit, but its purpose %q (%s) is not the marketing people sign up for: make it optional", cs.Key, key, p.Kind),
					fmt.Sprintf("die Checkbox %q muss angekreuzt werden, aber ihr Zweck %q (%s) ist nicht die Werbung, für die man sich anmeldet: machen Sie sie freiwillig", cs.Key, key, p.Kind))
				return
			}
		}
	}
}

// notice reports a missing or unfit notice version for one language.
func (l *linter) notice(code, path, ref, kind, lang, hash, whoEN, whoDE string) {
	var en, de string
	switch info, ok := l.lookupNotice(hash); {
	case hash == "":
		en = fmt.Sprintf("%s has no %s version for language %q", whoEN, kind, lang)
		de = fmt.Sprintf("%s hat keine Version von %s für die Sprache %q", capitalize(whoDE), kind, lang)
	case !ok:
		en = fmt.Sprintf("%s names a %s version for language %q that does not exist", whoEN, kind, lang)
		de = fmt.Sprintf("%s nennt für die Sprache %q eine Version von %s, die es nicht gibt", capitalize(whoDE), lang, kind)
	case info.Kind != kind:
		en = fmt.Sprintf("%s names a notice of kind %q for language %q; it must be of kind %q", whoEN, info.Kind, lang, kind)
		de = fmt.Sprintf("%s nennt für die Sprache %q einen Text der Art %q; er muss von der Art %q sein", capitalize(whoDE), lang, info.Kind, kind)
	case info.Language != lang:
		en = fmt.Sprintf("%s names a %s version in language %q for language %q", whoEN, kind, info.Language, lang)
		de = fmt.Sprintf("%s nennt für die Sprache %q eine Version von %s in der Sprache %q", capitalize(whoDE), lang, kind, info.Language)
	default:
		return
	}
	l.add(code, path, ref, capitalize(en), de)
}

func (l *linter) lookupNotice(hash string) (NoticeInfo, bool) {
	if l.c == nil || hash == "" {
		return NoticeInfo{}, false
	}
	return l.c.Notice(hash)
}

func channelNeeds(ch string) (en, de string) {
	switch ch {
	case "email":
		return "field of type email", "kein Feld vom Typ email"
	case "post":
		return "postal address (fields street, postal_code and city)", "keine Postanschrift (Felder street, postal_code und city)"
	}
	return "field of type tel", "kein Feld vom Typ tel"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
