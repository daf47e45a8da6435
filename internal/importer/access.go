package importer

import (
	"context"

	"github.com/fairlead/fairlead/internal/store"
)

// ExportContact lists, for the access export, the imports that created or
// changed the contact with their source (Art. 15(1)(g) GDPR: where the data
// came from) and the duty to inform under Art. 14.
func ExportContact(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
	out, err := store.RowSections(ctx, q, []store.Section{
		{Key: "provenance", Query: `SELECT import_id, line, action, data_source, source_name, recorded_at FROM contact_provenance
			WHERE workspace_id = $1 AND contact_id = $2 ORDER BY recorded_at, import_id`},
		{Key: "art14_tasks", Query: `SELECT id, import_id, source_name, obtained_at, due_at, status, done_at FROM art14_tasks
			WHERE workspace_id = $1 AND contact_id = $2 ORDER BY obtained_at, id`},
	}, ws, contactID)
	if err != nil {
		return nil, err
	}
	return out, nil
}
