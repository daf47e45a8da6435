package consent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	t        *testing.T
	db       *store.DB
	ws       string
	keys     *keyring.Keyring
	contacts *contact.Store
	purposes *Purposes
	notices  *Notices
	ledger   *Ledger
	// consentText is a consent_text notice of the workspace.
	consentText Notice
	supplier    Notice
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	ws, err := workspace.Create(ctx, db.W, "ws-"+id.New()[24:], "W", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(db, bytes.Repeat([]byte{3}, keyring.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, ws: ws.ID, keys: keys}
	f.contacts = contact.NewStore(db, keys, nil)
	f.purposes = NewPurposes(db, nil)
	f.notices = NewNotices(db, nil)
	f.ledger = NewLedger(db, f.contacts, f.purposes, f.notices, nil)
	f.consentText, _, err = f.notices.Create(ctx, ws.ID, "token:test", NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
	if err != nil {
		t.Fatal(err)
	}
	f.supplier, _, err = f.notices.Create(ctx, ws.ID, "token:test", NewNotice{Kind: "supplier_privacy_notice", Language: "de", Title: "Lieferanten-Datenschutz", Body: "Wir verarbeiten Ihre Daten zur Vertragsabwicklung und für Werbung per Brief."})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) contact(in contact.Input) contact.Contact {
	f.t.Helper()
	if in.Audience == "" {
		in.Audience = "b2c"
	}
	if in.Relationship == "" {
		in.Relationship = "prospect"
	}
	c, err := f.contacts.Create(context.Background(), f.ws, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) append(cid string, ev NewEvent) Event {
	f.t.Helper()
	e, err := f.ledger.Append(context.Background(), nil, f.ws, cid, ev, Actor{TokenID: "tok"})
	if err != nil {
		f.t.Fatalf("append %s: %v", ev.Kind, err)
	}
	return e
}

// evidence is complete DOI evidence for the fixture's consent text.
func (f *fixture) evidence() EvidenceInput {
	return EvidenceInput{Source: "form:newsletter", NoticeHash: f.consentText.Hash, TextShown: f.consentText.Body, IPAddress: "203.0.113.9", UserAgent: "Mozilla/5.0"}
}

func at(s string) *time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &t
}
