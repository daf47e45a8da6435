package supplier

import (
	"context"

	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// ExportContact returns the access-export reader of the backflow: the
// suppliers the contact is a contact person of and the inbound responses
// logged for them, summaries opened with k (Art. 15 GDPR). The letters sent
// are in the ledger (letter_sent).
func ExportContact(k *keyring.Keyring) func(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
	return func(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
		out, err := store.RowSections(ctx, q, []store.Section{
			{Key: "supplier_contacts", Query: `SELECT sc.supplier_id, s.name AS supplier_name, sc.position, sc.created_at FROM supplier_contacts sc
				JOIN suppliers s ON s.id = sc.supplier_id AND s.workspace_id = sc.workspace_id
				WHERE sc.workspace_id = $1 AND sc.contact_id = $2 ORDER BY sc.created_at, sc.supplier_id`},
			{Key: "responses", Query: `SELECT id, supplier_id, channel, reply_channels, summary, received_at, ledger_event, created_at FROM contact_responses
				WHERE workspace_id = $1 AND contact_id = $2 ORDER BY received_at, id`},
		}, ws, contactID)
		if err != nil {
			return nil, err
		}
		if err := k.OpenTextColumn(ctx, ws, contactID, out["responses"], "summary"); err != nil {
			return nil, err
		}
		return out, nil
	}
}
