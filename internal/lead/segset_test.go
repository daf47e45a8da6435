package lead_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/track"
)

// TestSegmentCountEqualsEachContactRandomTrees: the count of random
// and/or/not trees over stage, score, attribute and event leaves equals
// the tree evaluated contact by contact, on both databases (owner leaves
// too, though nobody is handed off). On SQLite the
// count merges sets of contact IDs; it runs with the probe of small AND
// sets off, always on, and at a size between, so both ways of answering
// an AND are compared.
func TestSegmentCountEqualsEachContactRandomTrees(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := day("2026-11-12")
		f := newFixture(t, db, now)
		r := scoringRules()
		r.Fit = append(r.Fit, lead.FitRule{ID: "customer", Points: 12, When: []lead.Condition{{Attribute: "relationship", Op: "eq", Value: "customer"}}})
		f.rules(r)
		rnd := rand.New(rand.NewPCG(11, 5))
		var people []member
		for i := range 90 {
			p := member{audience: contact.Audiences[rnd.IntN(2)], relationship: contact.Relationships[rnd.IntN(3)], dataSrc: contact.DataSources[rnd.IntN(2)]}
			c, err := f.contacts.Create(ctx, f.ws, contact.Input{Audience: p.audience, Relationship: p.relationship, DataSource: p.dataSrc, Email: id.New()[24:] + "@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			p.id = c.ID
			for range rnd.IntN(5) {
				typ := []string{"page_view", "download", "email_click"}[rnd.IntN(3)]
				p.events = append(p.events, track.Event{ContactID: p.id, Type: typ, Name: []string{"whitepaper-2026", "pricing"}[rnd.IntN(2)], At: now.Add(-time.Duration(rnd.IntN(60*24)) * time.Hour)})
			}
			if len(p.events) > 0 {
				f.record(p.events...)
			}
			if i == 75 {
				if _, err := f.svc.Recompute(ctx, f.ws); err != nil {
					t.Fatal(err)
				}
			}
			people = append(people, p) // the last ones have no state unless they had events
		}
		f.readLeads(people)
		num := func(v float64) *float64 { return &v }
		pick := func(xs []string) string { return xs[rnd.IntN(len(xs))] }
		some := func(xs []string) []string {
			var out []string
			for _, x := range xs {
				if rnd.IntN(2) == 0 {
					out = append(out, x)
				}
			}
			if out == nil {
				out = []string{pick(xs)}
			}
			return out
		}
		leaf := func() lead.Filter {
			switch rnd.IntN(6) {
			case 5:
				return lead.Filter{Field: "owner", Op: pick([]string{"present", "absent"})}
			case 0:
				fl := lead.Filter{Field: "stage", Op: pick([]string{"eq", "ne", "in"})}
				if fl.Op == "in" {
					fl.Values = some(lead.Stages[:4])
				} else {
					fl.Value = pick(lead.Stages[:4])
				}
				return fl
			case 1:
				// Whole fit sums (0, 5, 12, 17) hit the exact comparison.
				return lead.Filter{Field: "score", Op: pick([]string{"gt", "gte", "lt", "lte"}), Number: num([]float64{-3, 0, 5, 9.5, 12, 17, 20, 33, 1000}[rnd.IntN(9)])}
			case 2:
				fl := lead.Filter{Event: &lead.EventLeaf{Type: pick([]string{"page_view", "download", "email_click"}), WithinDays: []int{3, 14, 30, 90}[rnd.IntN(4)]}, Op: pick([]string{"happened", "not_happened"})}
				if rnd.IntN(3) == 0 {
					fl.Event.Name = "pricing"
				}
				return fl
			}
			field := pick([]string{"audience", "relationship", "data_source"})
			allowed := map[string][]string{"audience": contact.Audiences, "relationship": contact.Relationships, "data_source": contact.DataSources}[field]
			fl := lead.Filter{Field: field, Op: pick([]string{"eq", "ne", "in"})}
			if fl.Op == "in" {
				fl.Values = some(allowed)
			} else {
				fl.Value = pick(allowed)
			}
			return fl
		}
		var tree func(depth int) lead.Filter
		tree = func(depth int) lead.Filter {
			if depth == 0 || rnd.IntN(4) == 0 {
				return leaf()
			}
			switch rnd.IntN(5) {
			case 0:
				x := tree(depth - 1)
				return lead.Filter{Not: &x}
			case 1, 2:
				var kids []lead.Filter
				for range 1 + rnd.IntN(3) {
					kids = append(kids, tree(depth-1))
				}
				return lead.Filter{Or: kids}
			}
			var kids []lead.Filter
			for range 1 + rnd.IntN(3) {
				kids = append(kids, tree(depth-1))
			}
			return lead.Filter{And: kids}
		}
		filters := []lead.Filter{
			{Not: &lead.Filter{Field: "stage", Op: "eq", Value: "visitor"}},
			{And: []lead.Filter{{Field: "audience", Op: "eq", Value: "b2b"}, {Field: "score", Op: "gte", Number: num(17)}}},
			{And: []lead.Filter{{Event: &lead.EventLeaf{Type: "download", WithinDays: 30}, Op: "happened"}, {Not: &lead.Filter{Field: "relationship", Op: "eq", Value: "customer"}}}},
			{Or: []lead.Filter{{Field: "score", Op: "lt", Number: num(5)}, {Not: &lead.Filter{Field: "data_source", Op: "eq", Value: "third_party"}}}},
		}
		for range 150 {
			filters = append(filters, tree(3))
		}
		for _, pm := range []int{0, 4000, 6} {
			restore := lead.SetProbeMax(pm)
			for _, fl := range filters {
				want := 0
				for _, p := range people {
					if p.holds(fl, now) {
						want++
					}
				}
				n, err := f.svc.Count(ctx, f.ws, fl)
				if err != nil {
					raw, _ := json.Marshal(fl)
					t.Fatalf("%s: %v", raw, err)
				}
				if n != want {
					raw, _ := json.Marshal(fl)
					t.Errorf("probe %d: count %s = %d, want %d", pm, raw, n, want)
				}
			}
			restore()
		}
	})
}
