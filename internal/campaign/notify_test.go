package campaign

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

// Provider notifications: a hard bounce suppresses the address at once, a
// soft bounce only the third time, a complaint is an objection in the
// ledger; the next campaign skips all three with their reason codes, and
// the report counts delivered and bounced messages.
func TestBouncesAndComplaintsSuppress(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		ctx := context.Background()
		var cs []string
		for i := range 4 {
			cs = append(cs, f.subscriber(i).ID)
		}
		camp := f.create(newsletter())
		f.schedule(camp)
		if p := f.run(camp); p.Sent != 4 {
			t.Fatalf("pass = %+v", p)
		}
		msgID := map[string]string{}
		rows, err := db.R.Query(`SELECT contact_id, message_id FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2`, f.ws, camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c, m string
			rows.Scan(&c, &m)
			msgID[c] = m
		}
		rows.Close()
		hard, soft, complainer, fine := cs[0], cs[1], cs[2], cs[3]
		if _, err := f.svc.Notify(ctx, f.ws, []Notification{{Type: "bounce", BounceType: "maybe", MessageID: msgID[hard]}}); !isField(err, "events[0].bounce_type") {
			t.Fatalf("bad bounce type: %v", err)
		}
		res, err := f.svc.Notify(ctx, f.ws, []Notification{
			{Type: "bounce", BounceType: "hard", MessageID: msgID[hard]},
			{Type: "bounce", BounceType: "soft", MessageID: msgID[soft]},
			{Type: "bounce", BounceType: "soft", MessageID: msgID[soft]},
			{Type: "complaint", MessageID: msgID[complainer]},
			{Type: "delivered", MessageID: msgID[fine]},
			{Type: "delivered", MessageID: "<unknown@example.org>"},
		})
		if err != nil || res.Applied != 5 || res.Unknown != 1 || res.Suppressed != 2 {
			t.Fatalf("notify = %+v, %v", res, err)
		}
		d, err := f.svc.Engine.DecideContacts(ctx, f.ws, []string{complainer}, "newsletter", "email", audience.Campaign{})
		if err != nil || d[complainer].Allowed {
			t.Fatalf("the engine still allows the complainer: %+v %v", d[complainer], err)
		}
		second := f.create(newsletter())
		f.schedule(second)
		// Two soft bounces keep the address; the third suppresses it.
		if p := f.run(second); p.Sent != 2 {
			t.Fatalf("second campaign = %+v", p)
		}
		if _, err := f.svc.Notify(ctx, f.ws, []Notification{{Type: "bounce", BounceType: "soft", MessageID: msgID[soft]}}); err != nil {
			t.Fatal(err)
		}
		n := 0
		db.R.QueryRow(`SELECT COUNT(*) FROM suppressions WHERE workspace_id = $1`, f.ws).Scan(&n)
		if n != 3 {
			t.Fatalf("%d suppression entries, want 3", n)
		}
		third := f.create(newsletter())
		f.schedule(third)
		if p := f.run(third); p.Sent != 1 {
			t.Fatalf("third campaign = %+v", p)
		}
		r := f.report(third)
		if r.SkippedBy["bounced"] != 2 || r.Skipped != 2 {
			t.Fatalf("third report = %+v", r)
		}
		r = f.report(camp)
		if r.Sent != 4 || r.Delivered != 1 || r.Bounced != 2 {
			t.Fatalf("first report = %+v", r)
		}
	})
}

func flip(c string) string {
	if c == "0" {
		return "1"
	}
	return "0"
}

func isField(err error, field string) bool {
	var ve *validate.Error
	return errors.As(err, &ve) && ve.Field == field
}

func TestWebhookSignature(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		body := []byte(`{"events":[]}`)
		m := hmac.New(sha256.New, []byte(f.svc.WebhookSecret(f.ws)))
		m.Write(body)
		good := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if err := f.svc.CheckSignature(f.ws, body, good); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"", "sha256=00", good[:len(good)-1] + flip(good[len(good)-1:]), "md5=" + good[7:]} {
			if err := f.svc.CheckSignature(f.ws, body, bad); !errors.Is(err, ErrSignature) {
				t.Fatalf("%q accepted", bad)
			}
		}
		if err := f.svc.CheckSignature(f.ws, []byte(`{"events":[1]}`), good); !errors.Is(err, ErrSignature) {
			t.Fatal("other body accepted")
		}
		if f.svc.WebhookSecret(f.ws) == f.svc.WebhookSecret("0190aaaa-0000-7000-8000-00000000abcd") {
			t.Fatal("secrets of two workspaces are equal")
		}
	})
}
