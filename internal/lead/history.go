package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/store"
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
	cs, err := s.storedContribs(ctx, s.DB.R, ws, st.ContactID)
	if err != nil {
		return History{}, err
	}
	slices.SortStableFunc(cs, func(a, b contribution) int { return b.at.Compare(a.at) })
	h := History{State: st, HalfLifeDays: rs.Rules.HalfLifeDays, Contributions: []Contribution{}}
	for _, x := range cs[:min(limit, len(cs))] {
		c := Contribution{RuleID: x.ruleID, Kind: x.kind, EventID: x.eventID, EventType: x.eventType, EventName: x.eventName,
			Points: x.points, Capped: x.capped, At: x.at, RuleVersion: x.version}
		c.Now = c.Points
		if c.Kind == "engagement" {
			c.Now = round(decayed(c.Points, c.At, st.ScoreAt, rs.Rules.HalfLifeDays))
		}
		c.Text = explain(c, labels[c.RuleID], lang)
		h.Contributions = append(h.Contributions, c)
	}
	return h, nil
}

// storedContribs reads a contact's packed contributions, in canonical
// order; a contact never scored has none.
func (s *Service) storedContribs(ctx context.Context, q store.Querier, ws, contactID string) ([]contribution, error) {
	var pack string
	var at time.Time
	err := q.QueryRowContext(ctx, `SELECT contributions, score_ref_at FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID).Scan(&pack, &at)
	if errors.Is(store.MapError(err), store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lead: read contributions: %w", err)
	}
	return unpackContribs(pack, at.UTC())
}
