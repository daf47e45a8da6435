package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"strings"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/merge"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Rendered is a step rendered for one contact, as it would be sent
// (without the footer links, which are made per message).
type Rendered struct {
	Step    int    `json:"step"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

func (s *Service) render(c Campaign, step int, ct contact.Contact) (Rendered, error) {
	if step < 0 || step >= len(c.Steps) {
		return Rendered{}, validate.Invalid("step", fmt.Sprintf("step must be from 0 to %d", len(c.Steps)-1))
	}
	st := c.Steps[step]
	vals := Values(ct)
	out := Rendered{Step: step}
	for _, p := range []struct {
		dst    *string
		v      string
		escape func(string) string
	}{{&out.Subject, st.Subject, nil}, {&out.Text, st.Text, nil}, {&out.HTML, st.HTML, html.EscapeString}} {
		t, err := merge.Parse("step", p.v, MergeFields)
		if err != nil {
			return out, err
		}
		*p.dst = t.Execute(vals, p.escape)
	}
	return out, nil
}

func (s *Service) contactFor(ctx context.Context, ws, contactID string) (contact.Contact, error) {
	if contactID == "" {
		return contact.Contact{}, nil
	}
	ct, err := s.Contacts.Get(ctx, ws, contactID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, keyring.ErrShredded) || (err == nil && ct.Erased) {
		return ct, validate.Invalid("contact_id", "contact_id must be the id of a contact of this workspace")
	}
	return ct, err
}

// Preview renders a step for one contact (contactID "" = empty merge
// values).
func (s *Service) Preview(ctx context.Context, ws, campaignID string, step int, contactID string) (Rendered, error) {
	c, err := s.Get(ctx, ws, campaignID)
	if err != nil {
		return Rendered{}, err
	}
	ct, err := s.contactFor(ctx, ws, contactID)
	if err != nil {
		return Rendered{}, err
	}
	return s.render(c, step, ct)
}

// TestSend sends a step to the given address, marked as a test (subject
// prefix, X-Fairlead-Test header), with the merge values of contactID (or
// none). It never goes to the audience and is not counted in the report.
func (s *Service) TestSend(ctx context.Context, ws, campaignID string, step int, to, contactID string) error {
	if !id.Valid(ws) {
		return store.ErrNotFound
	}
	to = strings.TrimSpace(to)
	if to == "" {
		return validate.Required("to")
	}
	if err := mail.CheckHeaderValue("to", to); err != nil {
		return err
	}
	if strings.ContainsAny(to, ",;<> ") || !strings.Contains(to, "@") {
		return validate.Invalid("to", "to must be one bare e-mail address")
	}
	c, err := s.Get(ctx, ws, campaignID)
	if err != nil {
		return err
	}
	ct, err := s.contactFor(ctx, ws, contactID)
	if err != nil {
		return err
	}
	r, err := s.render(c, step, ct)
	if err != nil {
		return err
	}
	set, err := s.Capture.Settings.Effective(ctx, ws)
	if err != nil {
		return err
	}
	foot := &mail.Footer{Imprint: set.Imprint[c.Lang], Lang: c.Lang, ObjectionNotice: c.NoticeInMessage}
	if foot.Imprint == "" {
		foot.Imprint = set.Imprint["de"]
	}
	if c.PrivacyHash != "" {
		foot.PrivacyURL = set.PublicURL + "/p/notices/" + c.PrivacyHash
	}
	prefix := map[string]string{"de": "[Test] ", "en": "[Test] "}[c.Lang]
	raw, err := mail.Compose(mail.Message{From: s.Capture.FromHeader(set), To: to, Subject: prefix + r.Subject, Text: r.Text, HTML: r.HTML, Footer: foot,
		Date: s.now(), Headers: map[string]string{"X-Fairlead-Test": "true"}})
	if err != nil {
		return err
	}
	if s.Signer != nil {
		var b bytes.Buffer
		if err := s.Signer.Sign(&b, raw); err != nil {
			return err
		}
		raw = b.Bytes()
	}
	if err := s.Capture.Delivery.Email(ctx, set, ws, contactID, set.MailFrom, to, r.Subject, raw); err != nil {
		return fmt.Errorf("test send of campaign %s: %w", c.ID, err)
	}
	return nil
}
