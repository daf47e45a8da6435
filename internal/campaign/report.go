package campaign

import (
	"context"
	"fmt"
	"time"

	"github.com/fairlead/fairlead/internal/store"
)

// Report counts what became of a campaign's messages.
type Report struct {
	CampaignID string `json:"campaign_id"`
	Queued     int    `json:"queued"`
	Sending    int    `json:"sending"`
	Sent       int    `json:"sent"`
	Skipped    int    `json:"skipped"`
	// SkippedBy counts skipped messages per reason code: the engine's
	// decisive code (consent_withdrawn, marketing_objection, …) or one of
	// condition_not_met, suppressed, bounced, complained, no_email,
	// contact_gone.
	SkippedBy map[string]int `json:"skipped_by"`
	Failed    int            `json:"failed"`
	FailedBy  map[string]int `json:"failed_by"`
	Delivered int            `json:"delivered"`
	Bounced   int            `json:"bounced"`
	// Opened and Clicked count distinct contacts, only among those whose
	// messages were tracked (e-mail tracking allowed by the engine).
	Opened  int `json:"opened"`
	Clicked int `json:"clicked"`
	// Unsubscribed counts recipients who withdrew the campaign's purpose on
	// e-mail after their first message.
	Unsubscribed int `json:"unsubscribed"`
	// Converted counts recipients with the conversion event after their
	// first message (0 without a conversion event).
	Converted int `json:"converted"`
	// Steps has the sent count per step.
	Steps []int `json:"steps"`
}

// Report counts a campaign's messages.
func (s *Service) Report(ctx context.Context, ws, campaignID string) (Report, error) {
	c, err := s.Get(ctx, ws, campaignID)
	if err != nil {
		return Report{}, err
	}
	r := Report{CampaignID: c.ID, SkippedBy: map[string]int{}, FailedBy: map[string]int{}, Steps: make([]int, len(c.Steps))}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT step, status, reason, COUNT(*), COUNT(delivered_at), SUM(CASE WHEN bounce <> '' THEN 1 ELSE 0 END)
		FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2 GROUP BY step, status, reason`, ws, c.ID)
	if err != nil {
		return r, fmt.Errorf("campaign report: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var step, n, delivered, bounced int
		var status, reason string
		if err := rows.Scan(&step, &status, &reason, &n, &delivered, &bounced); err != nil {
			return r, store.MapError(err)
		}
		r.Delivered += delivered
		r.Bounced += bounced
		switch status {
		case "queued":
			r.Queued += n
		case "sending":
			r.Sending += n
		case "sent":
			r.Sent += n
			if step < len(r.Steps) {
				r.Steps[step] += n
			}
		case "skipped":
			r.Skipped += n
			r.SkippedBy[reason] += n
		default:
			r.Failed += n
			r.FailedBy[reason] += n
		}
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	rows.Close()
	if s.Track != nil {
		counts, err := s.Track.CountByRef(ctx, ws, "campaign:"+c.ID+":")
		if err != nil {
			return r, err
		}
		r.Opened, r.Clicked = counts["email_open"], counts["email_click"]
	}
	first, err := s.firstSent(ctx, ws, c.ID)
	if err != nil {
		return r, err
	}
	if c.ConvertType != "" && s.Events != nil {
		for cid, at := range first {
			ok, err := s.Events.Happened(ctx, ws, cid, c.ConvertType, c.ConvertName, at)
			if err != nil {
				return r, err
			}
			if ok {
				r.Converted++
			}
		}
	}
	if len(first) > 0 {
		// Withdrawals are in the ledger; the campaign's recipients who
		// withdrew its purpose on e-mail after their first message.
		unsub, err := s.withdrawnSince(ctx, ws, c.Purpose, first)
		if err != nil {
			return r, err
		}
		r.Unsubscribed = unsub
	}
	return r, nil
}

func (s *Service) firstSent(ctx context.Context, ws, campaignID string) (map[string]time.Time, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, sent_at FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'sent' AND step = (
		SELECT MIN(m.step) FROM campaign_messages m WHERE m.workspace_id = $1 AND m.campaign_id = $2 AND m.contact_id = campaign_messages.contact_id AND m.status = 'sent')`, ws, campaignID)
	if err != nil {
		return nil, fmt.Errorf("campaign report: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var cid string
		var at time.Time
		if err := rows.Scan(&cid, &at); err != nil {
			return nil, err
		}
		out[cid] = at.UTC()
	}
	return out, rows.Err()
}

// withdrawnSince counts the contacts of first whose consent for purpose on
// e-mail was withdrawn at or after their first message. It reads the
// ledger rows by kind and purpose only (no personal data).
func (s *Service) withdrawnSince(ctx context.Context, ws, purpose string, first map[string]time.Time) (int, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, recorded_at FROM ledger_events WHERE workspace_id = $1 AND kind = 'consent_withdrawn' AND purpose = $2
		AND channels LIKE '%"email"%'`, ws, purpose)
	if err != nil {
		return 0, fmt.Errorf("campaign report: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var cid string
		var at time.Time
		if err := rows.Scan(&cid, &at); err != nil {
			return 0, err
		}
		if f, ok := first[cid]; ok && !at.Before(f) {
			seen[cid] = true
		}
	}
	return len(seen), rows.Err()
}
