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
	"funnel_by_stage": {"Funnel by stage", "Trichter nach Phase"},
	"contacts_n":      {"Contacts", "Kontakte"},
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
