package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/sms"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/webhook"
	"github.com/fairlead/fairlead/internal/workspace"
)

// captureService wires lead capture onto the consent hub.
func captureService(db *store.DB, cfg config.Config, contacts *contact.Store, purposes *consent.Purposes, notices *consent.Notices,
	ledger *consent.Ledger, resolver *audience.Resolver, q capture.Enqueuer, log *slog.Logger) *capture.Service {
	keys := contacts.Keys()
	settings := capture.NewSettingsStore(db, keys, capture.Defaults{PublicURL: cfg.Public(), MailFrom: cfg.MailFrom, SMTPURL: cfg.SMTPURL, SMSURL: cfg.SMSURL}, nil)
	return &capture.Service{
		DB: db, Contacts: contacts, Ledger: ledger, Purposes: purposes, Notices: notices, Keys: keys,
		Jobs: q, Decider: resolver, Settings: settings, Delivery: capture.NewDelivery(db, outbox.NewOutbox(db, keys, nil)), Log: log,
	}
}

// checkGatewayURL validates a workspace's SMTP or SMS gateway URL when saved.
func checkGatewayURL(field, raw string) error {
	var err error
	switch field {
	case "smtp_url":
		_, err = mail.ParseSMTPURL(raw)
	case "sms_url":
		_, err = sms.ParseGatewayURL(raw)
	}
	if err != nil {
		return validate.Invalid(field, err.Error())
	}
	return nil
}

// workspaceBySlug resolves the workspace of the bare preference-center page.
func workspaceBySlug(db *store.DB) func(r *http.Request, slug string) (string, error) {
	return func(r *http.Request, slug string) (string, error) {
		ws, err := workspace.BySlug(r.Context(), db.R, slug)
		if err != nil {
			return "", err
		}
		return ws.ID, nil
	}
}

// Demo texts: a consent text per language and a privacy notice, so the
// demo form can be tried at once. Operators replace them with their own.
var demoNotices = []consent.NewNotice{
	{Kind: "consent_text", Language: "de", Title: "Einwilligung Newsletter",
		Body: "Ja, ich möchte den Newsletter der Demo GmbH mit Neuigkeiten und Angeboten per E-Mail erhalten. Meine Einwilligung kann ich jederzeit mit Wirkung für die Zukunft widerrufen, z. B. über den Abmeldelink in jeder E-Mail."},
	{Kind: "consent_text", Language: "en", Title: "Newsletter consent",
		Body: "Yes, I want to receive the Demo GmbH newsletter with news and offers by e-mail. I can withdraw my consent at any time with effect for the future, e.g. through the unsubscribe link in every e-mail."},
	{Kind: "privacy_notice", Language: "de", Title: "Datenschutzerklärung der Demo GmbH",
		Body: "Verantwortlich: Demo GmbH, Musterstraße 1, 10115 Berlin.\n\nWir verarbeiten Ihre E-Mail-Adresse und, wenn Sie ihn angeben, Ihren Vornamen, um Ihnen den Newsletter zu senden (Art. 6 Abs. 1 lit. a DSGVO). Den Nachweis Ihrer Einwilligung (Zeitpunkt, Text, Bestätigung) speichern wir, solange die Einwilligung besteht, und danach bis zum Ablauf der Verjährung (Art. 7 Abs. 1, Art. 17 Abs. 3 lit. e DSGVO).\n\nSie haben das Recht auf Auskunft, Berichtigung, Löschung, Einschränkung, Datenübertragbarkeit und Widerspruch sowie auf Beschwerde bei einer Aufsichtsbehörde."},
	{Kind: "privacy_notice", Language: "en", Title: "Privacy notice of Demo GmbH",
		Body: "Controller: Demo GmbH, Musterstraße 1, 10115 Berlin, Germany.\n\nWe process your e-mail address and, if you give it, your first name to send you the newsletter (Art. 6(1)(a) GDPR). We keep the proof of your consent (time, text, confirmation) while the consent stands and afterwards until legal claims are time-barred (Art. 7(1), Art. 17(3)(e) GDPR).\n\nYou have the right of access, rectification, erasure, restriction, portability and objection, and to lodge a complaint with a supervisory authority."},
}

var demoImprint = map[string]string{
	"de": "Demo GmbH · Musterstraße 1 · 10115 Berlin · Geschäftsführung: Erika Mustermann · HRB 000000 B, Amtsgericht Charlottenburg · USt-IdNr. DE000000000",
	"en": "Demo GmbH · Musterstraße 1 · 10115 Berlin, Germany · Managing director: Erika Mustermann · HRB 000000 B, Local Court Charlottenburg · VAT ID DE000000000",
}

// seedDemo gives the demo workspace its newsletter form with an e-book, its
// notices and an imprint, once: when the workspace has no forms yet and
// the demo form's key is free. Several processes starting at once are fine
// (the form key is unique).
func seedDemo(ctx context.Context, svc *capture.Service, db *store.DB) error {
	ws, err := workspace.BySlug(ctx, db.R, workspace.DemoSlug)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if fs, err := svc.Forms(ctx, ws.ID); err != nil || len(fs) > 0 {
		return err
	}
	if _, err := svc.PublicForm(ctx, "demo-newsletter"); err == nil || !errors.Is(err, capture.ErrFormNotFound) {
		return err
	}
	h := make([]string, len(demoNotices))
	for i, n := range demoNotices {
		v, _, err := svc.Notices.Create(ctx, ws.ID, "system", n)
		if err != nil {
			return fmt.Errorf("demo notice: %w", err)
		}
		h[i] = v.Hash
	}
	if _, err := svc.Settings.Update(ctx, ws.ID, capture.SettingsUpdate{Imprint: demoImprint}, nil); err != nil {
		return err
	}
	if _, _, err := svc.SaveForm(ctx, ws.ID, "system", form.Demo(h[0], h[1], h[2], h[3])); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		var ve *validate.Error
		if errors.As(err, &ve) && ve.Code == "taken" {
			return nil
		}
		return fmt.Errorf("demo form: %w", err)
	}
	return nil
}

// seedDemoWith builds the services seedDemo needs (no queue: seeding sends nothing).
func seedDemoWith(ctx context.Context, db *store.DB, cfg config.Config, log *slog.Logger) error {
	contacts, purposes, notices, ledger := consentServices(db, cfg)
	if err := seedSupplierNotices(ctx, db, notices); err != nil {
		return err
	}
	return seedDemo(ctx, captureService(db, cfg, contacts, purposes, notices, ledger, nil, nil, log), db)
}

// privacyService wires the privacy operations onto lead capture; w, when
// set, tells the access export which connected systems received data.
func privacyService(c *capture.Service, q capture.Enqueuer, log *slog.Logger, w *webhook.Service) *privacy.Service {
	p := &privacy.Service{DB: c.DB, Contacts: c.Contacts, Ledger: c.Ledger, Capture: c, Jobs: q, Log: log}
	// Erasure deletes the contact's identified tracking events too.
	p.Erasers = append(p.Erasers, trackService(c.DB, c.Contacts.Keys()).EraseContact, supplier.EraseContact, lead.EraseContact, importer.EraseContact)
	// The access export shows what those parts hold, too (Art. 15 GDPR).
	p.Exporters = append(p.Exporters, privacy.Exporter{Key: "tracking_events", Export: track.ExportContact},
		privacy.Exporter{Key: "lead", Export: lead.ExportContact(c.Contacts.Keys())}, privacy.Exporter{Key: "supplier", Export: supplier.ExportContact(c.Contacts.Keys())},
		privacy.Exporter{Key: "imports", Export: importer.ExportContact}, privacy.Exporter{Key: "campaigns", Export: campaign.ExportContact})
	if w != nil {
		p.Recipients = webhookRecipients{w}
	}
	return p
}

// webhookRecipients lists, for the access export, the connected systems
// that were sent events about the person (GDPR Art. 15(1)(c)).
type webhookRecipients struct{ w *webhook.Service }

func (r webhookRecipients) Recipients(ctx context.Context, ws, contactID string) ([]privacy.Recipient, error) {
	rs, err := r.w.Recipients(ctx, ws, contactID)
	if err != nil {
		return nil, err
	}
	out := make([]privacy.Recipient, 0, len(rs))
	for _, x := range rs {
		t := x.LastSentAt
		out = append(out, privacy.Recipient{ID: x.EndpointID, Name: x.Name, DataCategories: x.DataCategories, EventTypes: x.EventTypes, Deliveries: x.Deliveries, LastSentAt: &t})
	}
	return out, nil
}
