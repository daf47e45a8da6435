package privacy

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"sort"
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
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var tree map[string]any
	if err := d.Decode(&tree); err != nil {
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
	for _, k := range topOrder(b) {
		sb.WriteString(`<section><h2>` + html.EscapeString(label(k, lang)) + `</h2>`)
		renderValue(&sb, tree[k], lang, t.Yes, t.No, t.Empty)
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

// topOrder lists the document's top-level keys in the order encoded.
func topOrder(b []byte) []string {
	d := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	depth := 0
	expectKey := false
	for {
		tok, err := d.Token()
		if err != nil {
			return keys
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
				if depth == 1 {
					expectKey = true
				}
			} else {
				depth--
				if depth == 1 {
					expectKey = true
				}
			}
			continue
		case string:
			if depth == 1 && expectKey {
				keys = append(keys, v)
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
}

func renderValue(sb *strings.Builder, v any, lang, yes, no, empty string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sb.WriteString(`<dl>`)
		for _, k := range keys {
			sb.WriteString(`<dt>` + html.EscapeString(label(k, lang)) + `</dt><dd>`)
			renderValue(sb, x[k], lang, yes, no, empty)
			sb.WriteString(`</dd>`)
		}
		sb.WriteString(`</dl>`)
	case []any:
		if len(x) == 0 {
			sb.WriteString(`<em>` + html.EscapeString(empty) + `</em>`)
			return
		}
		sb.WriteString(`<ol>`)
		for _, e := range x {
			sb.WriteString(`<li>`)
			renderValue(sb, e, lang, yes, no, empty)
			sb.WriteString(`</li>`)
		}
		sb.WriteString(`</ol>`)
	case string:
		if strings.Contains(x, "\n") {
			sb.WriteString(`<pre class="v">` + html.EscapeString(x) + `</pre>`)
			return
		}
		sb.WriteString(`<span class="v">` + html.EscapeString(x) + `</span>`)
	case json.Number:
		sb.WriteString(`<span class="v">` + x.String() + `</span>`)
	case bool:
		w := no
		if x {
			w = yes
		}
		sb.WriteString(`<span class="b" data-value="` + boolStr(x) + `">` + html.EscapeString(w) + `</span>`)
	case nil:
		sb.WriteString(`<span class="n"></span>`)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
