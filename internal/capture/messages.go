package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/store"
)

type msgTexts struct {
	DOISubject, DOIBody, WelcomeSubject, WelcomeBody, OfferLine, PrefSubject, PrefBody, SMSCode string
}

var texts = map[string]msgTexts{
	"de": {
		DOISubject:     "Bitte bestätigen Sie Ihre Anmeldung",
		DOIBody:        "Guten Tag,\n\nSie haben sich über unser Formular „%s“ angemeldet. Bitte bestätigen Sie dies mit einem Klick auf den folgenden Link:\n\n%s\n\nDer Link gilt bis %s. Wenn Sie sich nicht angemeldet haben, ignorieren Sie diese E-Mail einfach – ohne Bestätigung speichern wir keine Einwilligung.\n",
		WelcomeSubject: "Willkommen – Ihre Anmeldung ist bestätigt",
		WelcomeBody:    "Guten Tag,\n\nvielen Dank, Ihre Anmeldung ist bestätigt.\n",
		OfferLine:      "\nHier ist Ihr Angebot „%s“:\n%s\n",
		PrefSubject:    "Ihr Link zu Ihren Einstellungen",
		PrefBody:       "Guten Tag,\n\nüber diesen Link sehen Sie alle Einwilligungen, die Sie uns gegeben haben, und können sie jederzeit mit sofortiger Wirkung widerrufen:\n\n%s\n\nDer Link gilt bis %s. Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail.\n",
		SMSCode:        "%s ist Ihr Bestätigungscode (gültig %d Minuten). Nicht angemeldet? Dann ignorieren Sie diese SMS.",
	},
	"en": {
		DOISubject:     "Please confirm your sign-up",
		DOIBody:        "Hello,\n\nYou signed up through our form \"%s\". Please confirm with one click on this link:\n\n%s\n\nThe link is valid until %s. If you did not sign up, simply ignore this e-mail: without confirmation we record no consent.\n",
		WelcomeSubject: "Welcome – your sign-up is confirmed",
		WelcomeBody:    "Hello,\n\nThank you, your sign-up is confirmed.\n",
		OfferLine:      "\nHere is your offer \"%s\":\n%s\n",
		PrefSubject:    "Your link to your preferences",
		PrefBody:       "Hello,\n\nThis link shows every consent you gave us and lets you withdraw each with immediate effect:\n\n%s\n\nThe link is valid until %s. If you did not ask for it, ignore this e-mail.\n",
		SMSCode:        "%s is your confirmation code (valid %d minutes). Did not sign up? Ignore this message.",
	},
}

func lang(l string) string {
	if l == "en" {
		return "en"
	}
	return "de"
}

func dateIn(l string, t time.Time) string {
	t = t.In(berlin)
	if l == "en" {
		return t.Format("2 January 2006, 15:04 MST")
	}
	return t.Format("02.01.2006, 15:04 Uhr")
}

var berlin = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return l
	}
	return time.UTC
}()

func (s *Service) from(set Effective) string {
	if set.MailFromName != "" {
		return set.MailFromName + " <" + set.MailFrom + ">"
	}
	return set.MailFrom
}

// footer builds the footer every message carries: imprint and privacy
// notice; for marketing messages also the preference center and one-click
// unsubscribe for the consent the message relies on.
func (s *Service) footer(set Effective, ws, contactID, l, privacyHash, purpose, channel string) (*mail.Footer, error) {
	f := &mail.Footer{Imprint: set.Imprint[l], Lang: l}
	if f.Imprint == "" {
		f.Imprint = set.Imprint["de"]
	}
	if privacyHash != "" {
		f.PrivacyURL = set.PublicURL + "/p/notices/" + privacyHash
	}
	if purpose == "" {
		return f, nil
	}
	pref, err := token.Sign(s.Keys, token.Token{Kind: token.Preferences, Workspace: ws, Subject: contactID, Expires: s.now().Add(time.Duration(set.PreferencesDays) * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	// An unsubscribe link never expires: it can only withdraw, and RFC 8058
	// expects it to work for as long as the message is in the inbox.
	unsub, err := token.Sign(s.Keys, token.Token{Kind: token.Unsubscribe, Workspace: ws, Subject: contactID, Purpose: purpose, Channel: channel})
	if err != nil {
		return nil, err
	}
	f.PreferencesURL = set.PublicURL + "/p/preferences/" + pref
	f.UnsubscribeURL = set.PublicURL + "/p/unsubscribe/" + unsub
	return f, nil
}

// MarketingFooter is the footer of a marketing e-mail relying on purpose:
// imprint, privacy notice, preference center and one-click unsubscribe.
// Campaigns build theirs here so every message carries the same one.
func (s *Service) MarketingFooter(set Effective, ws, contactID, lang, privacyHash, purpose string) (*mail.Footer, error) {
	return s.footer(set, ws, contactID, lang, privacyHash, purpose, "email")
}

// FromHeader is the From of the workspace's messages.
func (s *Service) FromHeader(set Effective) string { return s.from(set) }

// MessageID is a new Message-ID in the domain of the workspace's sender.
func MessageID(set Effective) string { return messageID(set) }

// Marketing is a marketing message to build for one contact.
type Marketing struct {
	ContactID   string
	Purpose     string // business purpose the message relies on
	Lang        string
	Subject     string
	Text, HTML  string
	PrivacyHash string // privacy notice version linked in the footer
}

// BuildMarketing composes a marketing e-mail with the footer every one
// carries (imprint, privacy notice, preference center, RFC 8058 one-click
// unsubscribe for its purpose). It does not decide: the sender calls the
// engine right before sending.
func (s *Service) BuildMarketing(ctx context.Context, ws string, m Marketing) (to string, raw []byte, err error) {
	set, err := s.Settings.Effective(ctx, ws)
	if err != nil {
		return "", nil, err
	}
	c, err := s.Contacts.Get(ctx, ws, m.ContactID)
	if err != nil {
		return "", nil, err
	}
	if c.Email == "" {
		return "", nil, errors.New("the contact has no e-mail address")
	}
	l := lang(m.Lang)
	f, err := s.footer(set, ws, c.ID, l, m.PrivacyHash, m.Purpose, "email")
	if err != nil {
		return "", nil, err
	}
	raw, err = mail.Compose(mail.Message{From: s.from(set), To: c.Email, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Footer: f,
		MessageID: messageID(set), Date: s.now()})
	return c.Email, raw, err
}

func messageID(set Effective) string {
	host := "fairlead.invalid"
	if i := strings.LastIndex(set.MailFrom, "@"); i >= 0 {
		host = set.MailFrom[i+1:]
	}
	return "<" + id.New() + "@" + host + ">"
}

// ready loads what a job needs about its request and contact. A contact
// that is gone or erased ends the job (nothing to send, nothing to retry).
func (s *Service) ready(ctx context.Context, j *jobs.Job) (jobArgs, doiRequest, contact.Contact, Effective, error) {
	var a jobArgs
	if err := j.DecodeArgs(&a); err != nil {
		return a, doiRequest{}, contact.Contact{}, Effective{}, jobs.Cancel(err)
	}
	var r doiRequest
	cid := a.ContactID
	if a.Request != "" {
		var err error
		if r, err = s.request(ctx, s.DB.R, j.WorkspaceID, a.Request); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return a, r, contact.Contact{}, Effective{}, jobs.Cancel(err)
			}
			return a, r, contact.Contact{}, Effective{}, err
		}
		cid = r.ContactID
	}
	c, err := s.Contacts.Get(ctx, j.WorkspaceID, cid)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, keyring.ErrShredded) || (err == nil && c.Erased) {
		return a, r, c, Effective{}, jobs.Cancel(fmt.Errorf("contact %s is gone or erased", cid))
	}
	if err != nil {
		return a, r, c, Effective{}, err
	}
	set, err := s.Settings.Effective(ctx, j.WorkspaceID)
	return a, r, c, set, err
}

// deliverErr turns a permanent delivery failure into a cancelled job (the
// reason stays visible on the job); anything else is retried with backoff.
func deliverErr(err error) error {
	if err != nil && Permanent(err) {
		return jobs.Cancel(err)
	}
	return err
}

// allowed asks the engine right before a message leaves. A denial ends the
// job without sending; its reason codes are logged (no personal data).
func (s *Service) allowed(ctx context.Context, j *jobs.Job, contactID, purpose, channel string) (bool, error) {
	d, err := s.Decider.Decide(ctx, j.WorkspaceID, contactID, purpose, channel, audience.Campaign{})
	if err != nil {
		return false, err
	}
	if !d.Allowed {
		s.log().InfoContext(ctx, "message not sent: the engine denies it", "workspace_id", j.WorkspaceID, "contact_id", contactID,
			"job_id", j.ID, "purpose", purpose, "channel", channel, "reasons", fmt.Sprint(d.Reasons))
	}
	return d.Allowed, nil
}

func (s *Service) runSendDOIEmail(ctx context.Context, j *jobs.Job) error {
	_, r, c, set, err := s.ready(ctx, j)
	if err != nil {
		return err
	}
	if r.ConfirmedAt != nil || c.Email == "" {
		return nil
	}
	hasEmail := slices.ContainsFunc(r.Consents, func(q requested) bool { return slices.Contains(q.Channels, "email") })
	if hasEmail {
		// The confirmation request itself must be lawful: ad-free, for a
		// pending consent, no objection since (rules §7.4 consent_confirmation).
		if ok, err := s.allowed(ctx, j, c.ID, "doi_confirmation", "email"); err != nil || !ok {
			return err
		}
	}
	f, err := s.formFor(ctx, r)
	if err != nil {
		return err
	}
	l := lang(r.Lang)
	tok, err := token.Sign(s.Keys, token.Token{Kind: token.Confirm, Workspace: r.WorkspaceID, Subject: r.ID, Expires: r.ExpiresAt})
	if err != nil {
		return err
	}
	link := set.PublicURL + "/p/confirm/" + tok
	t := texts[l]
	title := f.Definition.Title[l]
	if title == "" {
		title = f.Key
	}
	foot, err := s.footer(set, r.WorkspaceID, c.ID, l, f.Definition.PrivacyNotice[l], "", "")
	if err != nil {
		return err
	}
	raw, err := mail.Compose(mail.Message{From: s.from(set), To: c.Email, Subject: t.DOISubject,
		Text: fmt.Sprintf(t.DOIBody, title, link, dateIn(l, r.ExpiresAt)), Footer: foot, MessageID: messageID(set), Date: s.now()})
	if err != nil {
		return jobs.Cancel(err)
	}
	return deliverErr(s.Delivery.Email(ctx, set, r.WorkspaceID, c.ID, set.MailFrom, c.Email, t.DOISubject, raw))
}

func (s *Service) runSendDOISMS(ctx context.Context, j *jobs.Job) error {
	_, r, c, set, err := s.ready(ctx, j)
	if err != nil {
		return err
	}
	if r.ConfirmedAt != nil || c.Phone == "" || !s.now().Before(r.ExpiresAt) {
		return nil
	}
	if ok, err := s.allowed(ctx, j, c.ID, "doi_confirmation", "sms"); err != nil || !ok {
		return err
	}
	l := lang(r.Lang)
	text := fmt.Sprintf(texts[l].SMSCode, s.smsCode(r.WorkspaceID, r.ID), set.SMSCodeMinutes)
	return deliverErr(s.Delivery.SMS(ctx, set, r.WorkspaceID, c.ID, e164(c.Phone), text))
}

// e164 puts a stored number into the international form SMS gateways
// need. Numbers are stored as people type them after normalization; a
// national number (0171…) is read as German, fairlead's home market.
func e164(p string) string {
	switch {
	case strings.HasPrefix(p, "+"):
		return p
	case strings.HasPrefix(p, "00"):
		return "+" + p[2:]
	case strings.HasPrefix(p, "0"):
		return "+49" + p[1:]
	}
	return p
}

// runSendWelcome sends the first message on a confirmed e-mail consent:
// the content offer, with the full marketing footer. The engine decides
// right before; the use of the consent is recorded (rules §9
// log_consent_usage).
func (s *Service) runSendWelcome(ctx context.Context, j *jobs.Job) error {
	_, r, c, set, err := s.ready(ctx, j)
	if err != nil {
		return err
	}
	if c.Email == "" {
		return nil
	}
	purpose := ""
	for _, q := range r.Consents {
		if slices.Contains(q.Channels, "email") {
			purpose = q.Purpose
			break
		}
	}
	if purpose == "" {
		return nil
	}
	if ok, err := s.allowed(ctx, j, c.ID, purpose, "email"); err != nil || !ok {
		return err
	}
	f, err := s.formFor(ctx, r)
	if err != nil {
		return err
	}
	l := lang(r.Lang)
	t := texts[l]
	body := t.WelcomeBody
	if o := f.Definition.Offer; o != nil {
		u := o.URL
		if strings.HasPrefix(u, "/") {
			u = set.PublicURL + u
		}
		body += fmt.Sprintf(t.OfferLine, o.Title[l], u)
	}
	foot, err := s.footer(set, r.WorkspaceID, c.ID, l, f.Definition.PrivacyNotice[l], purpose, "email")
	if err != nil {
		return err
	}
	raw, err := mail.Compose(mail.Message{From: s.from(set), To: c.Email, Subject: t.WelcomeSubject, Text: body, Footer: foot, MessageID: messageID(set), Date: s.now()})
	if err != nil {
		return jobs.Cancel(err)
	}
	if err := deliverErr(s.Delivery.Email(ctx, set, r.WorkspaceID, c.ID, set.MailFrom, c.Email, t.WelcomeSubject, raw)); err != nil {
		return err
	}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		_, err := s.Ledger.Append(ctx, tx, r.WorkspaceID, c.ID, consent.NewEvent{Kind: consent.KindConsentUsed, Purpose: purpose, Channels: []string{"email"}, OccurredAt: &now,
			Evidence: consent.EvidenceInput{Source: "message:welcome:" + j.ID}}, consent.Actor{})
		return err
	})
	if err != nil {
		// The mail left; a retry would send it twice. Keep the failure visible in the log.
		s.log().ErrorContext(ctx, "record consent use", "workspace_id", r.WorkspaceID, "contact_id", c.ID, "job_id", j.ID, "err", err)
	}
	return nil
}

// runSendPreferences answers a person's own request for a preference-center
// link. It goes only to the address on record, so asking for it reveals
// nothing to whoever typed the address.
func (s *Service) runSendPreferences(ctx context.Context, j *jobs.Job) error {
	a, _, c, set, err := s.ready(ctx, j)
	if err != nil {
		return err
	}
	if c.Email == "" {
		return nil
	}
	l := lang(a.Lang)
	exp := s.now().Add(time.Duration(set.PreferencesDays) * 24 * time.Hour)
	tok, err := token.Sign(s.Keys, token.Token{Kind: token.Preferences, Workspace: j.WorkspaceID, Subject: c.ID, Expires: exp})
	if err != nil {
		return err
	}
	t := texts[l]
	foot, err := s.footer(set, j.WorkspaceID, c.ID, l, "", "", "")
	if err != nil {
		return err
	}
	raw, err := mail.Compose(mail.Message{From: s.from(set), To: c.Email, Subject: t.PrefSubject,
		Text: fmt.Sprintf(t.PrefBody, set.PublicURL+"/p/preferences/"+tok, dateIn(l, exp)), Footer: foot, MessageID: messageID(set), Date: s.now()})
	if err != nil {
		return jobs.Cancel(err)
	}
	return deliverErr(s.Delivery.Email(ctx, set, j.WorkspaceID, c.ID, set.MailFrom, c.Email, t.PrefSubject, raw))
}
