package lead

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Contribution is one entry of a contact's score history, explained.
type Contribution struct {
	RuleID    string    `json:"rule_id"`
	Kind      string    `json:"kind"` // fit or engagement
	EventID   string    `json:"event_id,omitempty"`
	EventType string    `json:"event_type,omitempty"`
	EventName string    `json:"event_name,omitempty"`
	Points    float64   `json:"points"`
	Capped    bool      `json:"capped"`
	At        time.Time `json:"at"`
	// Now is the contribution's value now: decayed for engagement, as
	// given for fit.
	Now         float64 `json:"now"`
	RuleVersion int     `json:"rule_version"`
	Text        string  `json:"text"`
}

// History is a contact's score with every contribution that makes it.
type History struct {
	State
	HalfLifeDays  float64        `json:"half_life_days"`
	Contributions []Contribution `json:"contributions"`
}

var typeNames = map[string]map[string]string{
	"de": {"page_view": "Seitenaufruf", "download": "Download", "form_submit": "Formular gesendet", "email_open": "E-Mail geöffnet", "email_click": "E-Mail-Klick", "custom": "Ereignis"},
	"en": {"page_view": "page view", "download": "download", "form_submit": "form submitted", "email_open": "e-mail opened", "email_click": "e-mail click", "custom": "event"},
}

func number(f float64, lang string) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if lang == "de" {
		s = strings.ReplaceAll(s, ".", ",")
	}
	return s
}

func signed(f float64, lang string) string {
	if f >= 0 {
		return "+" + number(f, lang)
	}
	return number(f, lang)
}

// explain renders one contribution for people, e.g. "+10 download
// whitepaper-2026 on 2026-11-02, decayed to 6.1".
func explain(c Contribution, label Label, lang string) string {
	what := label.in(lang)
	if c.Kind == "engagement" {
		ev := typeNames[lang][c.EventType]
		if c.EventName != "" {
			ev += " " + c.EventName
		}
		if what == "" {
			what = ev
		} else {
			what += " (" + ev + ")"
		}
		capped := ""
		if lang == "de" {
			if c.Capped {
				capped = " (durch die Obergrenze gekürzt)"
			}
			return fmt.Sprintf("%s %s am %s%s, abgeklungen auf %s", signed(c.Points, lang), what, c.At.Format("02.01.2006"), capped, number(c.Now, lang))
		}
		if c.Capped {
			capped = " (reduced by the cap)"
		}
		return fmt.Sprintf("%s %s on %s%s, decayed to %s", signed(c.Points, lang), what, c.At.Format("2006-01-02"), capped, number(c.Now, lang))
	}
	if what == "" {
		what = c.RuleID
	}
	if lang == "de" {
		return fmt.Sprintf("%s Passung: %s (klingt nicht ab)", signed(c.Points, lang), what)
	}
	return fmt.Sprintf("%s fit: %s (does not decay)", signed(c.Points, lang), what)
}

// ScoreHistory returns a contact's score now and its contributions, newest
// first (at most limit, 1..1000, default 200), explained in lang (de, en).
func (s *Service) ScoreHistory(ctx context.Context, ws, contactID, lang string, limit int) (History, error) {
	st, err := s.LeadState(ctx, ws, contactID)
	if err != nil {
		return History{}, err
	}
	if lang != "de" {
		lang = "en"
	}
	if limit == 0 {
		limit = 200
	}
	if limit < 1 || limit > 1000 {
		limit = 200
	}
	rs, err := s.ActiveRules(ctx, ws)
	if err != nil {
		return History{}, err
	}
	labels := map[string]Label{}
	for _, r := range rs.Rules.Fit {
		labels[r.ID] = r.Label
	}
	for _, r := range rs.Rules.Engagement {
		labels[r.ID] = r.Label
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT rule_id, kind, event_id, event_type, event_name, points, capped, occurred_at, rule_version
		FROM lead_contributions WHERE workspace_id = $1 AND contact_id = $2 ORDER BY occurred_at DESC LIMIT $3`, ws, st.ContactID, limit)
	if err != nil {
		return History{}, err
	}
	defer rows.Close()
	h := History{State: st, HalfLifeDays: rs.Rules.HalfLifeDays, Contributions: []Contribution{}}
	for rows.Next() {
		var c Contribution
		if err := rows.Scan(&c.RuleID, &c.Kind, &c.EventID, &c.EventType, &c.EventName, &c.Points, &c.Capped, &c.At, &c.RuleVersion); err != nil {
			return History{}, err
		}
		c.At = c.At.UTC()
		c.Now = c.Points
		if c.Kind == "engagement" {
			c.Now = round(decayed(c.Points, c.At, st.ScoreAt, rs.Rules.HalfLifeDays))
		}
		c.Text = explain(c, labels[c.RuleID], lang)
		h.Contributions = append(h.Contributions, c)
	}
	return h, rows.Err()
}
