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
	"github.com/fairlead/fairlead/internal/track"
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
		switch {
		case ev == "":
			// The event is no longer stored (deleted after an objection
			// or a withdrawal): the entry keeps its rule and points.
			if what == "" {
				what = c.RuleID
			}
		case what == "":
			what = ev
		default:
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
// order, with the event of each engagement entry; a contact never scored
// has none.
func (s *Service) storedContribs(ctx context.Context, q store.Querier, ws, contactID string) ([]contribution, error) {
	var pack []byte
	var at refTime
	err := q.QueryRowContext(ctx, `SELECT contributions, score_ref_at FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID).Scan(&pack, &at)
	if errors.Is(store.MapError(err), store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lead: read contributions: %w", err)
	}
	cs, err := unpackContribs(pack, at.t)
	if err != nil {
		return nil, err
	}
	if err := s.eventsFor(ctx, q, ws, contactID, cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// eventsFor fills in the event of each engagement entry of cs that has
// none (the binary packed form stores none): the contact's event at the
// entry's time (to the microsecond, as stored) that the rule of the
// entry's version matches. Events at the same time that the same rule
// matches are taken in ID order, one per entry. An event no longer stored
// leaves the entry without one.
func (s *Service) eventsFor(ctx context.Context, q store.Querier, ws, contactID string, cs []contribution) error {
	need := false
	for _, c := range cs {
		if c.kind == "engagement" && c.eventID == "" {
			need = true
			break
		}
	}
	if !need {
		return nil
	}
	rules := map[int]map[string]EngagementRule{}
	for _, c := range cs {
		if c.kind != "engagement" || c.eventID != "" {
			continue
		}
		if _, ok := rules[c.version]; ok {
			continue
		}
		byID := map[string]EngagementRule{}
		rs, err := s.ruleSet(ctx, q, `SELECT version, rules, created_by, created_at FROM lead_rule_sets WHERE workspace_id = $1 AND version = $2`, ws, c.version)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil {
			for _, r := range rs.Rules.Engagement {
				byID[r.ID] = r
			}
		}
		rules[c.version] = byID
	}
	rows, err := q.QueryContext(ctx, `SELECT id, type, name, occurred_at FROM track_events WHERE workspace_id = $1 AND contact_id = $2 ORDER BY occurred_at, id`, ws, contactID)
	if err != nil {
		return fmt.Errorf("lead: read events: %w", err)
	}
	defer rows.Close()
	byTime := map[int64][]track.Event{}
	for rows.Next() {
		var e track.Event
		if err := rows.Scan(&e.ID, &e.Type, &e.Name, &e.At); err != nil {
			return fmt.Errorf("lead: read events: %w", err)
		}
		us := e.At.UnixMicro()
		byTime[us] = append(byTime[us], e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lead: read events: %w", err)
	}
	type use struct {
		rule, event string
	}
	used := map[use]bool{}
	for i := range cs {
		c := &cs[i]
		if c.kind != "engagement" || c.eventID != "" {
			continue
		}
		r, known := rules[c.version][c.ruleID]
		for _, e := range byTime[c.at.UnixMicro()] {
			if used[use{c.ruleID, e.ID}] || (known && !r.matches(e)) {
				continue
			}
			used[use{c.ruleID, e.ID}] = true
			c.eventID, c.eventType, c.eventName = e.ID, e.Type, e.Name
			break
		}
	}
	return nil
}
