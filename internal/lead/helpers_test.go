package lead_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/webhook"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// fixture wires the lead service as the app does, on one database, with a
// clock the test moves.
type fixture struct {
	t        *testing.T
	db       *store.DB
	ws       string
	now      time.Time
	contacts *contact.Store
	ledger   *consent.Ledger
	notices  *consent.Notices
	events   *track.Store
	hooks    *webhook.Service
	svc      *lead.Service
	values   map[string]map[string]string
}

func newFixture(t *testing.T, db *store.DB, now time.Time) *fixture {
	t.Helper()
	ctx := context.Background()
	w, err := workspace.Create(ctx, db.W, "ws-"+id.New()[24:], "W", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(db, bytes.Repeat([]byte{7}, keyring.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, ws: w.ID, now: now, values: map[string]map[string]string{}}
	clock := func() time.Time { return f.now }
	f.contacts = contact.NewStore(db, keys, clock)
	purposes := consent.NewPurposes(db, nil)
	f.notices = consent.NewNotices(db, clock)
	f.ledger = consent.NewLedger(db, f.contacts, purposes, f.notices, clock)
	f.hooks = webhook.New(db, keys, webhook.Options{AllowPrivate: true})
	f.events = track.NewStore(db, clock)
	f.svc = &lead.Service{DB: db, Events: f.events, Contacts: f.contacts, Audience: audience.New(db, f.ledger, purposes, clock),
		Webhooks: f.hooks, PublicURL: "http://127.0.0.1:1", Now: clock,
		Values: func(ctx context.Context, ws, cid string) (map[string]string, error) { return f.values[cid], nil }}
	f.events.OnRecord(f.svc.OnRecord)
	return f
}

func (f *fixture) contact(audience, relationship string) string {
	f.t.Helper()
	c, err := f.contacts.Create(context.Background(), f.ws, contact.Input{Audience: audience, Relationship: relationship, DataSource: "self_provided", Email: id.New()[24:] + "@example.com"})
	if err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) record(evs ...track.Event) {
	f.t.Helper()
	if err := f.events.Record(context.Background(), nil, f.ws, evs); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) rules(r lead.Rules) {
	f.t.Helper()
	if _, _, err := f.svc.SaveRules(context.Background(), f.ws, "user:test", r); err != nil {
		f.t.Fatal(err)
	}
}

// explicitConsent records a confirmed personalization consent that names
// the special-category data (Art. 9(2)(a)).
func (f *fixture) explicitConsent(cid string) {
	f.t.Helper()
	ctx := context.Background()
	n, _, err := f.notices.Create(ctx, f.ws, "token:test", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Personalisierung",
		Body: "Ja, nutzen Sie meine Angaben zu meiner Gesundheit, um mir passende Inhalte zu zeigen. Widerruf jederzeit."})
	if err != nil {
		f.t.Fatal(err)
	}
	ev := consent.EvidenceInput{Source: "form:health", NoticeHash: n.Hash, TextShown: n.Body, IPAddress: "203.0.113.9", UserAgent: "Mozilla/5.0"}
	for _, kind := range []string{consent.KindConsentRequested, consent.KindConsentConfirmed} {
		e := ev
		if kind == consent.KindConsentConfirmed {
			e = consent.EvidenceInput{Source: "form:health", ConfirmationMethod: "checkbox"}
		}
		if _, err := f.ledger.Append(ctx, nil, f.ws, cid, consent.NewEvent{Kind: kind, Purpose: "personalization", Channels: []string{"web"},
			Details: consent.Details{Verification: "none", ExplicitSpecialCategory: true}, Evidence: e}, consent.Actor{TokenID: "tok"}); err != nil {
			f.t.Fatalf("%s: %v", kind, err)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *validate.Error
	if !errors.As(err, &ve) || ve.Field != field {
		t.Fatalf("want a validation error on %s, got %v", field, err)
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}
