package campaign

import (
	"context"
	"fmt"

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
	return r, rows.Err()
}
