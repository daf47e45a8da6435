package contact

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Recipient is a contact opened for sending, with the points the engine
// and the suppression list are checked against.
type Recipient struct {
	Contact
	Points Points
}

// Recipients is GetMany with each contact's Points read by the same
// statement: a sender checks a chunk's suppressions and decides it from
// the points, then writes to the opened addresses, and needs both for
// every recipient. Unknown IDs are missing from the map; erased contacts
// come back with Erased set (and their points, which hold no personal
// data).
func (s *Store) Recipients(ctx context.Context, ws string, ids []string) (map[string]Recipient, error) {
	out := make(map[string]Recipient, len(ids))
	if !id.Valid(ws) {
		return out, nil
	}
	valid := make([]string, 0, len(ids))
	for _, x := range ids {
		if id.Valid(x) {
			valid = append(valid, strings.ToLower(x))
		}
	}
	for len(valid) > 0 {
		n := min(len(valid), chunk)
		part := valid[:n]
		valid = valid[n:]
		openers, err := s.keys.Openers(ctx, ws, part)
		if err != nil {
			return nil, err
		}
		args := make([]any, 0, 1+len(part))
		args = append(args, ws)
		var ph strings.Builder
		for i, x := range part {
			if i > 0 {
				ph.WriteByte(',')
			}
			args = append(args, x)
			fmt.Fprintf(&ph, "$%d", len(args))
		}
		rows, err := s.r.QueryContext(ctx, `SELECT `+cols+`, email_index, phone_index FROM contacts WHERE workspace_id = $1 AND id IN (`+ph.String()+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read contacts: %w", err)
		}
		for rows.Next() {
			var c Recipient
			var sealed []byte
			var e, p sql.NullString
			if err := rows.Scan(&c.ID, &c.WorkspaceID, &c.Audience, &c.Relationship, &c.DataSource, &sealed, &c.CreatedAt, &c.UpdatedAt, &e, &p); err != nil {
				rows.Close()
				return nil, store.MapError(err)
			}
			c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
			c.Points = Points{ID: c.ID, Audience: c.Audience, Relationship: c.Relationship, DataSource: c.DataSource, EmailIndex: e.String, PhoneIndex: p.String}
			if err := openPersonal(&c.Contact, openers[c.ID], sealed); err != nil {
				rows.Close()
				return nil, err
			}
			out[c.ID] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
