package capture

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/contact/contactpoint"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// ConsentView is one consent as the person sees it in the preference center.
type ConsentView struct {
	Purpose       string     `json:"purpose"`
	PurposeDE     string     `json:"purpose_de"`
	PurposeEN     string     `json:"purpose_en"`
	Channel       string     `json:"channel"`
	Status        string     `json:"status"` // pending, confirmed, withdrawn
	GivenAt       time.Time  `json:"given_at"`
	ConfirmedAt   *time.Time `json:"confirmed_at,omitempty"`
	WithdrawnAt   *time.Time `json:"withdrawn_at,omitempty"`
	Method        string     `json:"confirmation_method,omitempty"`
	Source        string     `json:"source,omitempty"`
	NoticeHash    string     `json:"notice_hash,omitempty"`
	TextShown     string     `json:"text_shown,omitempty"`
	Withdrawable  bool       `json:"withdrawable"`
	ConfirmedWith string     `json:"-"`
}

// PreferencesView is the preference center of one person.
type PreferencesView struct {
	WorkspaceID      string
	ContactID        string
	Consents         []ConsentView
	Objected         bool
	ErasureRequested bool
	Erased           bool
}

// AnyWithdrawable reports whether a consent is left to withdraw.
func (v PreferencesView) AnyWithdrawable() bool {
	for _, c := range v.Consents {
		if c.Withdrawable {
			return true
		}
	}
	return false
}

// pref checks a preference-center link.
func (s *Service) pref(tok string) (token.Token, error) {
	t, err := token.Parse(s.Keys, token.Preferences, tok, s.now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return t, ErrLinkExpired
	case err != nil:
		return t, ErrLinkInvalid
	}
	return t, nil
}

// Preferences shows every consent the person gave: purpose, channel, when,
// the exact text, how it was confirmed.
func (s *Service) Preferences(ctx context.Context, tok string) (PreferencesView, error) {
	t, err := s.pref(tok)
	if err != nil {
		return PreferencesView{}, err
	}
	return s.preferences(ctx, t.Workspace, t.Subject)
}

func (s *Service) preferences(ctx context.Context, ws, contactID string) (PreferencesView, error) {
	v := PreferencesView{WorkspaceID: ws, ContactID: contactID}
	evs, err := s.Ledger.Events(ctx, ws, contactID, false)
	if errors.Is(err, store.ErrNotFound) {
		return v, ErrLinkInvalid
	}
	if err != nil {
		return v, err
	}
	ps, err := s.Purposes.List(ctx, ws)
	if err != nil {
		return v, err
	}
	names := map[string]consent.Purpose{}
	for _, p := range ps {
		names[p.Key] = p
	}
	idx := map[[2]string]int{}
	for _, e := range evs {
		switch e.Kind {
		case consent.KindObjection:
			if e.Details.ObjectionType == "direct_marketing" {
				v.Objected = true
			}
		case consent.KindErasureRequested:
			v.ErasureRequested = true
		case consent.KindErasureExecuted:
			v.Erased = true
		}
		if e.Kind != consent.KindConsentRequested && e.Kind != consent.KindConsentConfirmed && e.Kind != consent.KindConsentWithdrawn {
			continue
		}
		for _, ch := range e.Channels {
			k := [2]string{e.Purpose, ch}
			i, ok := idx[k]
			if !ok || (e.Kind == consent.KindConsentRequested && v.Consents[i].Status != "pending") {
				p := names[e.Purpose]
				v.Consents = append(v.Consents, ConsentView{Purpose: e.Purpose, PurposeDE: p.DescriptionDE, PurposeEN: p.DescriptionEN, Channel: ch, GivenAt: e.OccurredAt})
				i = len(v.Consents) - 1
				idx[k] = i
			}
			c := &v.Consents[i]
			switch e.Kind {
			case consent.KindConsentRequested:
				c.Status, c.GivenAt, c.Source, c.NoticeHash, c.TextShown = "pending", e.OccurredAt, e.Evidence.Source, e.Evidence.NoticeHash, e.Evidence.TextShown
				c.ConfirmedAt, c.WithdrawnAt, c.Method = nil, nil, ""
			case consent.KindConsentConfirmed:
				t := e.OccurredAt
				if e.Evidence.ConfirmedAt != nil {
					t = *e.Evidence.ConfirmedAt
				}
				c.Status, c.ConfirmedAt, c.Method, c.WithdrawnAt = "confirmed", &t, e.Evidence.ConfirmationMethod, nil
				if c.Source == "" {
					c.Source, c.NoticeHash, c.TextShown = e.Evidence.Source, e.Evidence.NoticeHash, e.Evidence.TextShown
				}
			case consent.KindConsentWithdrawn:
				t := e.OccurredAt
				c.Status, c.WithdrawnAt = "withdrawn", &t
			}
			c.Withdrawable = c.Status != "withdrawn"
		}
	}
	return v, nil
}

// Withdraw withdraws one consent (purpose and channel) or, with purpose
// "", every consent, with immediate effect (Art. 7(3) GDPR).
func (s *Service) Withdraw(ctx context.Context, tok, purpose, channel string, m Meta) (PreferencesView, error) {
	t, err := s.pref(tok)
	if err != nil {
		return PreferencesView{}, err
	}
	return s.withdraw(ctx, t.Workspace, t.Subject, purpose, channel, "preference_center", m)
}

func (s *Service) withdraw(ctx context.Context, ws, contactID, purpose, channel, source string, m Meta) (PreferencesView, error) {
	v, err := s.preferences(ctx, ws, contactID)
	if err != nil {
		return v, err
	}
	now := s.now()
	var todo []ConsentView
	for _, c := range v.Consents {
		if c.Withdrawable && (purpose == "" || (c.Purpose == purpose && c.Channel == channel)) {
			todo = append(todo, c)
		}
	}
	if len(todo) == 0 {
		return v, nil // already withdrawn: a second click is harmless
	}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		for _, c := range todo {
			_, err := s.Ledger.Append(ctx, tx, ws, contactID, consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: c.Purpose, Channels: []string{c.Channel}, OccurredAt: &now,
				Evidence: consent.EvidenceInput{Source: source, UserAgent: trim(m.UserAgent, 500)}}, consent.Actor{})
			if errors.Is(err, store.ErrConflict) {
				// Given for an address the contact no longer has: that consent
				// already covers nothing (rules §11).
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	return s.preferences(ctx, ws, contactID)
}

// Object records an objection to direct marketing on every channel
// (Werbewiderspruch, Art. 21(2) GDPR): absolute, no balancing.
func (s *Service) Object(ctx context.Context, tok string, m Meta) (PreferencesView, error) {
	t, err := s.pref(tok)
	if err != nil {
		return PreferencesView{}, err
	}
	v, err := s.preferences(ctx, t.Workspace, t.Subject)
	if err != nil || v.Objected {
		return v, err
	}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		_, err := s.Ledger.Append(ctx, tx, t.Workspace, t.Subject, consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"any"}, OccurredAt: &now,
			Details: consent.Details{ObjectionType: "direct_marketing"}, Evidence: consent.EvidenceInput{Source: "preference_center", UserAgent: trim(m.UserAgent, 500)}}, consent.Actor{})
		return err
	})
	if err != nil {
		return v, err
	}
	return s.preferences(ctx, t.Workspace, t.Subject)
}

// RequestErasure records the person's erasure request (Art. 17) for the
// privacy workflow: optional processing stops at once (rules G1).
func (s *Service) RequestErasure(ctx context.Context, tok string, m Meta) (PreferencesView, error) {
	t, err := s.pref(tok)
	if err != nil {
		return PreferencesView{}, err
	}
	v, err := s.preferences(ctx, t.Workspace, t.Subject)
	if err != nil || v.ErasureRequested {
		return v, err
	}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		ev := consent.EvidenceInput{Source: "preference_center", UserAgent: trim(m.UserAgent, 500)}
		if _, err := s.Ledger.Append(ctx, tx, t.Workspace, t.Subject, consent.NewEvent{Kind: consent.KindRightsRequestOpened, OccurredAt: &now,
			Details: consent.Details{RequestType: "erasure"}, Evidence: ev}, consent.Actor{}); err != nil {
			return err
		}
		_, err := s.Ledger.Append(ctx, tx, t.Workspace, t.Subject, consent.NewEvent{Kind: consent.KindErasureRequested, OccurredAt: &now, Evidence: ev}, consent.Actor{})
		return err
	})
	if err != nil {
		return v, err
	}
	return s.preferences(ctx, t.Workspace, t.Subject)
}

// Export is the copy of their data a person downloads (Art. 15(3), 20).
type Export struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Contact     contact.Contact `json:"contact"`
	Values      []Value         `json:"values"`
	Consents    []ConsentView   `json:"consents"`
	Ledger      []consent.Event `json:"ledger"`
}

// Export returns everything the preference center can show, as JSON.
func (s *Service) Export(ctx context.Context, tok string) ([]byte, error) {
	t, err := s.pref(tok)
	if err != nil {
		return nil, err
	}
	c, err := s.Contacts.Get(ctx, t.Workspace, t.Subject)
	if err != nil {
		return nil, err
	}
	vals, err := s.Values(ctx, t.Workspace, t.Subject)
	if err != nil && !errors.Is(err, keyring.ErrShredded) {
		return nil, err
	}
	v, err := s.preferences(ctx, t.Workspace, t.Subject)
	if err != nil {
		return nil, err
	}
	evs, err := s.Ledger.Events(ctx, t.Workspace, t.Subject, true)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(Export{GeneratedAt: s.now(), Contact: c, Values: vals, Consents: v.Consents, Ledger: evs}, "", "  ")
}

// RequestLink sends a fresh preference-center link to the address if a
// contact has it in the workspace of the form or page. It answers the same
// whether or not the address is known.
func (s *Service) RequestLink(ctx context.Context, ws, email, lang string) error {
	e, err := contactpoint.Email(email)
	if err != nil {
		return nil
	}
	found, err := s.Contacts.List(ctx, ws, contact.ListParams{Email: e, Limit: 1})
	if err != nil || len(found) == 0 || found[0].Erased {
		return err
	}
	c := found[0]
	return s.DB.Tx(ctx, func(tx store.Tx) error {
		// One link per contact and hour: a form that is hammered sends no flood.
		_, err := s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: JobSendPreferences, Args: jobArgs{ContactID: c.ID, Lang: lang},
			UniqueKey: "pref:" + c.ID + ":" + s.now().Format("2006010215")})
		return err
	})
}

// Unsubscribe is the one-click unsubscribe of RFC 8058: it withdraws the
// consent the message relied on, with immediate effect.
func (s *Service) Unsubscribe(ctx context.Context, tok string, m Meta) (purpose, channel string, err error) {
	t, err := token.Parse(s.Keys, token.Unsubscribe, tok, s.now())
	if err != nil {
		return "", "", ErrLinkInvalid
	}
	if _, err := s.withdraw(ctx, t.Workspace, t.Subject, t.Purpose, t.Channel, "one_click_unsubscribe", m); err != nil {
		return t.Purpose, t.Channel, err
	}
	return t.Purpose, t.Channel, nil
}

// CheckUnsubscribe resolves an unsubscribe link without changing anything.
func (s *Service) CheckUnsubscribe(tok string) (purpose, channel string, err error) {
	t, err := token.Parse(s.Keys, token.Unsubscribe, tok, s.now())
	if err != nil {
		return "", "", ErrLinkInvalid
	}
	return t.Purpose, t.Channel, nil
}
