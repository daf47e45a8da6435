package capture

import (
	"context"
	"fmt"
	"sync"

	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/sms"
	"github.com/fairlead/fairlead/internal/store"
)

// Delivery hands a built message to the workspace's SMTP server or SMS
// gateway, or — when none is configured — to the dev outbox in the
// database, so the whole double opt-in can be walked on a laptop.
type Delivery struct {
	DB     *store.DB
	Outbox *outbox.Outbox
	mu     sync.Mutex
	smtp   map[string]mail.Sender
	sms    map[string]sms.Gateway
}

// NewDelivery works on db's outbox.
func NewDelivery(db *store.DB, o *outbox.Outbox) *Delivery {
	return &Delivery{DB: db, Outbox: o, smtp: map[string]mail.Sender{}, sms: map[string]sms.Gateway{}}
}

func (d *Delivery) smtpSender(raw string) (mail.Sender, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.smtp[raw]; ok {
		return s, nil
	}
	c, err := mail.ParseSMTPURL(raw)
	if err != nil {
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	s := mail.NewSMTPSender(c)
	d.smtp[raw] = s
	return s, nil
}

func (d *Delivery) smsGateway(raw string) (sms.Gateway, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g, ok := d.sms[raw]; ok {
		return g, nil
	}
	c, err := sms.ParseGatewayURL(raw)
	if err != nil {
		return nil, fmt.Errorf("SMS gateway URL: %w", err)
	}
	g := sms.NewHTTPGateway(c, nil)
	d.sms[raw] = g
	return g, nil
}

// Email delivers a composed message. The error says whether to retry
// (mail.Permanent).
func (d *Delivery) Email(ctx context.Context, set Effective, ws, contactID, from, to, subject string, raw []byte) error {
	if set.SMTPURL == "" {
		return d.Outbox.Mailer(ws, contactID).Send(ctx, mail.Envelope{From: from, To: []string{to}}, raw)
	}
	s, err := d.smtpSender(set.SMTPURL)
	if err != nil {
		return err
	}
	return s.Send(ctx, mail.Envelope{From: from, To: []string{to}}, raw)
}

// SMS delivers a text message.
func (d *Delivery) SMS(ctx context.Context, set Effective, ws, contactID, to, text string) error {
	if set.SMSURL == "" {
		return d.Outbox.Texter(ws, contactID).Send(ctx, to, text)
	}
	g, err := d.smsGateway(set.SMSURL)
	if err != nil {
		return err
	}
	return g.Send(ctx, to, text)
}

// Permanent reports whether a delivery error will not go away by retrying.
func Permanent(err error) bool { return mail.Permanent(err) || sms.Permanent(err) }
