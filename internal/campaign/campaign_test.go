package campaign

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

func TestUnknownMergeFieldSavesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		in := newsletter(Step{Subject: "Hallo", Text: "Guten Tag {{ vorname }}"})
		_, err := f.svc.Create(context.Background(), f.ws, in)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Field != "steps[0].text" || ve.Code != "unknown_merge_field" || !strings.Contains(ve.Error(), "vorname") {
			t.Fatalf("err = %v, want unknown_merge_field naming steps[0].text and vorname", err)
		}
		cs, err := f.svc.List(context.Background(), f.ws)
		if err != nil || len(cs) != 0 {
			t.Fatalf("campaigns after refused save = %d, %v", len(cs), err)
		}
		_, err = f.svc.Create(context.Background(), f.ws, Input{Name: "x", Purpose: "no_such", Steps: in.Steps[:0]})
		if !errors.As(err, &ve) || ve.Field != "steps" {
			t.Fatalf("no steps: %v", err)
		}
		_, err = f.svc.Create(context.Background(), f.ws, newsletterWithPurpose("no_such"))
		if !errors.As(err, &ve) || ve.Field != "purpose" {
			t.Fatalf("unknown purpose: %v", err)
		}
	})
}

func newsletterWithPurpose(p string) Input {
	in := newsletter()
	in.Purpose = p
	return in
}

// The engine is asked again right before each message: a withdrawal after
// scheduling stops the message, which is counted as skipped with the
// engine's reason code.
func TestWithdrawalAfterSchedulingStopsTheMessage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		a, b, c := f.subscriber(1), f.subscriber(2), f.subscriber(3)
		camp := f.create(newsletter())
		if n := f.schedule(camp); n != 3 {
			t.Fatalf("scheduled for %d, want 3", n)
		}
		f.withdraw(b.ID)
		f.clock.advance(time.Second)
		p := f.run(camp)
		if p.Sent != 2 || p.Skipped != 1 {
			t.Fatalf("pass = %+v, want 2 sent, 1 skipped", p)
		}
		msgs := f.smtp.WaitFor(t, 2, 5*time.Second)
		got := map[string]bool{}
		for _, m := range msgs {
			got[m.To[0]] = true
		}
		if !got[a.Email] || !got[c.Email] || got[b.Email] || len(msgs) != 2 {
			t.Fatalf("recipients = %v", got)
		}
		r := f.report(camp)
		if r.Sent != 2 || r.Skipped != 1 || r.SkippedBy["consent_withdrawn"] != 1 {
			t.Fatalf("report = %+v", r)
		}
		cs, _ := f.svc.Get(context.Background(), f.ws, camp.ID)
		if cs.Status != StatusCompleted {
			t.Fatalf("status = %s", cs.Status)
		}
		// Every message carries the footer and the one-click unsubscribe.
		m := msgs[0]
		if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.Contains(m.Header.Get("List-Unsubscribe"), "/p/unsubscribe/") {
			t.Fatalf("headers: %v", m.Header)
		}
		text, _ := m.Text()
		if !strings.Contains(text, "Test GmbH") || !strings.Contains(text, "/p/preferences/") || !strings.Contains(text, "Guten Tag Vorname") {
			t.Fatalf("text:\n%s", text)
		}
	})
}

// A second step follows the first after its delay, only for contacts who
// meet its condition.
func TestTwoStepSequenceWithDelayAndCondition(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		a, b := f.subscriber(1), f.subscriber(2)
		camp := f.create(newsletter(
			Step{Subject: "Willkommen", Text: "Hallo {{first_name}}"},
			Step{DelaySeconds: 3600, Condition: Condition{Event: &EventCondition{Type: "download", Name: "whitepaper", Happened: false}}, Subject: "Schon gelesen?", Text: "Das Whitepaper wartet."},
		))
		f.schedule(camp)
		p := f.run(camp)
		if p.Sent != 2 || p.NextDue == nil {
			t.Fatalf("first pass = %+v", p)
		}
		// a downloads the whitepaper: the reminder is not for them.
		f.events.add(a.ID, "download", "whitepaper", f.clock.Now().Add(time.Minute))
		if p := f.run(camp); p.Sent != 0 {
			t.Fatalf("second step sent before its delay: %+v", p)
		}
		f.clock.advance(time.Hour + time.Second)
		p = f.run(camp)
		if p.Sent != 1 || p.Skipped != 1 {
			t.Fatalf("after the delay = %+v", p)
		}
		msgs := f.smtp.WaitFor(t, 3, 5*time.Second)
		if last := msgs[2]; last.To[0] != b.Email || last.Header.Get("Subject") != "Schon gelesen?" {
			t.Fatalf("reminder went to the wrong contact or subject %q", last.Header.Get("Subject"))
		}
		r := f.report(camp)
		if r.Steps[0] != 2 || r.Steps[1] != 1 || r.SkippedBy[ReasonConditionNotMet] != 1 {
			t.Fatalf("report = %+v", r)
		}
	})
}

// An SMTP outage pauses the campaign; when the server is back the run
// resumes and sends every message exactly once.
func TestSMTPOutagePausesAndResumesWithoutDuplicates(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		const n = 30
		for i := range n {
			f.subscriber(i)
		}
		camp := f.create(newsletter())
		f.schedule(camp)
		f.smtp.Stop()
		p := f.run(camp)
		if !p.Paused || p.Sent != 0 {
			t.Fatalf("pass during outage = %+v", p)
		}
		cs, _ := f.svc.Get(context.Background(), f.ws, camp.ID)
		if cs.Status != StatusPaused || cs.PausedReason != ErrSMTPUnavailable.Error() {
			t.Fatalf("status = %s (%s)", cs.Status, cs.PausedReason)
		}
		if r := f.report(camp); r.Queued != n {
			t.Fatalf("queued after outage = %d", r.Queued)
		}
		f.smtp.Restart(t)
		p = f.run(camp)
		if p.Sent != n || p.Paused {
			t.Fatalf("pass after restart = %+v", p)
		}
		if p := f.run(camp); p.Sent != 0 {
			t.Fatalf("a further run sent again: %+v", p)
		}
		msgs := f.smtp.WaitFor(t, n, 5*time.Second)
		seen := map[string]int{}
		for _, m := range msgs {
			seen[m.To[0]]++
		}
		for to, k := range seen {
			if k != 1 {
				t.Fatalf("%s got %d messages", to, k)
			}
		}
		if len(seen) != n || f.smtp.Count() != n {
			t.Fatalf("%d recipients, %d messages, want %d", len(seen), f.smtp.Count(), n)
		}
	})
}

// Through the job queue: the run job snoozes during the outage and
// finishes the campaign after it.
func TestRunJobRidesOutAnOutage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		f.svc.PauseFor = 200 * time.Millisecond
		for i := range 5 {
			f.subscriber(i)
		}
		camp := f.create(newsletter())
		f.smtp.Stop()
		f.schedule(camp)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := f.svc.Jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer f.svc.Jobs.Stop(context.Background())
		deadline := time.Now().Add(5 * time.Second)
		for {
			cs, _ := f.svc.Get(ctx, f.ws, camp.ID)
			if cs.Status == StatusPaused {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not paused: %s", cs.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		f.smtp.Restart(t)
		f.smtp.WaitFor(t, 5, 10*time.Second)
		for {
			cs, _ := f.svc.Get(ctx, f.ws, camp.ID)
			if cs.Status == StatusCompleted {
				break
			}
			if time.Now().After(deadline.Add(5 * time.Second)) {
				t.Fatalf("not completed: %s", cs.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if f.smtp.Count() != 5 {
			t.Fatalf("%d messages", f.smtp.Count())
		}
	})
}

// Preview renders for one contact; a test send goes only to the given
// address, marked as a test, and is not counted.
func TestPreviewAndTestSend(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		ctx := context.Background()
		a := f.subscriber(1)
		f.subscriber(2)
		camp := f.create(newsletter())
		r, err := f.svc.Preview(ctx, f.ws, camp.ID, 0, a.ID)
		if err != nil || r.Subject != "Hallo Vorname1" || !strings.Contains(r.HTML, "Vorname1") {
			t.Fatalf("preview = %+v, %v", r, err)
		}
		if _, err := f.svc.Preview(ctx, f.ws, camp.ID, 3, a.ID); !isField(err, "step") {
			t.Fatalf("step out of range: %v", err)
		}
		if err := f.svc.TestSend(ctx, f.ws, camp.ID, 0, "a@x.example, b@y.example", ""); !isField(err, "to") {
			t.Fatalf("two addresses: %v", err)
		}
		if err := f.svc.TestSend(ctx, f.ws, camp.ID, 0, "reviewer@example.org", a.ID); err != nil {
			t.Fatal(err)
		}
		m := f.smtp.WaitFor(t, 1, 5*time.Second)
		if len(m) != 1 || m[0].To[0] != "reviewer@example.org" || m[0].Header.Get("X-Fairlead-Test") != "true" || !strings.HasPrefix(m[0].Header.Get("Subject"), "[Test] ") {
			t.Fatalf("test message: %+v", m[0].Header)
		}
		if r := f.report(camp); r.Sent != 0 || r.Queued != 0 {
			t.Fatalf("test send counted: %+v", r)
		}
	})
}
