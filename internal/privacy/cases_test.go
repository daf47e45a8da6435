package privacy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

func TestAddMonthsCountsCalendarMonths(t *testing.T) {
	for _, c := range []struct {
		from   string
		months int
		want   string
	}{
		{"2026-01-15", 1, "2026-02-15"}, {"2026-01-31", 1, "2026-02-28"}, {"2028-01-31", 1, "2028-02-29"},
		{"2026-03-31", 1, "2026-04-30"}, {"2026-12-31", 1, "2027-01-31"}, {"2026-01-31", 3, "2026-04-30"}, {"2026-11-30", 3, "2027-02-28"},
	} {
		from, _ := time.Parse(time.DateOnly, c.from)
		if got := AddMonths(from, c.months).Format(time.DateOnly); got != c.want {
			t.Errorf("%s + %d months = %s, want %s", c.from, c.months, got, c.want)
		}
	}
}

func TestCaseLifecycle(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		var ve *validate.Error
		if _, err := f.svc.Open(ctx, f.ws, OpenCase{ContactID: id.New(), RequestType: "access"}, dpo); !errors.As(err, &ve) || ve.Field != "contact_id" {
			t.Fatalf("unknown contact: %v", err)
		}
		c := f.contact(contact.Input{Email: "case@example.org"})
		if _, err := f.svc.Open(ctx, f.ws, OpenCase{ContactID: c.ID, RequestType: "forget-me"}, dpo); !errors.As(err, &ve) || ve.Field != "request_type" || len(ve.Allowed) != 6 {
			t.Fatalf("bad type: %v", err)
		}
		if n := f.count(`SELECT COUNT(*) FROM dsr_cases`); n != 0 {
			t.Fatal("bad input changed something")
		}
		received := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
		k, err := f.svc.Open(ctx, f.ws, OpenCase{ContactID: c.ID, RequestType: "access", ReceivedAt: &received, Note: "letter"}, dpo)
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != "received" || !k.DueAt.Equal(time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC)) || len(k.Log) != 1 || !k.Overdue {
			t.Fatalf("opened: %+v", k)
		}
		evs, _ := f.svc.Ledger.Events(ctx, f.ws, c.ID, false)
		if len(evs) != 1 || evs[0].Kind != consent.KindRightsRequestOpened || evs[0].Details.RequestType != "access" {
			t.Fatalf("ledger: %+v", evs)
		}
		// Overdue: an extension must come within the deadline.
		if _, err := f.svc.Extend(ctx, f.ws, k.ID, 1, "complex", dpo); err == nil {
			t.Fatal("extension after the due date accepted")
		}
		now := time.Now().UTC()
		k2, err := f.svc.Open(ctx, f.ws, OpenCase{ContactID: c.ID, RequestType: "erasure", ReceivedAt: &now}, dpo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Extend(ctx, f.ws, k2.ID, 1, "", dpo); !errors.As(err, &ve) || ve.Field != "reason" {
			t.Fatalf("extension without reason: %v", err)
		}
		if _, err := f.svc.Extend(ctx, f.ws, k2.ID, 3, "x", dpo); !errors.As(err, &ve) || ve.Field != "months" {
			t.Fatalf("three months: %v", err)
		}
		e, err := f.svc.Extend(ctx, f.ws, k2.ID, 2, "many requests at once", dpo)
		if err != nil || e.Status != "extended" || !e.DueAt.Equal(AddMonths(now.Truncate(time.Microsecond), 3)) || e.ExtensionReason != "many requests at once" {
			t.Fatalf("extended: %+v %v", e, err)
		}
		if _, err := f.svc.Extend(ctx, f.ws, k2.ID, 1, "more", dpo); !errors.As(err, &ve) {
			t.Fatalf("a third month: %v", err)
		}
		// Not verified: cannot complete, can reject with a reason.
		if _, err := f.svc.Complete(ctx, f.ws, k2.ID, "completed", "", dpo); err == nil {
			t.Fatal("completed without verification")
		}
		// No confirmed e-mail address: the link is refused.
		var ce *consent.ConflictError
		if _, err := f.svc.SendVerification(ctx, f.ws, k2.ID, "de", dpo); !errors.As(err, &ce) || ce.Code != "no_confirmed_email" {
			t.Fatalf("link without confirmed address: %v", err)
		}
		f.doi(c.ID, now.Add(-time.Hour))
		if _, err := f.svc.SendVerification(ctx, f.ws, k2.ID, "en", dpo); err != nil {
			t.Fatal(err)
		}
		js := f.jobs(JobSendVerification)
		if len(js) != 1 {
			t.Fatalf("jobs: %+v", js)
		}
		if err := f.svc.runSendVerification(ctx, &js[0]); err != nil {
			t.Fatal(err)
		}
		items, err := f.svc.Capture.Delivery.Outbox.List(ctx, f.ws, 10, "")
		if err != nil || len(items) != 1 || items[0].To != "case@example.org" {
			t.Fatalf("verification mail: %+v %v", items, err)
		}
		m := regexp.MustCompile(`/p/dsr/verify/([A-Za-z0-9_-]+)`).FindStringSubmatch(plainText(t, items[0].Body))
		if m == nil {
			t.Fatalf("no link in %s", items[0].Body)
		}
		if _, err := f.svc.VerifyLink(ctx, m[1]+"x"); err == nil {
			t.Fatal("a tampered link verified")
		}
		v, err := f.svc.VerifyLink(ctx, m[1])
		if err != nil || v.VerifiedAt == nil || v.Verification != "email_link" || v.Status != "extended" {
			t.Fatalf("verified: %+v %v", v, err)
		}
		done, err := f.svc.Complete(ctx, f.ws, k2.ID, "completed", "", dpo)
		if err != nil || done.Status != "completed" || done.ClosedAt == nil || done.Overdue {
			t.Fatalf("completed: %+v %v", done, err)
		}
		if _, err := f.svc.Extend(ctx, f.ws, k2.ID, 1, "x", dpo); !errors.As(err, &ce) || ce.Code != "case_closed" {
			t.Fatalf("closed case changed: %v", err)
		}
		if _, err := f.svc.Complete(ctx, f.ws, k.ID, "rejected", "", dpo); !errors.As(err, &ve) || ve.Field != "note" {
			t.Fatalf("rejection without reason: %v", err)
		}
		if _, err := f.svc.Complete(ctx, f.ws, k.ID, "rejected", "manifestly unfounded", dpo); err != nil {
			t.Fatal(err)
		}
		evs, _ = f.svc.Ledger.Events(ctx, f.ws, c.ID, false)
		closed := 0
		for _, e := range evs {
			if e.Kind == consent.KindRightsRequestClosed {
				closed++
			}
		}
		if closed != 2 {
			t.Fatalf("%d rights_request_closed, want 2", closed)
		}
		got, err := f.svc.Case(ctx, f.ws, k2.ID)
		if err != nil || len(got.Log) != 5 {
			t.Fatalf("log: %+v %v", got.Log, err)
		}
		open, _ := f.svc.Cases(ctx, f.ws, ListCases{Status: "open"})
		all, _ := f.svc.Cases(ctx, f.ws, ListCases{})
		if len(open) != 0 || len(all) != 2 {
			t.Fatalf("lists: open %d all %d", len(open), len(all))
		}
		if _, err := f.svc.Cases(ctx, f.ws, ListCases{Status: "done"}); !errors.As(err, &ve) {
			t.Fatal("bad status filter accepted")
		}
		g := newFixture(t, db)
		if _, err := g.svc.Case(ctx, g.ws, k2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other workspace reads the case: %v", err)
		}
	})
}

// plainText decodes the text/plain part of a raw message.
func plainText(t *testing.T, raw string) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader([]byte(raw)))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, _ := io.ReadAll(r)
		return string(b)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		return decode(m.Header.Get("Content-Transfer-Encoding"), m.Body)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return decode(p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
}
