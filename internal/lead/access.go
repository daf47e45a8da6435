package lead

import (
	"context"
	"slices"
	"strings"

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
		{Key: "transitions", Query: `SELECT id, from_stage, to_stage, at, cause, actor, reason FROM lead_transitions WHERE workspace_id = $1 AND contact_id = $2 ORDER BY at, id`},
		{Key: "feedback", Query: `SELECT id, ref, rating, comment, created_at FROM lead_feedback WHERE workspace_id = $1 AND contact_id = $2 ORDER BY created_at, id`},
	}, ws, contactID)
	if err != nil {
		return nil, err
	}
	// The times are microseconds on SQLite (migration 0030); the export
	// shows a time on both engines.
	for sec, col := range map[string]string{"state": "score_ref_at", "transitions": "at"} {
		for _, r := range out[sec] {
			var t refTime
			if err := t.Scan(r[col]); err != nil {
				return nil, err
			}
			r[col] = t.t
		}
	}
	if out["contributions"], err = exportContribs(ctx, q, ws, contactID); err != nil {
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

// exportContribs lists the packed contributions as rows with the columns
// they had before they were packed, oldest first.
func exportContribs(ctx context.Context, q store.Querier, ws, contactID string) ([]map[string]any, error) {
	cs, err := (&Service{}).storedContribs(ctx, q, ws, contactID)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(cs, func(a, b contribution) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.ruleID, b.ruleID); c != 0 {
			return c
		}
		return strings.Compare(a.eventID, b.eventID)
	})
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, map[string]any{"rule_id": c.ruleID, "kind": c.kind, "event_id": c.eventID, "event_type": c.eventType, "event_name": c.eventName,
			"points": c.points, "capped": c.capped, "occurred_at": c.at, "rule_version": c.version})
	}
	return out, nil
}
