package importer

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/store"
)

// EraseContact runs in an erasure's transaction: an open Art. 14 task for
// the person is deleted, since there is no one left to inform and its due
// date would otherwise keep showing. Done tasks stay as the record that the
// duty was met; provenance rows hold IDs and the source's name only and
// stay, so the record of where data came from outlives the data.
func EraseContact(ctx context.Context, q store.Querier, ws, contactID string) (map[string]int, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM art14_tasks WHERE workspace_id = $1 AND contact_id = $2 AND status = 'open'`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("erase art14 tasks: %w", err)
	}
	n, _ := res.RowsAffected()
	return map[string]int{"art14_tasks": int(n)}, nil
}
