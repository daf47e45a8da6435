package campaign

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// consentUses reads the consent_uses rows of the workspace: contact ->
// purpose|channel|source and the time.
func (f *fixture) consentUses() map[string]string {
	f.t.Helper()
	rows, err := f.db.R.QueryContext(context.Background(), `SELECT contact_id, purpose, channel, source FROM consent_uses WHERE workspace_id = $1`, f.ws)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var cid, p, ch, src string
		if err := rows.Scan(&cid, &p, &ch, &src); err != nil {
			f.t.Fatal(err)
		}
		out[strings.ToLower(cid)] = p + "|" + ch + "|" + src
	}
	return out
}

// A message sent on a consent records its use (rules §9 log_consent_usage);
// a recipient the engine stopped does not, and the access export shows it.
func TestSendOnConsentRecordsItsUse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		a, b := f.subscriber(1), f.subscriber(2)
		camp := f.create(newsletter())
		f.schedule(camp)
		f.withdraw(b.ID)
		if p := f.run(camp); p.Sent != 1 || p.Skipped != 1 {
			t.Fatalf("pass = %+v", p)
		}
		uses := f.consentUses()
		want := "newsletter|email|campaign:" + camp.ID + ":0"
		if len(uses) != 1 || uses[a.ID] != want {
			t.Fatalf("consent uses = %v, want only %s: %s", uses, a.ID, want)
		}
		x, err := f.svc.Privacy.AccessExport(context.Background(), f.ws, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.ConsentUses) != 1 || x.ConsentUses[0].Purpose != "newsletter" || x.ConsentUses[0].LastUsedAt.IsZero() {
			t.Fatalf("export consent uses = %+v", x.ConsentUses)
		}
		first := x.ConsentUses[0].LastUsedAt
		// A second campaign moves last_used_at forward, still one row.
		f.clock.advance(time.Minute)
		again := f.create(newsletter())
		f.schedule(again)
		if p := f.run(again); p.Sent != 1 {
			t.Fatalf("second pass = %+v", p)
		}
		x, err = f.svc.Privacy.AccessExport(context.Background(), f.ws, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.ConsentUses) != 1 || !x.ConsentUses[0].LastUsedAt.After(first) || x.ConsentUses[0].Source != "campaign:"+again.ID+":0" {
			t.Fatalf("after second campaign: %+v (first %v)", x.ConsentUses, first)
		}
		if y, _ := f.svc.Privacy.AccessExport(context.Background(), f.ws, b.ID); len(y.ConsentUses) != 0 {
			t.Fatalf("skipped recipient has consent uses %+v", y.ConsentUses)
		}
	})
}
