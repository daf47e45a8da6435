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

// The statements of every chunk must not grow with the campaign: the claim
// finds each row by primary key, and the due messages are the first rows of
// the due index. Plans that scan the campaign's rows per
// chunk made large campaigns crawl on SQLite.
func TestChunkStatementsFindRowsByKey(t *testing.T) {
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
		plan := func(q string, args ...any) string { t.Helper(); return testdb.QueryPlan(t, db, q, args...) }
		// A long list: with a few values the planner would choose well anyway.
		claimArgs := []any{time.Now(), f.ws, camp.ID, 0}
		for _, x := range ids[:200] {
			claimArgs = append(claimArgs, x)
		}
		byKey := "sqlite_autoindex_campaign_messages_1 (workspace_id=? AND campaign_id=? AND step=? AND contact_id=?)"
		if got := plan(claimSQL(200, false), claimArgs...); !strings.Contains(got, byKey) {
			t.Fatalf("the claim does not look rows up by primary key: %s", got)
		}
		settleArgs := []any{f.ws, camp.ID, 0}
		for _, x := range ids[:200] {
			settleArgs = append(settleArgs, x, "<"+x+"@example.org>", true, time.Now())
		}
		if got := plan(settleSentSQL(200, false), settleArgs...); !strings.Contains(got, byKey) || strings.Contains(got, "SCAN campaign_messages") {
			t.Fatalf("settling does not look rows up by primary key: %s", got)
		}
		if got := plan(dueSQL+"1000", f.ws, camp.ID, time.Now()); strings.Contains(got, "TEMP B-TREE") || !strings.Contains(got, "campaign_messages_due") {
			t.Fatalf("the due messages are sorted instead of read in index order: %s", got)
		}
	})
}
