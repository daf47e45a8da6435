package lead

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

// TestSegmentSetPlans: on SQLite every leaf of a set count is one index
// range that holds the contact ID, and a contact's EXISTS over events
// seeks that contact's events. Plans that walk a whole index per leaf, or
// every event of a type per contact, made counts and member walks grow
// with the workspace.
func TestSegmentSetPlans(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect != store.SQLite {
			return // PostgreSQL counts with one query; its plan depends on statistics
		}
		ctx := context.Background()
		w, err := workspace.Create(ctx, db.W, "plans", "P", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s := &Service{DB: db}
		plan := func(q string, args ...any) string { t.Helper(); return testdb.QueryPlan(t, db, q, args...) }
		num := func(v float64) *float64 { return &v }
		for _, tc := range []struct {
			f    Filter
			want string
		}{
			{Filter{Field: "score", Op: "gte", Number: num(20)}, "COVERING INDEX lead_state_score (workspace_id=? AND fit=? AND eng_log>?)"},
			{Filter{Field: "score", Op: "lt", Number: num(20)}, "COVERING INDEX lead_state_score (workspace_id=? AND fit=? AND eng_log>?)"},
			{Filter{Field: "stage", Op: "eq", Value: "lead"}, "COVERING INDEX lead_state_stage (workspace_id=? AND stage=?)"},
			{Filter{Field: "relationship", Op: "ne", Value: "customer"}, "COVERING INDEX contacts_lead_sets (workspace_id=? AND audience=? AND relationship=? AND data_source=?)"},
			{Filter{Event: &EventLeaf{Type: "download", WithinDays: 30}, Op: "happened"}, "COVERING INDEX track_events_type (workspace_id=? AND type=? AND occurred_at>?)"},
			{Filter{Field: "owner", Op: "absent"}, "COVERING INDEX lead_state_owner (workspace_id=? AND owner>?)"},
			{Filter{Field: "owner", Op: "eq", Value: "01a23314-2a84-71b8-88cf-f175d54988bf"}, "COVERING INDEX lead_state_owner (workspace_id=? AND owner=?)"},
		} {
			c, err := s.compile(ctx, w.ID, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			c.q.fits = []float64{0, 10} // two fit sums, as if scored
			e := &setEval{s: s, ctx: ctx, ws: w.ID, q: c.q}
			l, _ := e.leafParts(tc.f)
			if len(l.parts) == 0 {
				t.Fatalf("%+v: no parts", tc.f)
			}
			parts := l.parts
			if l.whole != nil {
				parts = append(parts, *l.whole)
			}
			for _, p := range parts {
				if got := plan(`SELECT group_concat(`+p.col+`, ',')`+p.from, p.args...); !strings.Contains(got, tc.want) {
					t.Errorf("%+v: plan %s, want %s", tc.f, got, tc.want)
				}
			}
		}
		f := Filter{And: []Filter{{Field: "audience", Op: "eq", Value: "b2b"}, {Event: &EventLeaf{Type: "download", WithinDays: 30}, Op: "happened"}}}
		c, err := s.compile(ctx, w.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		q := &query{now: c.q.now, k: c.q.k, byContact: true}
		q.arg(w.ID)
		got := plan(`SELECT c.id`+segFrom+` AND `+q.sql(f), q.args...)
		if want := "track_events_contact (workspace_id=? AND contact_id=? AND occurred_at>?)"; !strings.Contains(got, want) {
			t.Errorf("member walk: plan %s, want %s", got, want)
		}
	})
}
