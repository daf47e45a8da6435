package lead_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/track"
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
		exec := execer(t, db)
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
		// And 0029's change of the column (its index is gone already).
		for _, stmt := range strings.Split(sqlOf(29), ";") {
			if strings.Contains(stmt, "ALTER TABLE lead_state") {
				exec(stmt)
			}
		}

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

// TestTransitionsCarriedOver runs migration 0027 over stage moves in 0014's
// table: every row must read back through the history, the funnel and the
// access export as it was stored, two moves at the same time in id order;
// erasure must still unlink them, and new moves must still be written.
func TestTransitionsCarriedOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := day("2026-11-12")
		f := newFixture(t, db, now)
		f.rules(scoringRules())
		cid, other := f.contact("b2b", "prospect"), f.contact("b2c", "prospect")
		exec := execer(t, db)
		// A manual move's reason is sealed: the move is made through the
		// service, and its row carried into 0014's table.
		at1 := time.Date(2026, 11, 2, 9, 30, 15, 123456000, time.UTC)
		at2 := time.Date(2026, 11, 10, 17, 0, 0, 0, time.UTC)
		f.now = at2
		if _, err := f.svc.Move(ctx, f.ws, cid, auth.RoleAdmin, "user:test", lead.StageSalesQualified, "called back"); err != nil {
			t.Fatal(err)
		}
		var second, sealed string
		if err := db.R.QueryRowContext(ctx, `SELECT id, reason FROM lead_transitions WHERE workspace_id = $1 AND contact_id = $2`, f.ws, cid).Scan(&second, &sealed); err != nil {
			t.Fatal(err)
		}
		exec(`DROP TABLE lead_transitions`)
		for _, stmt := range strings.Split(testdb.MigrationSQL(t, db, 14), ";") {
			for _, head := range []string{"CREATE TABLE lead_transitions (", "CREATE INDEX lead_transitions_"} {
				if i := strings.Index(stmt, head); i >= 0 {
					exec(stmt[i:])
				}
			}
		}
		// An id before the manual move's at the same time: the key orders
		// the two by id.
		first := second[:9] + "0000" + second[13:]
		moves := []struct {
			id, cid, from, to string
			at                time.Time
			cause, reason     string
		}{
			{id.NewAt(at1), cid, "visitor", "lead", at1, "event", ""},
			{second, cid, "marketing_qualified", "sales_qualified", at2, "manual", sealed},
			{first, cid, "lead", "marketing_qualified", at2, "recompute", ""},
			{id.NewAt(at1), other, "visitor", "lead", at1, "event", ""},
		}
		for _, m := range moves {
			actor := "system"
			if m.cause == "manual" {
				actor = "user:test"
			}
			exec(`INSERT INTO lead_transitions (id, workspace_id, contact_id, from_stage, to_stage, at, cause, actor, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				m.id, f.ws, m.cid, m.from, m.to, m.at, m.cause, actor, m.reason)
		}
		exec(testdb.MigrationSQL(t, db, 27))
		// And 0030's times as microseconds (the funnel compares them).
		exec(testdb.MigrationSQL(t, db, 30))

		got, err := f.svc.Transitions(ctx, f.ws, cid)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"visitor>lead", "lead>marketing_qualified", "marketing_qualified>sales_qualified"}
		if len(got) != len(want) {
			t.Fatalf("%d moves after the migration, want %d: %+v", len(got), len(want), got)
		}
		for i, tr := range got {
			if tr.From+">"+tr.To != want[i] {
				t.Errorf("move %d is %s>%s, want %s", i, tr.From, tr.To, want[i])
			}
		}
		if tr := got[2]; tr.ID != second || !tr.At.Equal(at2) || tr.Cause != "manual" || tr.Actor != "user:test" || tr.Reason != "called back" || tr.ContactID != cid {
			t.Errorf("manual move after the migration: %+v", tr)
		}
		if tr := got[0]; !tr.At.Equal(at1) || tr.Cause != "event" {
			t.Errorf("first move after the migration: %+v", tr)
		}
		fp, err := f.svc.Funnel(ctx, f.ws, day("2026-11-01"), day("2026-11-12"), "week")
		if err != nil {
			t.Fatal(err)
		}
		entered := 0
		for _, p := range fp {
			entered += p.Entered["lead"]
		}
		if entered != 2 {
			t.Errorf("funnel after the migration: %d entered lead, want 2: %+v", entered, fp)
		}
		x, err := lead.ExportContact(f.contacts.Keys())(ctx, db.R, f.ws, cid)
		if err != nil {
			t.Fatal(err)
		}
		if rows := x.(map[string][]map[string]any)["transitions"]; len(rows) != 3 || rows[1]["id"] != first {
			t.Errorf("export after the migration: %v", rows)
		}
		// New moves go into the new table.
		if _, err := f.svc.Move(ctx, f.ws, other, auth.RoleAdmin, "user:test", lead.StageCustomer, "signed"); err != nil {
			t.Fatal(err)
		}
		if got, err := f.svc.Transitions(ctx, f.ws, other); err != nil || len(got) != 2 || got[1].To != lead.StageCustomer {
			t.Fatalf("moves of the other contact after a manual move: %+v %v", got, err)
		}
		err = db.TxCached(ctx, func(q store.Querier) error {
			_, err := lead.EraseContact(ctx, q, f.ws, cid)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var linked, blanked int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM lead_transitions WHERE workspace_id = $1 AND contact_id = $2`, f.ws, cid).Scan(&linked); err != nil || linked != 0 {
			t.Errorf("%d moves still linked to the erased contact (%v)", linked, err)
		}
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM lead_transitions WHERE workspace_id = $1 AND cause = 'manual' AND reason = ''`, f.ws).Scan(&blanked); err != nil || blanked != 1 {
			t.Errorf("%d blanked manual moves after the erasure, want 1 (%v)", blanked, err)
		}
	})
}

// TestTextContributionsCarriedOver runs migration 0029 over a state whose
// contributions are in the text form of 0025: the score history and the
// access export must read it as they did, an event scored afterwards must
// fill the cap from it, and the row then written in the binary form must
// explain the same events, found in track_events, and equal a recompute.
func TestTextContributionsCarriedOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := day("2026-11-12")
		f := newFixture(t, db, now)
		f.rules(scoringRules())
		cid := f.contact("b2b", "prospect")
		exec := execer(t, db)
		at1 := time.Date(2026, 11, 2, 9, 30, 15, 123456000, time.UTC)
		at2 := time.Date(2026, 11, 10, 17, 0, 0, 0, time.UTC)
		f.record(track.Event{ContactID: cid, Type: "download", Name: "whitepaper-2026", At: at1},
			track.Event{ContactID: cid, Type: "page_view", Name: "/pricing", At: at2})
		evs := map[string]string{}
		rows, err := db.R.QueryContext(ctx, `SELECT type, id FROM track_events WHERE workspace_id = $1 AND contact_id = $2`, f.ws, cid)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var typ, eid string
			if err := rows.Scan(&typ, &eid); err != nil {
				t.Fatal(err)
			}
			evs[typ] = eid
		}
		rows.Close()
		texts := func() []string {
			t.Helper()
			h, err := f.svc.ScoreHistory(ctx, f.ws, cid, "en", 0)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, c := range h.Contributions {
				out = append(out, fmt.Sprintf("%s %s %s %s %v %v %d %s", c.RuleID, c.EventID, c.EventType, c.EventName, c.Points, c.Capped, c.RuleVersion, c.Text))
			}
			return out
		}
		before := texts()
		if len(before) != 3 || !strings.HasPrefix(before[0], "b2b ") || !strings.Contains(before[2], evs["download"]) || !strings.Contains(before[1], evs["page_view"]) {
			t.Fatalf("history before: %q", before)
		}

		// The row as 0025 left it, the schema as before 0029.
		text := "f\tb2b\t\t\t\t5\t0\t\t1\n" +
			"e\twhitepaper\t" + evs["download"] + "\tdownload\twhitepaper-2026\t10\t0\t" + fmt.Sprint(at1.UnixMicro()) + "\t1\n" +
			"e\tpages\t" + evs["page_view"] + "\tpage_view\t/pricing\t8\t0\t" + fmt.Sprint(at2.UnixMicro()) + "\t1"
		if db.Dialect == store.Postgres {
			exec(`ALTER TABLE lead_state ALTER COLUMN contributions DROP DEFAULT`)
			exec(`ALTER TABLE lead_state ALTER COLUMN contributions TYPE text USING ''`)
			exec(`ALTER TABLE lead_state ALTER COLUMN contributions SET DEFAULT ''`)
		}
		exec(`UPDATE lead_state SET contributions = $1 WHERE workspace_id = $2 AND contact_id = $3`, text, f.ws, cid)
		exec(`CREATE INDEX lead_transitions_at ON lead_transitions (workspace_id, at)`)
		exec(testdb.MigrationSQL(t, db, 29))

		if after := texts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("history after the migration:\n%q\nbefore:\n%q", after, before)
		}
		x, err := lead.ExportContact(f.contacts.Keys())(ctx, db.R, f.ws, cid)
		if err != nil {
			t.Fatal(err)
		}
		if rows := x.(map[string][]map[string]any)["contributions"]; len(rows) != 3 || rows[0]["event_id"] != evs["download"] || rows[1]["event_name"] != "/pricing" || rows[2]["kind"] != "fit" {
			t.Errorf("export after the migration: %v", rows)
		}

		// Three more page views in the window of the stored one (days
		// 9807-9813): 8 and 8, then 6 of 8 reach the cap of 30.
		at3 := time.Date(2026, 11, 11, 8, 0, 0, 0, time.UTC)
		pv := track.Event{ContactID: cid, Type: "page_view", Name: "/pricing", At: at3}
		f.record(pv, pv, pv)
		var packed []byte
		if err := db.R.QueryRowContext(ctx, `SELECT contributions FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`, f.ws, cid).Scan(&packed); err != nil {
			t.Fatal(err)
		}
		if len(packed) == 0 || packed[0] != 1 || len(packed) >= len(text) {
			t.Errorf("the row written after the migration holds %d bytes: %q", len(packed), packed)
		}
		after := texts()
		if len(after) != 6 || after[0] != before[0] || fmt.Sprint(after[4:]) != fmt.Sprint(before[1:]) {
			t.Fatalf("history after three more page views:\n%q\nbefore:\n%q", after, before)
		}
		seen := map[string]bool{}
		for i, c := range after[1:4] {
			eid := strings.Fields(c)[1]
			if seen[eid] || eid == evs["page_view"] || !strings.HasPrefix(c, "pages ") {
				t.Errorf("new page view %d: %q", i, c)
			}
			seen[eid] = true
		}
		if !strings.Contains(fmt.Sprint(after[1:4]), "+6 page view /pricing on 2026-11-11 (reduced by the cap)") {
			t.Errorf("the cap did not count the carried-over page view: %q", after[1:4])
		}
		snap := snapshotScores(t, db, f.ws)
		st, err := f.svc.Recompute(ctx, f.ws)
		if err != nil || st.Written != 0 || st.Events != 5 {
			t.Fatalf("recompute after the migration: %+v %v", st, err)
		}
		if again := snapshotScores(t, db, f.ws); again != snap {
			t.Fatalf("recompute differs from incremental after the migration:\n%s\n%s", snap, again)
		}
		// An event deleted since (an objection, a withdrawal) leaves its
		// entry with the rule and the points, explained by the rule.
		exec(`DELETE FROM track_events WHERE workspace_id = $1 AND id = $2`, f.ws, evs["download"])
		if last := texts()[5]; last != "whitepaper    10 false 1 +10 whitepaper on 2026-11-02, decayed to 5.1" {
			t.Errorf("entry of a deleted event: %q", last)
		}
	})
}

// execer returns a function that runs a statement on the writer and fails
// the test with the statement's start when it fails.
func execer(t *testing.T, db *store.DB) func(q string, args ...any) {
	return func(q string, args ...any) {
		t.Helper()
		if _, err := db.W.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
}

// TestRefTimesCarriedOver runs migration 0030 over states and stage moves
// whose times are the driver's text (SQLite before 0030): each must become
// its microseconds since 1970, to the microsecond and whatever the offset
// or the digits of the fraction, and the score history, the moves and the
// export must show the same times as before. On PostgreSQL the migration
// changes nothing.
func TestRefTimesCarriedOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := day("2026-11-12")
		f := newFixture(t, db, now)
		f.rules(scoringRules())
		exec := execer(t, db)
		cases := []struct {
			text string
			want time.Time
		}{
			{"2026-11-12 08:15:30.123456+00:00", time.Date(2026, 11, 12, 8, 15, 30, 123456000, time.UTC)},
			{"2026-11-12 08:15:30+00:00", time.Date(2026, 11, 12, 8, 15, 30, 0, time.UTC)},
			{"2026-11-12 10:15:30.5+02:00", time.Date(2026, 11, 12, 8, 15, 30, 500000000, time.UTC)},
			{"2026-11-11 23:59:59.000001-01:00", time.Date(2026, 11, 12, 0, 59, 59, 1000, time.UTC)},
		}
		cids := make([]string, len(cases))
		for i := range cases {
			cids[i] = f.contact("b2b", "prospect")
		}
		fitAt := func(cid string) time.Time {
			t.Helper()
			// A fit entry takes its time from score_ref_at.
			h, err := f.svc.ScoreHistory(ctx, f.ws, cid, "en", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Contributions) != 1 || h.Contributions[0].Kind != "fit" {
				t.Fatalf("history of %s: %+v", cid, h.Contributions)
			}
			return h.Contributions[0].At
		}
		moveAt := func(cid string) time.Time {
			t.Helper()
			ms, err := f.svc.Transitions(ctx, f.ws, cid)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 {
				t.Fatalf("moves of %s: %+v", cid, ms)
			}
			return ms[0].At
		}
		// Each state gets its one fit entry and stage move from a
		// recompute, then the
		// time as a state written before 0030 holds it.
		if _, err := f.svc.Recompute(ctx, f.ws); err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			var ref any = c.want
			if db.Dialect == store.SQLite {
				ref = c.text
			}
			exec(`UPDATE lead_state SET score_ref_at = $3 WHERE workspace_id = $1 AND contact_id = $2`, f.ws, cids[i], ref)
			exec(`UPDATE lead_transitions SET at = $3 WHERE workspace_id = $1 AND contact_id = $2`, f.ws, cids[i], ref)
			if got := fitAt(cids[i]); !got.Equal(c.want) {
				t.Errorf("%q before the migration: fit at %s, want %s", c.text, got, c.want)
			}
			if got := moveAt(cids[i]); !got.Equal(c.want) {
				t.Errorf("%q before the migration: moved at %s, want %s", c.text, got, c.want)
			}
		}
		exec(testdb.MigrationSQL(t, db, 30))
		for i, c := range cases {
			if db.Dialect == store.SQLite {
				for _, q := range []string{`SELECT typeof(score_ref_at), score_ref_at FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`,
					`SELECT typeof(at), at FROM lead_transitions WHERE workspace_id = $1 AND contact_id = $2`} {
					var typ string
					var us int64
					if err := db.R.QueryRowContext(ctx, q, f.ws, cids[i]).Scan(&typ, &us); err != nil {
						t.Fatal(err)
					}
					if typ != "integer" || us != c.want.UnixMicro() {
						t.Errorf("%q after the migration, %s: %s %d, want integer %d", c.text, q, typ, us, c.want.UnixMicro())
					}
				}
			}
			if got := fitAt(cids[i]); !got.Equal(c.want) {
				t.Errorf("%q after the migration: fit at %s, want %s", c.text, got, c.want)
			}
			if got := moveAt(cids[i]); !got.Equal(c.want) {
				t.Errorf("%q after the migration: moved at %s, want %s", c.text, got, c.want)
			}
			x, err := lead.ExportContact(f.contacts.Keys())(ctx, db.R, f.ws, cids[i])
			if err != nil {
				t.Fatal(err)
			}
			st := x.(map[string][]map[string]any)["state"]
			if len(st) != 1 {
				t.Fatalf("export state %v", st)
			}
			if got, ok := st[0]["score_ref_at"].(time.Time); !ok || !got.Equal(c.want) {
				t.Errorf("%q after the migration: export shows %v, want %s", c.text, st[0]["score_ref_at"], c.want)
			}
			if ms := x.(map[string][]map[string]any)["transitions"]; len(ms) != 1 || !ms[0]["at"].(time.Time).Equal(c.want) {
				t.Errorf("%q after the migration: export shows moves %v, want one at %s", c.text, ms, c.want)
			}
		}
	})
}
