package campaign

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Notification is one event reported by the mail provider about a message
// fairlead sent (see docs/campaigns.md for the webhook format).
type Notification struct {
	// Type is delivered, bounce or complaint.
	Type string `json:"type"`
	// BounceType of a bounce: hard (the address does not exist) or soft
	// (full mailbox, temporary refusal).
	BounceType string `json:"bounce_type,omitempty"`
	// MessageID is the Message-ID of the message, with angle brackets.
	MessageID string     `json:"message_id"`
	At        *time.Time `json:"at,omitempty"`
}

// NotificationTypes and BounceTypes are the allowed values.
var (
	NotificationTypes = []string{"delivered", "bounce", "complaint"}
	BounceTypes       = []string{"hard", "soft"}
)

// SoftBounceLimit soft bounces of one address suppress it like a hard one.
const SoftBounceLimit = 3

// NotifyResult counts what a notification batch did.
type NotifyResult struct {
	Applied int `json:"applied"`
	// Unknown notifications name no message of this workspace; they are
	// ignored so a provider's retry of a foreign message does not loop.
	Unknown    int `json:"unknown"`
	Suppressed int `json:"suppressed"`
}

// ErrSignature means the webhook signature is missing or wrong.
var ErrSignature = errors.New("the notification signature is not valid")

// WebhookSecret is the workspace's secret for signing notifications. It is
// derived from the master key, so nothing secret is stored; it changes
// only with the master key.
func (s *Service) WebhookSecret(ws string) string {
	return hex.EncodeToString(s.Capture.Keys.MAC("campaign:notifications", []byte(strings.ToLower(ws)))[:24])
}

// CheckSignature checks the header "sha256=<hex HMAC-SHA256 of the body
// under the workspace secret>".
func (s *Service) CheckSignature(ws string, body []byte, header string) error {
	got, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || !id.Valid(ws) {
		return ErrSignature
	}
	want := hmac.New(sha256.New, []byte(s.WebhookSecret(ws)))
	want.Write(body)
	g, err := hex.DecodeString(got)
	if err != nil || !hmac.Equal(g, want.Sum(nil)) {
		return ErrSignature
	}
	return nil
}

// Notify applies the provider's notifications. A hard bounce, the third
// soft bounce and a complaint put the address on the suppression list; a
// complaint is also recorded in the ledger as an objection to direct
// marketing by e-mail (Art. 21(2) GDPR: a spam report is the person
// saying no), so the engine denies every further advertising e-mail.
func (s *Service) Notify(ctx context.Context, ws string, ns []Notification) (NotifyResult, error) {
	var res NotifyResult
	if !id.Valid(ws) {
		return res, store.ErrNotFound
	}
	for i, n := range ns {
		f := fmt.Sprintf("events[%d].", i)
		switch n.Type {
		case "delivered", "complaint":
		case "bounce":
			if n.BounceType != "hard" && n.BounceType != "soft" {
				return res, validate.OneOf(f+"bounce_type", n.BounceType, BounceTypes)
			}
		default:
			return res, validate.OneOf(f+"type", n.Type, NotificationTypes)
		}
		if n.MessageID == "" {
			return res, validate.Required(f + "message_id")
		}
	}
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		for _, n := range ns {
			at := s.now()
			if n.At != nil {
				at = n.At.UTC().Truncate(time.Microsecond)
			}
			var cid string
			err := tx.QueryRowContext(ctx, `SELECT contact_id FROM campaign_messages WHERE workspace_id = $1 AND message_id = $2`, ws, n.MessageID).Scan(&cid)
			if errors.Is(err, sql.ErrNoRows) {
				res.Unknown++
				continue
			}
			if err != nil {
				return err
			}
			res.Applied++
			switch n.Type {
			case "delivered":
				_, err = tx.ExecContext(ctx, `UPDATE campaign_messages SET delivered_at = $1 WHERE workspace_id = $2 AND message_id = $3 AND delivered_at IS NULL`, at, ws, n.MessageID)
			case "bounce":
				_, err = tx.ExecContext(ctx, `UPDATE campaign_messages SET bounce = $1 WHERE workspace_id = $2 AND message_id = $3`, n.BounceType, ws, n.MessageID)
				if err == nil {
					var sup bool
					sup, err = s.bounce(ctx, tx, ws, cid, n.BounceType == "hard", at)
					if sup {
						res.Suppressed++
					}
				}
			case "complaint":
				err = s.complaint(ctx, tx, ws, cid, at)
				res.Suppressed++
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

func (s *Service) bounce(ctx context.Context, tx store.Tx, ws, cid string, hard bool, at time.Time) (bool, error) {
	var soft int
	var hardAt sql.NullTime
	err := tx.QueryRowContext(ctx, `SELECT soft, hard_at FROM campaign_bounces WHERE workspace_id = $1 AND contact_id = $2`, ws, cid).Scan(&soft, &hardAt)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `INSERT INTO campaign_bounces (workspace_id, contact_id, soft, updated_at) VALUES ($1, $2, 0, $3)`, ws, cid, at)
	}
	if err != nil {
		return false, err
	}
	if hardAt.Valid {
		return false, nil
	}
	if !hard {
		soft++
	}
	suppress := hard || soft >= SoftBounceLimit
	var hv any
	if suppress {
		hv = at
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaign_bounces SET soft = $1, hard_at = $2, updated_at = $3 WHERE workspace_id = $4 AND contact_id = $5`, soft, hv, at, ws, cid); err != nil {
		return false, err
	}
	if !suppress {
		return false, nil
	}
	return true, s.suppressEmail(ctx, tx, ws, cid, privacy.ReasonDoNotContact)
}

func (s *Service) complaint(ctx context.Context, tx store.Tx, ws, cid string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_bounces (workspace_id, contact_id, soft, complained_at, updated_at) VALUES ($1, $2, 0, $3, $3)
		ON CONFLICT (workspace_id, contact_id) DO UPDATE SET complained_at = $3, updated_at = $3`, ws, cid, at); err != nil {
		return err
	}
	if _, err := s.Capture.Ledger.Append(ctx, tx, ws, cid, consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"email"}, OccurredAt: &at,
		Details: consent.Details{ObjectionType: "direct_marketing"}, Evidence: consent.EvidenceInput{Source: "mail_provider:complaint"}}, consent.Actor{}); err != nil {
		return err
	}
	return s.suppressEmail(ctx, tx, ws, cid, privacy.ReasonObjection)
}

func (s *Service) suppressEmail(ctx context.Context, tx store.Tx, ws, cid, reason string) error {
	pts, err := s.Contacts.PointsFor(ctx, ws, []string{cid})
	if err != nil {
		return err
	}
	p, ok := pts[cid]
	if !ok || p.EmailIndex == "" {
		return nil
	}
	return s.Privacy.SuppressIn(ctx, tx, ws, contact.IndexEmail, p.EmailIndex, reason, cid)
}
