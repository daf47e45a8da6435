package campaign

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/track"
)

// Opens and clicks are tracked only in messages to contacts who consented
// to e-mail tracking; the report counts them, the withdrawals after the
// message and the conversions.
func TestTrackingOnlyWithConsentAndReportCounts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		ctx := context.Background()
		events := track.NewStore(db, f.clock.Now)
		f.svc.Track = events
		a, b := f.subscriber(1), f.subscriber(2)
		when := f.clock.Now().Add(-time.Hour)
		for _, kind := range []string{consent.KindConsentRequested, consent.KindConsentConfirmed} {
			ev := consent.NewEvent{Kind: kind, Purpose: "email_tracking", Channels: []string{"email"}, OccurredAt: &when, Details: consent.Details{Verification: "email_doi"},
				Evidence: consent.EvidenceInput{Source: "form:newsletter", NoticeHash: f.notice.Hash, TextShown: f.notice.Body}}
			if kind == consent.KindConsentConfirmed {
				ev.Evidence = consent.EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link"}
			}
			if _, err := f.ledger.Append(ctx, nil, f.ws, a.ID, ev, dpo); err != nil {
				t.Fatal(err)
			}
		}
		in := newsletter(Step{Subject: "Neu", Text: "Text https://shop.example/angebot", HTML: `<p>Unser <a href="https://shop.example/angebot?x=1&amp;y=2">Angebot</a></p>`})
		in.ConvertType, in.ConvertName = "form_submit", "demo"
		camp := f.create(in)
		f.schedule(camp)
		if p := f.run(camp); p.Sent != 2 {
			t.Fatalf("pass = %+v", p)
		}
		msgs := f.smtp.WaitFor(t, 2, 5*time.Second)
		bodies := map[string]string{}
		for _, m := range msgs {
			h, _ := m.HTML()
			bodies[m.To[0]] = h
		}
		if strings.Contains(bodies[b.Email], "/p/t/") || !strings.Contains(bodies[b.Email], `href="https://shop.example/angebot?x=1&amp;y=2"`) {
			t.Fatalf("untracked message has tracking:\n%s", bodies[b.Email])
		}
		open := regexp.MustCompile(`/p/t/o/([A-Za-z0-9_-]+)`).FindStringSubmatch(bodies[a.Email])
		click := regexp.MustCompile(`/p/t/c/([A-Za-z0-9_-]+)`).FindStringSubmatch(bodies[a.Email])
		if open == nil || click == nil {
			t.Fatalf("tracked message lacks pixel or link:\n%s", bodies[a.Email])
		}
		if strings.Contains(bodies[a.Email][strings.Index(bodies[a.Email], "<footer"):], "/p/t/") {
			t.Fatal("footer links are tracked")
		}
		if err := f.svc.TrackOpen(ctx, open[1]); err != nil {
			t.Fatal(err)
		}
		target, err := f.svc.TrackClick(ctx, click[1])
		if err != nil || target != "https://shop.example/angebot?x=1&y=2" {
			t.Fatalf("click: %q %v", target, err)
		}
		if _, err := f.svc.TrackClick(ctx, click[1][:len(click[1])-2]+"AA"); err != ErrTrackingLink {
			t.Fatalf("forged click: %v", err)
		}
		evs, _ := events.ForContact(ctx, f.ws, a.ID, 10)
		if len(evs) != 2 || evs[0].Ref != "campaign:"+camp.ID+":0" {
			t.Fatalf("events: %+v", evs)
		}
		f.clock.advance(time.Second)
		f.withdraw(b.ID)
		f.events.add(a.ID, "form_submit", "demo", f.clock.Now())
		f.svc.Events = f.events
		r := f.report(camp)
		if r.Opened != 1 || r.Clicked != 1 || r.Unsubscribed != 1 || r.Converted != 1 || r.Sent != 2 {
			t.Fatalf("report = %+v", r)
		}
	})
}
