package lead

import (
	"context"

	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// ExportContact collects what lead management holds about the contact for
// the access export (Art. 15 GDPR): the score state with stage and owner,
// every score contribution, the lifecycle transitions and the feedback on
// personalization. Profiling is named as such in Art. 15(1)(h).
func ExportContact(k *keyring.Keyring) func(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
	return func(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
		return exportContact(ctx, k, q, ws, contactID)
	}
}

func exportContact(ctx context.Context, k *keyring.Keyring, q store.Querier, ws, contactID string) (any, error) {
	out, err := store.RowSections(ctx, q, []store.Section{
		{Key: "state", Query: `SELECT stage, score, score_ref_at, fit, rule_version, owner, handed_off_at FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`},
		{Key: "contributions", Query: `SELECT rule_id, kind, event_id, event_type, event_name, points, capped, occurred_at, rule_version FROM lead_contributions
			WHERE workspace_id = $1 AND contact_id = $2 ORDER BY occurred_at, rule_id, event_id`},
		{Key: "transitions", Query: `SELECT id, from_stage, to_stage, at, cause, actor, reason FROM lead_transitions WHERE workspace_id = $1 AND contact_id = $2 ORDER BY at, id`},
		{Key: "feedback", Query: `SELECT id, ref, rating, comment, created_at FROM lead_feedback WHERE workspace_id = $1 AND contact_id = $2 ORDER BY created_at, id`},
	}, ws, contactID)
	if err != nil {
		return nil, err
	}
	// A manual move's reason and a feedback comment are sealed free text.
	if err := k.OpenTextColumn(ctx, ws, contactID, out["transitions"], "reason"); err != nil {
		return nil, err
	}
	if err := k.OpenTextColumn(ctx, ws, contactID, out["feedback"], "comment"); err != nil {
		return nil, err
	}
	return out, nil
}
