package campaign

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// Settling a chunk of sent messages in one statement must find each row by
// primary key: a plan that scans the campaign's rows once per value made
// large campaigns crawl on SQLite.
func TestSettleSentFindsRowsByPrimaryKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect != store.SQLite {
			return // PostgreSQL hash-joins the list; its plan depends on statistics
		}
		f := newFixture(t, db, smtptest.Options{})
		ctx := context.Background()
		camp := f.create(newsletter())
		ids := make([]string, 2000)
		for i := range ids {
			ids[i] = id.New()
		}
		for i := 0; i < len(ids); i += insertBatch {
			if err := insertQueued(ctx, db.W, f.ws, camp.ID, 0, ids[i:min(i+insertBatch, len(ids))], time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.W.ExecContext(ctx, `ANALYZE`); err != nil {
			t.Fatal(err)
		}
		args := []any{f.ws, camp.ID, 0}
		for i := range 3 {
			args = append(args, ids[i], "<m"+ids[i]+"@x>", false, time.Now())
		}
		rows, err := db.R.QueryContext(ctx, `EXPLAIN QUERY PLAN `+settleSentSQL(3, false), args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var a, b, c int
			var detail string
			if err := rows.Scan(&a, &b, &c, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		got := strings.Join(plan, " | ")
		if !strings.Contains(got, "SEARCH campaign_messages USING") || !strings.Contains(got, "contact_id=?") {
			t.Fatalf("settling sent messages does not look rows up by primary key: %s", got)
		}
	})
}
