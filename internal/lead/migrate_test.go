package lead_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestContributionsCarriedOver runs migration 0025 over contributions in
// 0014's table: every row must arrive in its contact's packed text and
// read back through the score history and the access export as it was
// stored, with a tab, a line feed and a backslash in an event name; a
// recompute afterwards replaces them.
func TestContributionsCarriedOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := day("2026-11-12")
		f := newFixture(t, db, now)
		f.rules(scoringRules())
		cid := f.contact("b2b", "prospect")
		sqlOf := func(v int) string { return testdb.MigrationSQL(t, db, v) }
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.W.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		// Back to 0014's two tables.
		exec(`DROP TABLE lead_state`)
		for _, stmt := range strings.Split(sqlOf(14), ";") {
			if i := strings.Index(stmt, "CREATE TABLE lead_state ("); i >= 0 {
				exec(stmt[i:])
			}
			if i := strings.Index(stmt, "CREATE TABLE lead_contributions ("); i >= 0 {
				exec(stmt[i:])
			}
		}
		ref := time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC)
		exec(`INSERT INTO lead_state (workspace_id, contact_id, stage, score, score_ref_at, fit, eng_log, rule_version) VALUES ($1, $2, 'lead', 1, $3, 5, NULL, 1)`, f.ws, cid, ref)
		download, view := id.New(), id.New()
		at1 := time.Date(2026, 11, 2, 9, 30, 15, 123456000, time.UTC)
		at2 := time.Date(2026, 11, 10, 17, 0, 0, 0, time.UTC)
		for _, c := range []struct {
			rule, kind, ev, typ, name string
			points                    float64
			capped                    bool
			at                        time.Time
		}{
			{"b2b", "fit", "", "", "", 5, false, ref.Add(-time.Hour)},
			{"downloads", "engagement", download, "download", "white\tpaper\nnew\\2026", 10, false, at1},
			{"pages", "engagement", view, "page_view", "/pricing", 2.5, true, at2},
		} {
			exec(`INSERT INTO lead_contributions (workspace_id, contact_id, rule_id, kind, event_id, event_type, event_name, points, capped, occurred_at, rule_version)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)`, f.ws, cid, c.rule, c.kind, c.ev, c.typ, c.name, c.points, c.capped, c.at)
		}
		exec(sqlOf(25))

		h, err := f.svc.ScoreHistory(ctx, f.ws, cid, "en", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Contributions) != 3 {
			t.Fatalf("%d contributions after the migration, want 3: %+v", len(h.Contributions), h.Contributions)
		}
		// Newest first: the fit, evaluated when the state was written.
		got := h.Contributions
		if c := got[0]; c.RuleID != "b2b" || c.Kind != "fit" || c.Points != 5 || !c.At.Equal(ref) || c.EventID != "" {
			t.Errorf("fit contribution %+v (its time is the state's)", c)
		}
		if c := got[1]; c.RuleID != "pages" || c.EventID != view || c.EventName != "/pricing" || c.Points != 2.5 || !c.Capped || !c.At.Equal(at2) || c.RuleVersion != 1 {
			t.Errorf("newest contribution %+v", c)
		}
		if c := got[2]; c.RuleID != "downloads" || c.EventID != download || c.EventType != "download" || c.EventName != "white\tpaper\nnew\\2026" || c.Points != 10 || c.Capped || !c.At.Equal(at1) {
			t.Errorf("download contribution %+v", c)
		}
		x, err := lead.ExportContact(f.contacts.Keys())(ctx, db.R, f.ws, cid)
		if err != nil {
			t.Fatal(err)
		}
		rows := x.(map[string][]map[string]any)["contributions"]
		if len(rows) != 3 || rows[0]["event_name"] != "white\tpaper\nnew\\2026" || rows[1]["capped"] != true || rows[1]["points"] != 2.5 || rows[2]["kind"] != "fit" {
			t.Errorf("export after the migration: %v", rows)
		}
		// No events: the recompute leaves the fit alone.
		if st, err := f.svc.Recompute(ctx, f.ws); err != nil || st.Written != 1 {
			t.Fatalf("recompute after the migration: %+v %v", st, err)
		}
		if h, err := f.svc.ScoreHistory(ctx, f.ws, cid, "de", 0); err != nil || len(h.Contributions) != 1 || h.Contributions[0].Kind != "fit" {
			t.Fatalf("history after the recompute: %+v %v", h.Contributions, err)
		}
	})
}
