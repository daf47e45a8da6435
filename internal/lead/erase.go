package lead

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// EraseContact removes what lead management holds about an erased contact,
// in the erasure's transaction: the score state with every contribution
// (behaviour) packed in it is deleted. Lifecycle transitions and feedback ratings are
// kept for the funnel and the per-segment answers but unlinked: each row
// gets a fresh random contact ID, and the free texts (a manual move's
// reason, a feedback comment) that could name the person are blanked.
func EraseContact(ctx context.Context, q store.Querier, ws, contactID string) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range []string{"lead_state"} {
		res, err := q.ExecContext(ctx, `DELETE FROM `+t+` WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID)
		if err != nil {
			return nil, fmt.Errorf("erase %s: %w", t, err)
		}
		n, _ := res.RowsAffected()
		out[t] = int(n)
	}
	// One new ID for all of the person's rows keeps their funnel path
	// countable as one anonymous path.
	anon := id.New()
	for t, blank := range map[string]string{"lead_transitions": "reason", "lead_feedback": "comment"} {
		res, err := q.ExecContext(ctx, `UPDATE `+t+` SET contact_id = $3, `+blank+` = '' WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID, anon)
		if err != nil {
			return nil, fmt.Errorf("unlink %s: %w", t, err)
		}
		n, _ := res.RowsAffected()
		out[t] = int(n)
	}
	return out, nil
}
