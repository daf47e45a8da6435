package privacy

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	t      *testing.T
	db     *store.DB
	ws     string
	svc    *Service
	queue  *jobs.Queue
	notice consent.Notice
	clock  *clock
}

// clock is the fixture's time: real time shifted by an offset, shared by
// the ledger and the service so a test can jump ahead.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }

// jump sets the clock to t.
func (c *clock) jump(t time.Time) { c.offset.Store(int64(time.Until(t))) }

var dpo = consent.Actor{UserID: "0190aaaa-0000-7000-8000-000000000001"}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	ws, err := workspace.Create(ctx, db.W, "ws-"+id.New()[24:], "W", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(db, bytes.Repeat([]byte{7}, keyring.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	contacts := contact.NewStore(db, keys, nil)
	purposes := consent.NewPurposes(db, nil)
	notices := consent.NewNotices(db, nil)
	clk := &clock{}
	ledger := consent.NewLedger(db, contacts, purposes, notices, clk.Now)
	q := jobs.New(db, jobs.Options{Node: "test"})
	capt := &capture.Service{DB: db, Contacts: contacts, Ledger: ledger, Purposes: purposes, Notices: notices, Keys: keys, Jobs: q,
		Settings: capture.NewSettingsStore(db, keys, capture.Defaults{PublicURL: "http://127.0.0.1:1", MailFrom: "dpo@example.org"}, nil),
		Delivery: capture.NewDelivery(db, outbox.NewOutbox(db, keys, nil))}
	svc := &Service{DB: db, Contacts: contacts, Ledger: ledger, Capture: capt, Jobs: q, Now: clk.Now}
	svc.Register(q)
	n, _, err := notices.Create(ctx, ws.ID, "token:test", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := capt.Settings.Update(ctx, ws.ID, capture.SettingsUpdate{Imprint: map[string]string{"de": "Test GmbH, Weg 1, 10115 Berlin"}}, nil); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, db: db, ws: ws.ID, svc: svc, queue: q, notice: n, clock: clk}
}

func (f *fixture) contact(in contact.Input) contact.Contact {
	f.t.Helper()
	if in.Audience == "" {
		in.Audience = "b2c"
	}
	if in.Relationship == "" {
		in.Relationship = "prospect"
	}
	c, err := f.svc.Contacts.Create(context.Background(), f.ws, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) append(cid string, ev consent.NewEvent) consent.Event {
	f.t.Helper()
	e, err := f.svc.Ledger.Append(context.Background(), nil, f.ws, cid, ev, dpo)
	if err != nil {
		f.t.Fatalf("append %s: %v", ev.Kind, err)
	}
	return e
}

// doi records a confirmed newsletter consent by e-mail with personal evidence.
func (f *fixture) doi(cid string, when time.Time) {
	f.t.Helper()
	f.append(cid, consent.NewEvent{Kind: consent.KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &when,
		Details: consent.Details{Verification: "email_doi"}, Evidence: consent.EvidenceInput{Source: "form:newsletter", NoticeHash: f.notice.Hash, TextShown: f.notice.Body, IPAddress: "203.0.113.9", UserAgent: "Mozilla/5.0"}})
	f.append(cid, consent.NewEvent{Kind: consent.KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &when,
		Details: consent.Details{Verification: "email_doi"}, Evidence: consent.EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link", UserAgent: "Mozilla/5.0"}})
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.W.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.R.QueryRow(q, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (f *fixture) jobs(kind string) []jobs.Job {
	f.t.Helper()
	js, err := f.queue.List(context.Background(), f.ws, jobs.ListParams{Kind: kind, Limit: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	return js
}
