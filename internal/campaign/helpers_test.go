package campaign

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }

// advance moves the clock forward by d.
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type fixture struct {
	t      *testing.T
	db     *store.DB
	ws     string
	svc    *Service
	ledger *consent.Ledger
	smtp   *smtptest.Server
	notice consent.Notice
	clock  *clock
	cond   *fakeLead
	events *eventLog
}

// fakeLead stands in for the lead service (another part of fairlead that
// implements Conditions); the campaign only reads from it.
type fakeLead struct {
	mu     sync.Mutex
	stages map[string]string
}

func (f *fakeLead) Stage(_ context.Context, _, cid string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.stages[cid]; ok {
		return s, nil
	}
	return "lead", nil
}
func (f *fakeLead) Score(context.Context, string, string) (float64, error) { return 0, nil }

// eventLog stands in for the event store's Happened.
type eventLog struct {
	mu  sync.Mutex
	evs map[string]time.Time // contact|type|name -> at
}

func (e *eventLog) add(cid, typ, name string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs[cid+"|"+typ+"|"+name] = at
}

func (e *eventLog) Happened(_ context.Context, _, cid, typ, name string, since time.Time) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	at, ok := e.evs[cid+"|"+typ+"|"+name]
	return ok && !at.Before(since), nil
}

func newFixture(t *testing.T, db *store.DB, opts smtptest.Options) *fixture {
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
	clk := &clock{}
	contacts := contact.NewStore(db, keys, nil)
	purposes := consent.NewPurposes(db, nil)
	notices := consent.NewNotices(db, nil)
	ledger := consent.NewLedger(db, contacts, purposes, notices, clk.Now)
	resolver := audience.New(db, ledger, purposes, clk.Now)
	q := jobs.New(db, jobs.Options{Node: "test"})
	srv := smtptest.Start(t, opts)
	capt := &capture.Service{DB: db, Contacts: contacts, Ledger: ledger, Purposes: purposes, Notices: notices, Keys: keys, Jobs: q, Decider: resolver,
		Settings: capture.NewSettingsStore(db, keys, capture.Defaults{PublicURL: "http://127.0.0.1:1", MailFrom: "news@example.org", SMTPURL: srv.URL() + "&max_idle=8"}, nil),
		Delivery: capture.NewDelivery(db, outbox.NewOutbox(db, keys, nil)), Now: clk.Now}
	priv := &privacy.Service{DB: db, Contacts: contacts, Ledger: ledger, Capture: capt, Jobs: q, Now: clk.Now}
	lead := &fakeLead{stages: map[string]string{}}
	evs := &eventLog{evs: map[string]time.Time{}}
	svc := &Service{DB: db, Engine: resolver, Permissions: ledger, Contacts: contacts, Capture: capt, Privacy: priv, Jobs: q, Conditions: lead, Events: evs, Now: clk.Now, Workers: 4}
	svc.Register(q)
	n, _, err := notices.Create(ctx, ws.ID, "token:test", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := capt.Settings.Update(ctx, ws.ID, capture.SettingsUpdate{Imprint: map[string]string{"de": "Test GmbH, Weg 1, 10115 Berlin"}}, nil); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, db: db, ws: ws.ID, svc: svc, ledger: ledger, smtp: srv, notice: n, clock: clk, cond: lead, events: evs}
}

var dpo = consent.Actor{UserID: "0190aaaa-0000-7000-8000-000000000001"}

// subscriber creates a contact with a confirmed newsletter consent by e-mail.
func (f *fixture) subscriber(i int) contact.Contact {
	f.t.Helper()
	c, err := f.svc.Contacts.Create(context.Background(), f.ws, contact.Input{Email: fmt.Sprintf("person%d@example.net", i), FirstName: fmt.Sprintf("Vorname%d", i),
		Audience: "b2c", Relationship: "prospect"})
	if err != nil {
		f.t.Fatal(err)
	}
	when := f.clock.Now().Add(-time.Hour)
	for _, kind := range []string{consent.KindConsentRequested, consent.KindConsentConfirmed} {
		ev := consent.NewEvent{Kind: kind, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &when,
			Details: consent.Details{Verification: "email_doi"}, Evidence: consent.EvidenceInput{Source: "form:newsletter", NoticeHash: f.notice.Hash, TextShown: f.notice.Body}}
		if kind == consent.KindConsentConfirmed {
			ev.Evidence = consent.EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link"}
		}
		if _, err := f.ledger.Append(context.Background(), nil, f.ws, c.ID, ev, dpo); err != nil {
			f.t.Fatal(err)
		}
	}
	return c
}

func (f *fixture) withdraw(cid string) {
	f.t.Helper()
	now := f.clock.Now()
	if _, err := f.ledger.Append(context.Background(), nil, f.ws, cid, consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &now,
		Evidence: consent.EvidenceInput{Source: "preference_center"}}, consent.Actor{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) create(in Input) Campaign {
	f.t.Helper()
	c, err := f.svc.Create(context.Background(), f.ws, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) schedule(c Campaign) int {
	f.t.Helper()
	_, n, err := f.svc.Schedule(context.Background(), f.ws, c.ID, time.Time{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) run(c Campaign) Pass {
	f.t.Helper()
	p, err := f.svc.Run(context.Background(), f.ws, c.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) report(c Campaign) Report {
	f.t.Helper()
	r, err := f.svc.Report(context.Background(), f.ws, c.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func newsletter(steps ...Step) Input {
	if len(steps) == 0 {
		steps = []Step{{Subject: "Hallo {{ first_name }}", Text: "Guten Tag {{first_name}},\n\nunsere Neuigkeiten.", HTML: "<p>Guten Tag {{first_name}}</p>"}}
	}
	return Input{Name: "Frühjahr", Purpose: "newsletter", RatePerSecond: 1000, Steps: steps}
}
