package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// The tables a sign-up writes keep no foreign key to workspaces on
// PostgreSQL (migration 0032), where each cost a trigger and a lock of the
// workspace's row per inserted row; the ledger's key to its contact stays,
// and SQLite keeps all of them.
func TestSignUpTablesForeignKeys(t *testing.T) {
	t.Parallel()
	hot := []string{"contacts", "contact_keys", "contact_values", "doi_requests", "jobs", "ledger_events"}
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		refs := func(table string) []string {
			t.Helper()
			q := `SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass`
			if db.Dialect == store.SQLite {
				q = `SELECT "table" FROM pragma_foreign_key_list($1)`
			}
			rows, err := db.R.QueryContext(ctx, q, table)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		for _, table := range hot {
			got := slices.Contains(refs(table), "workspaces")
			if want := db.Dialect == store.SQLite; got != want {
				t.Errorf("%s: foreign key to workspaces %v, want %v", table, got, want)
			}
		}
		if !slices.Contains(refs("ledger_events"), "contacts") {
			t.Error("ledger_events lost its foreign key to contacts")
		}
		// Other tables keep theirs on both engines.
		if !slices.Contains(refs("forms"), "workspaces") {
			t.Error("forms lost its foreign key to workspaces")
		}
	})
}
