package admin

// dashboardTexts are the texts of the dashboard, the contact filters and
// the lead pages added with them, as {English, German}.
var dashboardTexts = map[string][2]string{
	"figures_pending": {"The figures are being computed; they appear here within a minute. Open data subject requests are below.",
		"Kennzahlen werden berechnet; sie erscheinen hier innerhalb einer Minute. Offene Betroffenenanfragen stehen unten."},
	"filter_stage":   {"Stage", "Phase"},
	"filter_segment": {"Segment", "Segment"},
	"any_stage":      {"Any stage", "Jede Phase"},
	"any_segment":    {"No segment", "Kein Segment"},
	"filter_help": {"A stage or a saved segment lists its contacts a page at a time; use it instead of a search.",
		"Eine Phase oder ein gespeichertes Segment listet seine Kontakte seitenweise; statt einer Suche."},
	"segment_members": {"Members", "Mitglieder"},
	"segment_members_help": {"The contacts the segment's filter matches now, in creation order, 50 a page. A segment says who is meant, not who may be contacted: every campaign still asks the engine for each.",
		"Die Kontakte, auf die der Filter des Segments jetzt passt, in Anlagereihenfolge, 50 je Seite. Ein Segment sagt, wer gemeint ist, nicht wer angesprochen werden darf: Jede Kampagne fragt für jeden Kontakt erneut die Prüfung."},
	"segment_filter":   {"Filter", "Filter"},
	"no_members":       {"No contact matches the filter now.", "Auf den Filter passt jetzt kein Kontakt."},
	"segment_feedback": {"Feedback", "Rückmeldungen"},
	"segment_feedback_help": {"Answers of the segment's current members to “How well do our contents suit you?” (the feedback link of personalized messages).",
		"Antworten der jetzigen Mitglieder des Segments auf „Wie gut passen unsere Inhalte zu Ihnen?“ (der Rückmeldelink personalisierter Nachrichten)."},
	"feedback_answers":  {"%d answers", "%d Antworten"},
	"feedback_average":  {"average", "Durchschnitt"},
	"feedback_rating":   {"Rating", "Bewertung"},
	"feedback_count":    {"Answers", "Antworten"},
	"feedback_comments": {"Comments", "Kommentare"},
	"no_comments":       {"No comment was written.", "Es wurde kein Kommentar geschrieben."},
	"feedback_pending": {"The feedback is being counted; it appears here within a minute.",
		"Die Rückmeldungen werden ausgezählt; sie erscheinen hier innerhalb einer Minute."},
	"feedback_as_of": {"Counted at %s; the counts are renewed every minute.", "Ausgezählt am %s; die Zahlen werden jede Minute erneuert."},
	"no_feedback":    {"No member of the segment has answered yet.", "Noch hat kein Mitglied des Segments geantwortet."},
	"rating_1":       {"1 – does not suit at all", "1 – passt gar nicht"},
	"rating_2":       {"2", "2"},
	"rating_3":       {"3", "3"},
	"rating_4":       {"4", "4"},
	"rating_5":       {"5 – suits very well", "5 – passt sehr gut"},
	"move_stage":     {"Move to another stage", "In eine andere Phase verschieben"},
	"move_stage_help": {"Your role may move a contact to the stages listed; the reason is recorded with the change. Reaching the hand-off stage the first time hands the lead to sales.",
		"Ihre Rolle darf einen Kontakt in die aufgeführten Phasen verschieben; der Grund wird mit dem Wechsel gespeichert. Erreicht er zum ersten Mal die Übergabephase, geht der Lead an den Vertrieb."},
	"new_stage":        {"New stage", "Neue Phase"},
	"move_reason":      {"Reason", "Grund"},
	"move_submit":      {"Move", "Verschieben"},
	"choose":           {"Choose …", "Bitte wählen …"},
	"saved_stage":      {"The stage was changed.", "Die Phase wurde geändert."},
	"recompute_scores": {"Recompute all scores", "Alle Punktwerte neu berechnen"},
	"recompute_help": {"Recomputes every contact's score from all events with the active rules, in the background (as after saving new rules).",
		"Berechnet den Punktwert jedes Kontakts aus allen Ereignissen mit den aktiven Regeln neu, im Hintergrund (wie nach dem Speichern neuer Regeln)."},
	"recompute_queued": {"The recompute is queued; scores follow once it has run.", "Die Neuberechnung ist eingeplant; die Punktwerte folgen, sobald sie gelaufen ist."},
	"funnel_by_stage":  {"Funnel by stage", "Trichter nach Phase"},
	"contacts_n":       {"Contacts", "Kontakte"},
	"funnel_help": {"Contacts in each lifecycle stage now; a contact never scored is a visitor.",
		"Kontakte je Lebenszyklus-Phase jetzt; ein nie bewerteter Kontakt zählt als Besucher."},
}

func init() {
	for k, v := range dashboardTexts {
		if _, ok := texts[k]; !ok {
			texts[k] = v
		}
	}
}
