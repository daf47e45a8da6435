package track

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/store"
)

// ExportContact lists the contact's identified tracking events for the
// access export (Art. 15 GDPR). Pseudonymous events and anonymous counts are
// not in it: they cannot be linked to the person without the period key,
// which is the point of them (Art. 11 GDPR).
func ExportContact(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
	rows, err := store.RowMaps(ctx, q, `SELECT id, type, name, ref, props, occurred_at FROM track_events
		WHERE workspace_id = $1 AND contact_id = $2 ORDER BY occurred_at, id`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("read tracking events: %w", err)
	}
	return rows, nil
}
