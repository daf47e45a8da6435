package consent

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/fairlead/fairlead/internal/consentrecord"
	"github.com/fairlead/fairlead/internal/store"
)

// Paths of the public pages a consent record points the person to. The
// notice page is served (internal/web/public); the preference center and
// the imprint page are not yet: the records name where they will be.
const (
	NoticePath      = "/p/notices/"
	PreferencesPath = "/p/preferences"
	ImprintPath     = "/p/imprint"
)

// NotConfigured fills the controller's postal address in consent records
// until the workspace has an imprint setting: ISO/IEC TS 27560 (and so
// consentrecord) requires street, postal code and city, and fairlead does
// not know them yet. It says so instead of inventing an address.
const NotConfigured = "not configured"

// RecordSettings is what a consent record needs besides the ledger: the
// controller, the public pages for notices, withdrawal and rights, and where
// the data are kept.
type RecordSettings struct {
	// BaseURL is the public origin of this instance without a trailing
	// slash, e.g. "https://leads.example.de"; notice versions are published
	// at BaseURL + NoticePath + hash.
	BaseURL       string
	Controller    consentrecord.Controller
	WithdrawURL   string
	RightsURL     string
	Jurisdictions []string
	// StorageLocations are DPV location concepts, e.g. "loc:DE".
	StorageLocations []string
}

// DefaultRecordSettings are the settings of a workspace that has no imprint
// setting yet (none has so far):
//   - controller: the workspace name; the postal address is NotConfigured
//     in Germany (country DE: fairlead's rules implement German law), the
//     contact point and imprint are the instance's preference center and
//     imprint pages;
//   - withdrawal and rights: the preference center;
//   - jurisdiction and storage location: Germany.
func DefaultRecordSettings(workspaceName, baseURL string) RecordSettings {
	baseURL = strings.TrimRight(baseURL, "/")
	prefs := baseURL + PreferencesPath
	return RecordSettings{
		BaseURL: baseURL,
		Controller: consentrecord.Controller{
			Party: consentrecord.Party{
				Name:    workspaceName,
				Address: consentrecord.Address{Street: NotConfigured, PostalCode: NotConfigured, City: NotConfigured, Country: "DE"},
				URL:     prefs,
			},
			ImprintURL: baseURL + ImprintPath,
		},
		WithdrawURL:      prefs,
		RightsURL:        prefs,
		Jurisdictions:    []string{"loc:DE"},
		StorageLocations: []string{"loc:DE"},
	}
}

// ConsentRecord is one consent of a contact: one business purpose, one
// channel and one contact point (e-mail address or phone number), with its
// consent events as consentrecord input.
type ConsentRecord struct {
	// ID is the record ID, derived from workspace, contact, purpose,
	// channel and contact point, so it stays the same as events are added.
	ID      string
	Purpose string
	Channel string
	Status  consentrecord.Status
	Input   consentrecord.Input
	// Problems say why the ledger's entries do not make a valid consent
	// record (e.g. a withdrawal whose method the ledger does not know); each
	// is a field and problem of consentrecord.Input.Validate. Empty when
	// Input is valid.
	Problems []string
}

// ConsentRecords returns every consent of a contact, built from its
// consent_requested, consent_confirmed and consent_withdrawn events in the
// order they happened, ordered by purpose, channel and ID. An unknown
// contact, or one of another workspace, is store.ErrNotFound. Personal
// evidence is never opened: a record names the contact by its UUID only.
//
// Where the ledger and ISO/IEC TS 27560 differ:
//   - Method: a request's or confirmation's verification (email_doi, …);
//     without one, the evidence's confirmation_method (email_link →
//     email_doi, sms_code → sms_doi, signature → written, voice_recording,
//     banner_click → consent_banner); without that, the method of the
//     record's earlier event. A withdrawal's method is the evidence source
//     when it names one (unsubscribe_link, preference_center, email_reply,
//     phone_call, written, voice_recording, optionally followed by ":" and
//     details), else its confirmation_method (email_link →
//     unsubscribe_link, signature → written, voice_recording). The ledger
//     has no verification "none" in 27560: such a consent has Problems.
//   - Notice: the evidence's notice_hash, or that of the record's earlier
//     event (a confirmation confirms the text shown with the request).
//   - Source: evidence source "form:<id>" is a form; otherwise an event
//     entered by a user is manual and one entered by a token or the system
//     an API client, with the source text as identifier.
//   - Lawful basis art9_2_a and explicit consent when an event says
//     explicit_special_category; explicit consent for advertising calls
//     (UWG § 7(2) Nr. 1); otherwise art6_1_a and expressed consent.
//   - Data categories: the purpose's, plus the channel's contact point
//     (email, phone, postal_address); keys without a DPV concept known to
//     consentrecord are written as dpv:PersonalData.
//   - Retention of the proof: five years for advertising calls (UWG § 7a
//     Abs. 2), otherwise three years (§ 195 BGB).
func ConsentRecords(ctx context.Context, l *Ledger, ws, contactID string, s RecordSettings) ([]ConsentRecord, error) {
	evs, err := l.Events(ctx, ws, contactID, false)
	if err != nil {
		return nil, err
	}
	var consents []Event
	for _, e := range evs {
		if e.Kind == KindConsentRequested || e.Kind == KindConsentConfirmed || e.Kind == KindConsentWithdrawn {
			consents = append(consents, e)
		}
	}
	// In the order they happened (occurred_at, then seq), as the facts are.
	sort.SliceStable(consents, func(i, j int) bool { return consents[i].OccurredAt.Before(consents[j].OccurredAt) })

	type key struct{ purpose, channel, point string }
	groups := map[key][]Event{}
	var keys []key
	for _, e := range consents {
		for _, ch := range e.Channels {
			k := key{e.Purpose, ch, e.ContactPoint}
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], e)
		}
	}

	purposes := map[string]Purpose{}
	languages := map[string]string{}
	out := make([]ConsentRecord, 0, len(keys))
	for _, k := range keys {
		pur, ok := purposes[k.purpose]
		if !ok {
			if pur, err = l.purposes.get(ctx, l.db.R, ws, k.purpose); err != nil {
				return nil, fmt.Errorf("consent record: purpose %s: %w", k.purpose, err)
			}
			purposes[k.purpose] = pur
		}
		for _, e := range groups[k] {
			h := e.Evidence.NoticeHash
			if _, ok := languages[h]; h == "" || ok {
				continue
			}
			n, err := l.notices.get(ctx, l.db.R, ws, h)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			languages[h] = n.Language
		}
		out = append(out, buildRecord(ws, contactID, k.channel, k.point, pur, groups[k], languages, s))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Purpose != b.Purpose {
			return a.Purpose < b.Purpose
		}
		if a.Channel != b.Channel {
			return slices.Index(Channels, a.Channel) < slices.Index(Channels, b.Channel)
		}
		return a.ID < b.ID
	})
	return out, nil
}

// RecordID is the ID of the consent record of one purpose, channel and
// contact point (blind index) of a contact: SHA-256 over the length-prefixed
// parts, as an RFC 9562 version 8 (custom) UUID. It reveals none of them.
func RecordID(ws, contactID, purpose, channel, point string) string {
	h := sha256.New()
	for _, s := range []string{"fairlead consent record v1", strings.ToLower(ws), strings.ToLower(contactID), purpose, channel, point} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

var (
	consentMethodByConfirmation = map[string]consentrecord.Method{
		"email_link": consentrecord.MethodEmailDOI, "sms_code": consentrecord.MethodSMSDOI, "signature": consentrecord.MethodWritten,
		"voice_recording": consentrecord.MethodVoiceRecording, "banner_click": consentrecord.MethodConsentBanner,
	}
	withdrawMethodByConfirmation = map[string]consentrecord.Method{
		"email_link": consentrecord.MethodUnsubscribeLink, "signature": consentrecord.MethodWritten, "voice_recording": consentrecord.MethodVoiceRecording,
	}
	withdrawMethods = []consentrecord.Method{
		consentrecord.MethodUnsubscribeLink, consentrecord.MethodPreferenceCenter, consentrecord.MethodEmailReply,
		consentrecord.MethodPhoneCall, consentrecord.MethodWritten, consentrecord.MethodVoiceRecording,
	}
	// channelData is the data category of the contact point a channel uses.
	channelData = map[string]string{"email": "email", "sms": "phone", "phone": "phone", "post": "postal_address"}
	// knownData are the data categories consentrecord has a DPV concept for.
	knownData = []string{"name", "email", "phone", "postal_address"}
)

// buildRecord maps the consent events of one purpose, channel and contact
// point (in the order they happened) to consentrecord input.
func buildRecord(ws, contactID, channel, point string, pur Purpose, evs []Event, languages map[string]string, s RecordSettings) ConsentRecord {
	rec := ConsentRecord{ID: RecordID(ws, contactID, pur.Key, channel, point), Purpose: pur.Key, Channel: channel}

	basis, ctype := "art6_1_a", ""
	if channel == "phone" && pur.Kind == "direct_marketing" {
		ctype = "explicit"
	}
	for _, e := range evs {
		if e.Details.ExplicitSpecialCategory {
			basis, ctype = "art9_2_a", "explicit"
		}
	}
	cats := slices.Clone(pur.DataCategories)
	if c, ok := channelData[channel]; ok && !slices.Contains(cats, c) {
		cats = append(cats, c)
	}
	data := make([]consentrecord.DataCategory, 0, len(cats))
	for _, c := range cats {
		d := consentrecord.DataCategory{Key: c}
		if !slices.Contains(knownData, c) {
			d.Concept = "dpv:PersonalData"
		}
		data = append(data, d)
	}

	laws := []consentrecord.Law{{IRI: "eu-gdpr:GDPR", Title: "General Data Protection Regulation (EU) 2016/679"}}
	storage := consentrecord.Storage{Locations: s.StorageLocations, Retention: "P3Y",
		RetentionNote: "Proof of consent is kept for three years after the end of the year in which it was last relied on (limitation period, § 195 BGB)."}
	switch {
	case pur.Kind == "direct_marketing":
		laws = append(laws, consentrecord.Law{IRI: "https://www.gesetze-im-internet.de/uwg_2004/__7.html", Title: "UWG § 7 – Unzumutbare Belästigungen"})
		if channel == "phone" {
			laws = append(laws, consentrecord.Law{IRI: "https://www.gesetze-im-internet.de/uwg_2004/__7a.html", Title: "UWG § 7a – Einwilligung in Telefonwerbung: Dokumentation und Aufbewahrung"})
			storage.Retention = "P5Y"
			storage.RetentionNote = "Proof of consent is kept for five years from when it was given and from each use for an advertising call (§ 7a Abs. 2 UWG)."
		}
	case channel == "web":
		laws = append(laws, consentrecord.Law{IRI: "https://www.gesetze-im-internet.de/ttdsg/__25.html", Title: "TDDDG § 25 – Schutz der Privatsphäre bei Endeinrichtungen"})
	}

	var events []consentrecord.Event
	var method consentrecord.Method
	var notice string
	state := consentrecord.Status("")
	for _, e := range evs {
		ev := consentrecord.Event{At: e.OccurredAt, TextShown: e.Evidence.TextShown, RecordedBy: e.Evidence.Actor, Source: sourceOf(e)}
		if ev.RecordedBy == "" {
			ev.RecordedBy = "system"
		}
		switch e.Kind {
		case KindConsentRequested, KindConsentConfirmed:
			ev.Kind = consentrecord.EventRequested
			if e.Kind == KindConsentConfirmed {
				ev.Kind = consentrecord.EventConfirmed
			}
			switch m := e.Details.Verification; {
			case m != "" && m != "none":
				method = consentrecord.Method(m)
			case consentMethodByConfirmation[e.Evidence.ConfirmationMethod] != "":
				method = consentMethodByConfirmation[e.Evidence.ConfirmationMethod]
			case m == "none":
				method = ""
			}
			ev.Method = method
			if e.Evidence.NoticeHash != "" {
				notice = e.Evidence.NoticeHash
			}
			ev.Notice = noticeOf(notice, languages, s)
		case KindConsentWithdrawn:
			ev.Kind = consentrecord.EventWithdrawn
			ev.Method = withdrawMethod(e)
			if h := e.Evidence.NoticeHash; h != "" {
				ev.Notice = noticeOf(h, languages, s)
			}
		}
		events = append(events, ev)
		state = nextStatus(state, ev.Kind)
	}
	rec.Status = state

	rec.Input = consentrecord.Input{
		RecordID:   rec.ID,
		Version:    len(events),
		Controller: s.Controller,
		Subject:    consentrecord.Subject{ContactID: strings.ToLower(contactID)},
		Purpose: consentrecord.Purpose{Key: pur.Key, DescriptionDE: pur.DescriptionDE, DescriptionEN: pur.DescriptionEN, Kind: pur.Kind,
			LawfulBasis: basis, ConsentType: ctype, DataCategories: data},
		Channels:       []string{channel},
		Jurisdictions:  s.Jurisdictions,
		ApplicableLaws: laws,
		Storage:        storage,
		WithdrawURL:    s.WithdrawURL,
		RightsURL:      s.RightsURL,
		Events:         events,
		Status:         state,
	}
	if len(events) > 0 {
		rec.Input.CreatedAt, rec.Input.UpdatedAt = events[0].At, events[len(events)-1].At
	}
	if err := rec.Input.Validate(); err != nil {
		var fe *consentrecord.FieldError
		for _, e := range unjoin(err) {
			if errors.As(e, &fe) {
				rec.Problems = append(rec.Problems, fe.Error())
			} else {
				rec.Problems = append(rec.Problems, e.Error())
			}
		}
	}
	return rec
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// nextStatus mirrors consentrecord's state machine: a new request does not
// end consent already given.
func nextStatus(s consentrecord.Status, k consentrecord.EventKind) consentrecord.Status {
	switch k {
	case consentrecord.EventRequested:
		if s == consentrecord.StatusGiven {
			return s
		}
		return consentrecord.StatusPending
	case consentrecord.EventConfirmed:
		return consentrecord.StatusGiven
	case consentrecord.EventWithdrawn:
		return consentrecord.StatusWithdrawn
	}
	return s
}

func noticeOf(hash string, languages map[string]string, s RecordSettings) consentrecord.Notice {
	if hash == "" {
		return consentrecord.Notice{}
	}
	return consentrecord.Notice{VersionID: hash, SHA256: hash, URL: s.BaseURL + NoticePath + hash, Language: languages[hash]}
}

func sourceOf(e Event) consentrecord.Source {
	src := strings.TrimSpace(e.Evidence.Source)
	if form, ok := strings.CutPrefix(src, "form:"); ok && strings.TrimSpace(form) != "" {
		return consentrecord.Source{Kind: "form", ID: strings.TrimSpace(form)}
	}
	if src == "" {
		src = e.Evidence.Actor
	}
	if strings.HasPrefix(e.Evidence.Actor, "user:") {
		return consentrecord.Source{Kind: "manual", ID: src}
	}
	return consentrecord.Source{Kind: "api_client", ID: src}
}

func withdrawMethod(e Event) consentrecord.Method {
	name, _, _ := strings.Cut(strings.TrimSpace(e.Evidence.Source), ":")
	if m := consentrecord.Method(name); slices.Contains(withdrawMethods, m) {
		return m
	}
	return withdrawMethodByConfirmation[e.Evidence.ConfirmationMethod]
}
