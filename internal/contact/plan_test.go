package contact_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// The queries that ranged over contacts_workspace (workspace_id, id),
// dropped in 0028_import_lean, read the same range from
// contacts_lead_attrs (or the primary key or the e-mail index): none scans
// the table and none sorts. The texts are those of the admin contact list
// (contact.List), the audience's pages, the recompute's contact batches,
// the visitor stage list, the retention pass and the lookups by ID.
var contactRangeQueries = []string{
	`SELECT id, workspace_id, audience, relationship, data_source, sealed, created_at, updated_at FROM contacts WHERE workspace_id = $1 ORDER BY id LIMIT 50`,
	`SELECT id, workspace_id, audience, relationship, data_source, sealed, created_at, updated_at FROM contacts WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT 50`,
	`SELECT id, workspace_id, audience, relationship, data_source, sealed, created_at, updated_at FROM contacts WHERE workspace_id = $1 AND email_index = $2 ORDER BY id LIMIT 1`,
	`SELECT id FROM contacts WHERE workspace_id = $1 AND id > $2 AND audience = 'b2c' ORDER BY id LIMIT 1000`,
	`SELECT id FROM contacts WHERE workspace_id = $1 ORDER BY id LIMIT 1000`,
	`SELECT id, audience, relationship, data_source FROM contacts WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT 5000`,
	`SELECT c.id FROM contacts c LEFT JOIN lead_state s ON s.workspace_id = c.workspace_id AND s.contact_id = c.id
		WHERE c.workspace_id = $1 AND (s.stage IS NULL OR s.stage = 'visitor') AND c.id > $2 ORDER BY c.id`,
	`SELECT c.id, c.relationship, c.created_at, c.updated_at, k.wrapped IS NULL, COALESCE(e.status, '')
		FROM contacts c LEFT JOIN contact_keys k ON k.workspace_id = c.workspace_id AND k.contact_id = c.id
		LEFT JOIN erasures e ON e.workspace_id = c.workspace_id AND e.contact_id = c.id
		WHERE c.workspace_id = $1 ORDER BY c.id`,
	`SELECT audience, relationship, data_source FROM contacts WHERE workspace_id = $1 AND id = $2`,
	`SELECT id, audience, relationship, data_source FROM contacts WHERE workspace_id = $1 AND id IN ($2, $3)`,
	`SELECT count(*) FROM contacts WHERE workspace_id = $1`,
	// contacts_phone, partial since 0028_import_lean.
	`SELECT id FROM contacts WHERE workspace_id = $1 AND phone_index = $2`,
}

func TestContactRangeQueriesUseAnIndex(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws, a, b := "0190aaaa-0000-7000-8000-000000000001", "0190aaaa-0000-7000-8000-000000000002", "0190aaaa-0000-7000-8000-000000000003"
		for _, q := range contactRangeQueries {
			args := []any{ws}
			for n := 2; strings.Contains(q, "$"+string(rune('0'+n))); n++ {
				args = append(args, []string{a, b}[n%2])
			}
			var plan string
			if db.Dialect == store.SQLite {
				plan = testdb.QueryPlan(t, db, q, args...)
				t.Logf("%s\n  %s", strings.Join(strings.Fields(q), " "), plan)
				if strings.Contains(plan, "SCAN c ") || strings.HasSuffix(plan, "SCAN c") || strings.Contains(plan, "SCAN contacts") || strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("%s\nplan: %s", q, plan)
				}
				if strings.Contains(plan, "contacts_workspace") {
					t.Errorf("still uses contacts_workspace: %s", plan)
				}
				if strings.Contains(q, "phone_index =") && !strings.Contains(plan, "contacts_phone") {
					t.Errorf("a lookup by phone does not use the partial contacts_phone: %s", plan)
				}
				continue
			}
			plan = pgPlan(t, db, q, args...)
			// With sequential scans and sorts priced out (the test's tables
			// are nearly empty), a plan that still has one has no index to
			// read the range from in order.
			if strings.Contains(plan, "Seq Scan on contacts") || strings.Contains(plan, "Sort") {
				t.Errorf("%s\nplan: %s", q, plan)
			}
		}
	})
}

func pgPlan(t *testing.T, db *store.DB, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	err := db.Tx(ctx, func(tx store.Tx) error {
		for _, off := range []string{"enable_seqscan", "enable_sort", "enable_bitmapscan"} {
			if _, err := tx.ExecContext(ctx, `SET LOCAL `+off+` = off`); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `EXPLAIN `+q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			lines = append(lines, strings.TrimSpace(s))
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, " | ")
}
