package privacy

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"strings"
)

// The page is rendered from the export's JSON tree, not from the Go
// structure: whatever the JSON document carries, the page shows, so the two
// cannot drift apart. Every value sits in <span class="v">, which the test
// uses to compare both.

// labels translate the JSON keys; an unknown key is shown as it is.
var labels = map[string][2]string{
	"schema_version": {"Schema-Version", "Schema version"}, "generated_at": {"Erstellt am", "Generated at"},
	"workspace_id": {"Mandant", "Workspace"}, "contact_id": {"Kontakt-ID", "Contact ID"}, "status": {"Status", "Status"},
	"contact": {"Stammdaten", "Record"}, "values": {"Angaben mit Herkunft und Verlauf", "Values with provenance and history"},
	"ledger": {"Einwilligungs- und Ereignisprotokoll", "Consent and event ledger"}, "doi_requests": {"Double-Opt-in-Anfragen", "Double opt-in requests"},
	"consent_uses": {"Nutzung der Einwilligungen", "Use of consents"}, "last_used_at": {"Zuletzt genutzt am", "Last used at"},
	"messages": {"Nachrichten", "Messages"}, "jobs": {"Hintergrundaufträge", "Background jobs"},
	"recipients": {"Empfänger (verbundene Systeme)", "Recipients (connected systems)"}, "cases": {"Anträge (Betroffenenrechte)", "Data subject requests"},
	"suppressions": {"Sperrliste", "Suppression list"}, "erasure": {"Löschung", "Erasure"}, "remaining": {"Was noch gespeichert ist", "What is still kept"},
	"id": {"ID", "ID"}, "first_name": {"Vorname", "First name"}, "last_name": {"Nachname", "Last name"}, "organization": {"Organisation", "Organization"},
	"audience": {"Zielgruppe", "Audience"}, "relationship": {"Beziehung", "Relationship"}, "data_source": {"Herkunft der Daten", "Data source"},
	"email": {"E-Mail", "E-mail"}, "phone": {"Telefon", "Phone"}, "address": {"Anschrift", "Address"}, "street": {"Straße", "Street"},
	"postal_code": {"PLZ", "Postal code"}, "city": {"Ort", "City"}, "country": {"Land", "Country"}, "erased": {"Gelöscht", "Erased"},
	"created_at": {"Angelegt am", "Created at"}, "updated_at": {"Geändert am", "Updated at"}, "name": {"Name", "Name"}, "value": {"Wert", "Value"},
	"source": {"Quelle", "Source"}, "recorded_at": {"Erfasst am", "Recorded at"}, "superseded_at": {"Ersetzt am", "Superseded at"},
	"seq": {"Nr.", "No."}, "kind": {"Art", "Kind"}, "purpose": {"Zweck", "Purpose"}, "channels": {"Kanäle", "Channels"},
	"lawful_basis": {"Rechtsgrundlage", "Lawful basis"}, "contact_point": {"Kontaktpunkt (Schlüssel)", "Contact point (key)"},
	"details": {"Einzelheiten", "Details"}, "evidence": {"Nachweis", "Evidence"}, "occurred_at": {"Zeitpunkt", "Occurred at"}, "hash": {"Prüfsumme", "Hash"},
	"personal": {"Personenbezogener Nachweis", "Personal evidence"}, "personal_state": {"Nachweis-Status", "Evidence state"},
	"ip_address": {"IP-Adresse", "IP address"}, "user_agent": {"Browser", "User agent"}, "text_shown": {"Angezeigter Text", "Text shown"},
	"text_sha256": {"Text-Prüfsumme", "Text hash"}, "confirmation_method": {"Bestätigungsweg", "Confirmation method"},
	"confirmed_at": {"Bestätigt am", "Confirmed at"}, "actor": {"Handelnd", "Actor"}, "notice_hash": {"Hinweis-Version", "Notice version"},
	"channel": {"Kanal", "Channel"}, "form": {"Formular", "Form"}, "form_version": {"Formularversion", "Form version"}, "lang": {"Sprache", "Language"},
	"consents": {"Einwilligungen", "Consents"}, "expires_at": {"Gültig bis", "Expires at"}, "to": {"An", "To"}, "subject": {"Betreff", "Subject"},
	"body": {"Inhalt", "Body"}, "state": {"Zustand", "State"}, "data_categories": {"Datenkategorien", "Data categories"},
	"event_types": {"Ereignisarten", "Event types"}, "deliveries": {"Übermittlungen", "Deliveries"}, "last_sent_at": {"Zuletzt übermittelt", "Last sent at"},
	"request_type": {"Art des Antrags", "Request type"}, "received_at": {"Eingegangen am", "Received at"}, "due_at": {"Frist", "Due at"},
	"extended_months": {"Verlängert um Monate", "Extended by months"}, "extension_reason": {"Grund der Verlängerung", "Reason for extension"},
	"verified_at": {"Identität geprüft am", "Identity verified at"}, "verification": {"Prüfweg", "Verification"}, "closed_at": {"Abgeschlossen am", "Closed at"},
	"created_by": {"Angelegt von", "Created by"}, "overdue": {"Überfällig", "Overdue"}, "log": {"Verlauf", "Log"}, "step": {"Schritt", "Step"},
	"note": {"Notiz", "Note"}, "at": {"Zeitpunkt", "At"}, "blind_index": {"Schlüssel (Hash)", "Key (hash)"}, "reason": {"Grund", "Reason"},
	"retained": {"Aufbewahrt", "Retained"}, "restricted_at": {"Eingeschränkt am", "Restricted at"}, "delete_after": {"Löschung ab", "Deleted after"},
	"executed_at": {"Gelöscht am", "Executed at"}, "ground": {"Grund", "Ground"}, "basis": {"Grundlage", "Basis"}, "until": {"Bis", "Until"},
	"more": {"Weitere Daten", "Further data"}, "tracking_events": {"Nutzungsereignisse (Tracking)", "Tracking events"},
	"lead": {"Lead-Bewertung und Phase (Profiling)", "Lead score and stage (profiling)"}, "supplier": {"Lieferantenbeziehung", "Supplier relation"},
	"imports": {"Importe (Herkunft)", "Imports (source)"}, "campaigns": {"Kampagnen", "Campaigns"}, "type": {"Art", "Type"}, "ref": {"Bezug", "Reference"},
	"props": {"Eigenschaften", "Properties"}, "stage": {"Phase", "Stage"}, "score": {"Punktzahl", "Score"}, "score_ref_at": {"Punktzahl berechnet am", "Score computed at"},
	"fit": {"Passung (Punkte)", "Fit (points)"}, "rule_version": {"Regelversion", "Rule version"}, "owner": {"Zuständig", "Owner"},
	"handed_off_at": {"An Vertrieb übergeben am", "Handed to sales at"}, "contributions": {"Punktebeiträge", "Score contributions"},
	"rule_id": {"Regel", "Rule"}, "event_id": {"Ereignis", "Event"}, "event_type": {"Ereignisart", "Event type"}, "event_name": {"Ereignisname", "Event name"},
	"points": {"Punkte", "Points"}, "capped": {"Gedeckelt", "Capped"}, "transitions": {"Phasenwechsel", "Stage changes"},
	"from_stage": {"Von Phase", "From stage"}, "to_stage": {"Zu Phase", "To stage"}, "cause": {"Anlass", "Cause"}, "feedback": {"Rückmeldungen", "Feedback"},
	"rating": {"Bewertung", "Rating"}, "comment": {"Kommentar", "Comment"}, "supplier_contacts": {"Ansprechperson bei", "Contact person at"},
	"supplier_id": {"Lieferant", "Supplier"}, "supplier_name": {"Lieferant (Name)", "Supplier (name)"}, "position": {"Funktion", "Position"},
	"responses": {"Eingegangene Antworten", "Responses received"}, "reply_channels": {"Antwortkanäle", "Reply channels"}, "summary": {"Zusammenfassung", "Summary"},
	"ledger_event": {"Protokolleintrag", "Ledger entry"}, "provenance": {"Herkunft", "Provenance"}, "import_id": {"Import", "Import"},
	"line": {"Zeile", "Line"}, "action": {"Vorgang", "Action"}, "source_name": {"Quelle (Name)", "Source (name)"},
	"art14_tasks": {"Information nach Art. 14", "Information under Art. 14"}, "obtained_at": {"Erhoben am", "Obtained at"}, "done_at": {"Erledigt am", "Done at"},
	"campaign_id": {"Kampagne", "Campaign"}, "campaign_name": {"Kampagne (Name)", "Campaign (name)"}, "sent_at": {"Gesendet am", "Sent at"},
	"delivered_at": {"Zugestellt am", "Delivered at"}, "bounce": {"Unzustellbarkeit", "Bounce"}, "tracked": {"Mit Messung", "Tracked"},
	"bounces": {"Unzustellbarkeit und Beschwerden", "Bounces and complaints"}, "soft": {"Vorübergehende Fehler", "Soft bounces"},
	"hard_at": {"Dauerhaft unzustellbar seit", "Hard bounce at"}, "complained_at": {"Beschwerde am", "Complaint at"},
}

var pageTexts = map[string]struct{ Title, Intro, Yes, No, None, Empty, Erased, Restricted string }{
	"de": {"Auskunft über Ihre gespeicherten Daten", "Diese Seite zeigt alles, was wir über Sie gespeichert haben (Art. 15 DSGVO). Dieselben Angaben erhalten Sie maschinenlesbar als JSON (Art. 20 DSGVO).",
		"ja", "nein", "—", "keine", "Ihre personenbezogenen Daten wurden gelöscht. Gespeichert bleiben nur der Nachweis der Löschung, das Protokoll ohne personenbezogene Nachweise und ein Schlüssel-Hash auf der Sperrliste, damit ein Widerspruch oder die Löschung wirksam bleibt.",
		"Ihre Daten sind eingeschränkt: Wir bewahren nur auf, was eine gesetzliche Aufbewahrungspflicht verlangt, nutzen es für nichts anderes und löschen es, wenn die Pflicht endet."},
	"en": {"Access to the data we hold about you", "This page shows everything we hold about you (Art. 15 GDPR). You get the same data machine-readable as JSON (Art. 20 GDPR).",
		"yes", "no", "—", "none", "Your personal data were erased. All that remains is the record of the erasure, the ledger without personal evidence and a keyed hash on the suppression list, so that an objection or the erasure stays in force.",
		"Your data are restricted: we keep only what a legal retention duty requires, use it for nothing else and delete it when the duty ends."},
}

// WriteHTML renders the export as a self-contained page in lang (de or en).
func (x *Export) WriteHTML(w io.Writer, lang string) error {
	if lang != "en" {
		lang = "de"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	tops, err := topLevel(b)
	if err != nil {
		return err
	}
	t := pageTexts[lang]
	var sb strings.Builder
	sb.WriteString(`<!doctype html><html lang="` + lang + `"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`)
	sb.WriteString(`<title>` + html.EscapeString(t.Title) + `</title><style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}` +
		`dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem 1rem;margin:.3rem 0}dt{color:#555}dd{margin:0;overflow-wrap:anywhere}` +
		`ol{padding-left:1.4rem}li{border-top:1px solid #ddd;padding:.3rem 0}.v:empty::before{content:"—";color:#999}section{margin:1.5rem 0}` +
		`.note{background:#f4f4f4;padding:.6rem 1rem}pre{white-space:pre-wrap}</style></head><body>`)
	sb.WriteString(`<h1>` + html.EscapeString(t.Title) + `</h1><p>` + html.EscapeString(t.Intro) + `</p>`)
	switch x.Status {
	case "erased":
		sb.WriteString(`<p class="note">` + html.EscapeString(t.Erased) + `</p>`)
	case "restricted":
		sb.WriteString(`<p class="note">` + html.EscapeString(t.Restricted) + `</p>`)
	}
	// Top-level keys in the order of the document.
	r := &renderer{sb: &sb, lang: lang, yes: t.Yes, no: t.No, empty: t.Empty}
	for _, kv := range tops {
		sb.WriteString(`<section><h2>` + html.EscapeString(label(kv.key, lang)) + `</h2>`)
		if _, err := r.value(kv.raw, 0); err != nil {
			return err
		}
		sb.WriteString(`</section>`)
	}
	sb.WriteString(`</body></html>`)
	_, err = io.WriteString(w, sb.String())
	return err
}

func label(k, lang string) string {
	l, ok := labels[k]
	if !ok {
		return k
	}
	if lang == "en" {
		return l[1]
	}
	return l[0]
}

// keyRaw is one top-level member of the document.
type keyRaw struct {
	key string
	raw []byte
}

// topLevel splits the document into its top-level members, in order.
func topLevel(b []byte) ([]keyRaw, error) {
	var out []keyRaw
	r := &renderer{skip: true}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("export: not a JSON object")
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != '}' {
		k, j, err := r.str(b, i)
		if err != nil {
			return nil, err
		}
		j = skipWS(b, j)
		if j >= len(b) || b[j] != ':' {
			return nil, errors.New("export: malformed JSON")
		}
		j = skipWS(b, j+1)
		end, err := r.value(b[j:], 0)
		if err != nil {
			return nil, err
		}
		out = append(out, keyRaw{k, b[j : j+end]})
		i = skipWS(b, j+end)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	return out, nil
}

// renderer writes a JSON value as HTML while scanning it once: objects as
// definition lists in document order, arrays as numbered lists, and every
// string or number in <span class="v"> (skip only scans).
type renderer struct {
	sb                   *strings.Builder
	lang, yes, no, empty string
	skip                 bool
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

func (r *renderer) w(s string) {
	if !r.skip {
		r.sb.WriteString(s)
	}
}

// str reads the JSON string at b[i] and returns it unquoted and the index
// after it.
func (r *renderer) str(b []byte, i int) (string, int, error) {
	j := i + 1
	esc := false
	for j < len(b) && b[j] != '"' {
		if b[j] == '\\' {
			esc = true
			j++
		}
		j++
	}
	if j >= len(b) {
		return "", 0, errors.New("export: unterminated string")
	}
	if !esc {
		return string(b[i+1 : j]), j + 1, nil
	}
	var s string
	if err := json.Unmarshal(b[i:j+1], &s); err != nil {
		return "", 0, err
	}
	return s, j + 1, nil
}

// value renders the value at b[i] and returns the index after it.
func (r *renderer) value(b []byte, i int) (int, error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, errors.New("export: unexpected end of JSON")
	}
	switch c := b[i]; {
	case c == '{':
		r.w(`<dl>`)
		i = skipWS(b, i+1)
		for i < len(b) && b[i] != '}' {
			k, j, err := r.str(b, i)
			if err != nil {
				return 0, err
			}
			j = skipWS(b, j)
			if j >= len(b) || b[j] != ':' {
				return 0, errors.New("export: malformed JSON")
			}
			r.w(`<dt>` + html.EscapeString(label(k, r.lang)) + `</dt><dd>`)
			if i, err = r.value(b, j+1); err != nil {
				return 0, err
			}
			r.w(`</dd>`)
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
		r.w(`</dl>`)
		return i + 1, nil
	case c == '[':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			r.w(`<em>` + html.EscapeString(r.empty) + `</em>`)
			return i + 1, nil
		}
		r.w(`<ol>`)
		for i < len(b) && b[i] != ']' {
			r.w(`<li>`)
			var err error
			if i, err = r.value(b, i); err != nil {
				return 0, err
			}
			r.w(`</li>`)
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
		r.w(`</ol>`)
		return i + 1, nil
	case c == '"':
		s, j, err := r.str(b, i)
		if err != nil {
			return 0, err
		}
		if strings.Contains(s, "\n") {
			r.w(`<pre class="v">` + html.EscapeString(s) + `</pre>`)
		} else {
			r.w(`<span class="v">` + html.EscapeString(s) + `</span>`)
		}
		return j, nil
	case c == 't' || c == 'f':
		v, n := "true", 4
		word := r.yes
		if c == 'f' {
			v, n, word = "false", 5, r.no
		}
		r.w(`<span class="b" data-value="` + v + `">` + html.EscapeString(word) + `</span>`)
		return i + n, nil
	case c == 'n':
		r.w(`<span class="n"></span>`)
		return i + 4, nil
	default:
		j := i
		for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || (b[j] >= '0' && b[j] <= '9')) {
			j++
		}
		r.w(`<span class="v">` + string(b[i:j]) + `</span>`)
		return j, nil
	}
}
