package campaign

import (
	"context"

	"github.com/fairlead/fairlead/internal/store"
)

// ExportContact lists, for the access export (Art. 15 GDPR), every campaign
// message meant for the contact with what became of it (sent, skipped with
// the engine's reason, bounced) and the bounce and complaint record.
func ExportContact(ctx context.Context, q store.Querier, ws, contactID string) (any, error) {
	out, err := store.RowSections(ctx, q, []store.Section{
		{Key: "messages", Query: `SELECT m.campaign_id, c.name AS campaign_name, m.step, m.status, m.reason, m.due_at, m.sent_at, m.delivered_at, m.bounce, m.tracked
			FROM campaign_messages m JOIN campaigns c ON c.id = m.campaign_id AND c.workspace_id = m.workspace_id
			WHERE m.workspace_id = $1 AND m.contact_id = $2 ORDER BY m.due_at, m.campaign_id, m.step`},
		{Key: "bounces", Query: `SELECT soft, hard_at, complained_at, updated_at FROM campaign_bounces WHERE workspace_id = $1 AND contact_id = $2`},
	}, ws, contactID)
	if err != nil {
		return nil, err
	}
	return out, nil
}
