package lead_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestStageCountsAndPages: the counts hold every stage, with the contacts
// never scored as visitors, and only the workspace's own; a stage's page
// walks its contacts in ID order by keyset, visitors included whether they
// have a state row or not.
func TestStageCountsAndPages(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, day("2026-03-02").Add(9*time.Hour))
		other := newFixture(t, db, f.now)
		other.contact("b2b", "prospect")
		var ids []string
		for range 5 {
			ids = append(ids, f.contact("b2b", "prospect"))
		}
		slices.Sort(ids)
		move := func(cid, stage string) {
			t.Helper()
			if _, err := f.svc.Move(ctx, f.ws, cid, "admin", "user:x", stage, "checked by phone"); err != nil {
				t.Fatal(err)
			}
		}
		move(ids[0], lead.StageLead)
		move(ids[3], lead.StageLead)
		move(ids[1], lead.StageCustomer)
		move(ids[2], lead.StageLead)
		move(ids[2], lead.StageVisitor) // a state row in stage visitor

		got, err := f.svc.StageCounts(ctx, f.ws)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"visitor": 2, "lead": 2, "marketing_qualified": 0, "sales_qualified": 0, "customer": 1, "disqualified": 0}
		if len(got) != len(want) {
			t.Fatalf("stage counts %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("stage counts %v, want %v", got, want)
			}
		}

		walk := func(stage string) []string {
			t.Helper()
			var all []string
			after := ""
			for range 10 {
				page, err := f.svc.StagePage(ctx, f.ws, stage, after, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					return all
				}
				all = append(all, page...)
				after = page[len(page)-1]
			}
			t.Fatalf("%s: paging does not end", stage)
			return nil
		}
		if got := walk(lead.StageLead); !slices.Equal(got, []string{ids[0], ids[3]}) {
			t.Fatalf("lead pages %v, want %v", got, []string{ids[0], ids[3]})
		}
		if got := walk(lead.StageVisitor); !slices.Equal(got, []string{ids[2], ids[4]}) {
			t.Fatalf("visitor pages %v, want %v", got, []string{ids[2], ids[4]})
		}
		if got := walk(lead.StageSalesQualified); len(got) != 0 {
			t.Fatalf("sales_qualified pages %v, want none", got)
		}
		page, err := f.svc.StagePage(ctx, f.ws, lead.StageLead, "", 50)
		if err != nil || len(page) != 2 {
			t.Fatalf("one page of 50: %v %v", page, err)
		}
		_, err = f.svc.StagePage(ctx, f.ws, "qualified", "", 50)
		wantField(t, err, "stage")
		_, err = f.svc.StagePage(ctx, f.ws, lead.StageLead, "not-an-id", 50)
		wantField(t, err, "after")
		_, err = f.svc.StagePage(ctx, f.ws, lead.StageLead, "", 0)
		wantField(t, err, "limit")
	})
}
