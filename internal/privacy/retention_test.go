package privacy

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

func TestRetentionPlanAndApply(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		now := time.Now().UTC()
		ago := func(d int) *time.Time { x := now.AddDate(0, 0, -d); return &x }
		backdate := func(cid string, days int) {
			f.exec(`UPDATE contacts SET created_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2`, f.ws, cid, *ago(days))
		}
		request := func(cid string, days int) {
			f.append(cid, consent.NewEvent{Kind: consent.KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: ago(days)})
			f.exec(`INSERT INTO doi_requests (id, workspace_id, contact_id, channel, form_key, form_version, lang, consents, created_at, expires_at) VALUES ($1,$2,$3,'email','n',1,'de','[]',$4,$5)`,
				id.New(), f.ws, cid, *ago(days), *ago(days - 7))
		}
		stale := f.contact(contact.Input{Email: "stale-doi@example.org"})
		request(stale.ID, 40)
		backdate(stale.ID, 40)
		fresh := f.contact(contact.Input{Email: "fresh-doi@example.org"})
		request(fresh.ID, 10)
		backdate(fresh.ID, 10)
		loyal := f.contact(contact.Input{Email: "loyal@example.org"})
		f.doi(loyal.ID, *ago(1100))
		backdate(loyal.ID, 1100)
		gone := f.contact(contact.Input{Email: "withdrawn@example.org"})
		f.doi(gone.ID, *ago(1100))
		f.append(gone.ID, consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: ago(1000)})
		backdate(gone.ID, 1100)
		old := f.contact(contact.Input{LastName: "Altkunde", Relationship: "customer"})
		f.append(old.ID, consent.NewEvent{Kind: consent.KindRelationshipStarted, Details: consent.Details{Relationship: "customer"}, OccurredAt: ago(4500)})
		f.append(old.ID, consent.NewEvent{Kind: consent.KindRelationshipEnded, Details: consent.Details{Relationship: "customer"}, OccurredAt: ago(3700)})
		ended := f.contact(contact.Input{Organization: "Lieferant GmbH", Audience: "b2b", Relationship: "supplier"})
		f.append(ended.ID, consent.NewEvent{Kind: consent.KindRelationshipStarted, Details: consent.Details{Relationship: "supplier"}, OccurredAt: ago(900)})
		f.append(ended.ID, consent.NewEvent{Kind: consent.KindRelationshipEnded, Details: consent.Details{Relationship: "supplier"}, OccurredAt: ago(300)})

		pl, err := f.svc.Plan(ctx, f.ws, now)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{RuleDOIUnconfirmed: {stale.ID}, RuleInactiveLead: {gone.ID}, RuleContractDelete: {old.ID}, RuleContractRestrict: {ended.ID}}
		if pl.Evaluated != 6 {
			t.Fatalf("evaluated %d, want 6", pl.Evaluated)
		}
		for _, r := range pl.Rules {
			if !slices.Equal(r.ContactIDs, want[r.Rule]) || r.Count != len(want[r.Rule]) || r.WhyEN == "" || r.WhyDE == "" {
				t.Errorf("rule %s: %v (count %d), want %v", r.Rule, r.ContactIDs, r.Count, want[r.Rule])
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM retention_runs`); n != 0 {
			t.Fatal("the plan changed something")
		}

		res, err := f.svc.Apply(ctx, f.ws, now)
		if err != nil || res.Failed != 0 || res.Evaluated != 6 {
			t.Fatalf("apply: %+v %v", res, err)
		}
		for _, cid := range []string{stale.ID, gone.ID, old.ID} {
			c, _ := f.svc.Contacts.Get(ctx, f.ws, cid)
			if !c.Erased {
				t.Errorf("contact %s not erased", cid)
			}
		}
		for _, cid := range []string{fresh.ID, loyal.ID, ended.ID} {
			c, _ := f.svc.Contacts.Get(ctx, f.ws, cid)
			if c.Erased {
				t.Errorf("contact %s erased", cid)
			}
		}
		evs, _ := f.svc.Ledger.Events(ctx, f.ws, ended.ID, false)
		if !restrictedNow(evs) {
			t.Fatal("the ended supplier is not restricted")
		}
		if n := f.count(`SELECT COUNT(*) FROM retention_actions WHERE workspace_id = $1 AND run_id = $2`, f.ws, res.RunID); n != 4 {
			t.Fatalf("%d actions recorded, want 4", n)
		}
		// A second run finds nothing left to do.
		pl, _ = f.svc.Plan(ctx, f.ws, now)
		for _, r := range pl.Rules {
			if r.Count != 0 {
				t.Errorf("second plan: rule %s still has %v", r.Rule, r.ContactIDs)
			}
		}

		// Policies: editable, checked.
		var ve *validate.Error
		short := 100
		if _, err := f.svc.SetPolicy(ctx, f.ws, RuleContractDelete, PolicyUpdate{AfterDays: &short}, dpo); !errors.As(err, &ve) || ve.Field != "after_days" {
			t.Fatalf("ten-year duty shortened: %v", err)
		}
		if _, err := f.svc.SetPolicy(ctx, f.ws, "everything", PolicyUpdate{}, dpo); !errors.As(err, &ve) || ve.Field != "rule" || len(ve.Allowed) != len(Rules) {
			t.Fatalf("unknown rule: %v", err)
		}
		seven := 7
		p, err := f.svc.SetPolicy(ctx, f.ws, RuleDOIUnconfirmed, PolicyUpdate{AfterDays: &seven}, dpo)
		if err != nil || p.AfterDays != 7 || p.Default {
			t.Fatalf("policy: %+v %v", p, err)
		}
		pl, _ = f.svc.Plan(ctx, f.ws, now)
		for _, r := range pl.Rules {
			if r.Rule == RuleDOIUnconfirmed && !slices.Equal(r.ContactIDs, []string{fresh.ID}) {
				t.Errorf("after 7 days: %v", r.ContactIDs)
			}
		}
		off := false
		if _, err := f.svc.SetPolicy(ctx, f.ws, RuleDOIUnconfirmed, PolicyUpdate{Enabled: &off}, dpo); err != nil {
			t.Fatal(err)
		}
		pl, _ = f.svc.Plan(ctx, f.ws, now)
		for _, r := range pl.Rules {
			if r.Rule == RuleDOIUnconfirmed {
				t.Error("a disabled rule is planned")
			}
		}
	})
}

func TestRetentionIsScheduledOncePerDay(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		for range 2 {
			if err := f.svc.ScheduleRetention(ctx); err != nil {
				t.Fatal(err)
			}
		}
		js := f.jobs(JobRetention)
		if len(js) != 1 {
			t.Fatalf("%d clean-up jobs today, want 1", len(js))
		}
		if err := f.svc.runRetention(ctx, &js[0]); err != nil {
			t.Fatal(err)
		}
		js = f.jobs(JobRetention)
		if len(js) != 2 || js[0].UniqueKey != retentionDay(time.Now().UTC().AddDate(0, 0, 1)) {
			t.Fatalf("next day's run: %+v", js)
		}
		if n := f.count(`SELECT COUNT(*) FROM retention_runs WHERE workspace_id = $1 AND finished_at IS NOT NULL`, f.ws); n != 1 {
			t.Fatalf("%d finished runs", n)
		}
	})
}

// TestRetentionDeletesOldRecords checks the record rules: tracking events
// and the webhook delivery log older than their period go, in batches,
// newer rows and pending deliveries stay, and nothing of another workspace
// is touched.
func TestRetentionDeletesOldRecords(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		other := newFixture(t, db)
		now := time.Now().UTC()
		ago := func(d int) time.Time { return now.AddDate(0, 0, -d) }
		c := f.contact(contact.Input{Email: "tracked@example.org"})
		oc := other.contact(contact.Input{Email: "tracked-elsewhere@example.org"})
		event := func(ws, cid string, days int) {
			f.exec(`INSERT INTO track_events (id, workspace_id, contact_id, type, name, ref, props, occurred_at) VALUES ($1,$2,$3,'page_view','/','','{}',$4)`, id.New(), ws, cid, ago(days))
			f.exec(`INSERT INTO track_pseudonymous (id, workspace_id, pseudonym, period, type, name, occurred_at) VALUES ($1,$2,'p',1,'page_view','/',$3)`, id.New(), ws, ago(days))
		}
		batch := recordBatch + 7 // more than one batch
		for range batch {
			event(f.ws, c.ID, 400)
		}
		event(f.ws, c.ID, 30)
		event(other.ws, oc.ID, 400)
		ep := id.New()
		f.exec(`INSERT INTO webhook_endpoints (workspace_id, id, name, url, secret, event_types, data_categories, secret_rotated_at, created_at, updated_at)
			VALUES ($1,$2,'crm','https://crm.example.org/hook',$3,'[]','[]',$4,$4,$4)`, f.ws, ep, []byte("s"), ago(300))
		delivery := func(seq, days int, state string) {
			ev, dl := id.New(), id.New()
			f.exec(`INSERT INTO webhook_events (workspace_id, id, type, contact_id, occurred_at, payload) VALUES ($1,$2,'contact.erased',$3,$4,'{}')`, f.ws, ev, c.ID, ago(days))
			f.exec(`INSERT INTO webhook_deliveries (workspace_id, id, endpoint_id, event_id, seq, state, next_attempt_at, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7,$7)`,
				f.ws, dl, ep, ev, seq, state, ago(days))
			f.exec(`INSERT INTO webhook_attempts (workspace_id, id, delivery_id, started_at, duration_ms, status_code) VALUES ($1,$2,$3,$4,5,200)`, f.ws, id.New(), dl, ago(days))
		}
		delivery(1, 200, "delivered")
		delivery(2, 200, "dead")
		delivery(3, 200, "pending") // still to be delivered: kept whatever its age
		delivery(4, 10, "delivered")

		pl, err := f.svc.Plan(ctx, f.ws, now)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, r := range pl.Rules {
			counts[r.Rule] = r.Count
		}
		if counts[RuleTrackingEvents] != 2*batch || counts[RuleWebhookLog] != 6 {
			t.Fatalf("plan counts %v, want %d tracking rows and 6 log rows", counts, 2*batch)
		}
		if n := f.count(`SELECT COUNT(*) FROM track_events`); n != batch+2 {
			t.Fatalf("the plan deleted something: %d events", n)
		}
		res, err := f.svc.Apply(ctx, f.ws, now)
		if err != nil || res.Failed != 0 {
			t.Fatalf("apply: %+v %v", res, err)
		}
		if res.Actions[RuleTrackingEvents+":deleted"] != 2*batch || res.Actions[RuleWebhookLog+":deleted"] != 6 {
			t.Fatalf("actions %v", res.Actions)
		}
		for q, want := range map[string]int{
			`SELECT COUNT(*) FROM track_events WHERE workspace_id = $1`:                        1,
			`SELECT COUNT(*) FROM track_pseudonymous WHERE workspace_id = $1`:                  1,
			`SELECT COUNT(*) FROM webhook_deliveries WHERE workspace_id = $1`:                  2,
			`SELECT COUNT(*) FROM webhook_deliveries WHERE workspace_id = $1 AND seq IN (3,4)`: 2,
			`SELECT COUNT(*) FROM webhook_attempts WHERE workspace_id = $1`:                    2,
			`SELECT COUNT(*) FROM webhook_events WHERE workspace_id = $1`:                      2,
		} {
			if n := f.count(q, f.ws); n != want {
				t.Errorf("%s: %d, want %d", q, n, want)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM track_events WHERE workspace_id = $1`, other.ws); n != 1 {
			t.Fatalf("another workspace's events: %d", n)
		}
		// The period is the workspace's to set, within bounds.
		var ve *validate.Error
		zero := 0
		if _, err := f.svc.SetPolicy(ctx, f.ws, RuleTrackingEvents, PolicyUpdate{AfterDays: &zero}, dpo); !errors.As(err, &ve) || ve.Field != "after_days" {
			t.Fatalf("zero days: %v", err)
		}
	})
}
