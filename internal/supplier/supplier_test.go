package supplier_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	db  *store.DB
	ws  string
	svc *supplier.Backflow
	tpl supplier.Template
}

func newFixture(t testing.TB, db *store.DB) *fixture {
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
	purposes, notices := consent.NewPurposes(db, nil), consent.NewNotices(db, nil)
	ledger := consent.NewLedger(db, contacts, purposes, notices, nil)
	f := &fixture{db: db, ws: ws.ID, svc: &supplier.Backflow{DB: db, Contacts: contacts, Ledger: ledger, Notices: notices, Printer: supplier.LetterPrinter{},
		PublicURL: func(context.Context, string) (string, error) { return "https://fairlead.example", nil }}}
	f.tpl, _, err = f.svc.SaveTemplate(ctx, ws.ID, "test", supplier.NewTemplate{Name: "Backflow", TemplateContent: supplier.TemplateContent{
		Subject: "Ein Angebot für {{supplier.name}}", Body: "Guten Tag,\n\nwir hätten eine Idee für {{organization}}.\n\nDatenschutz: {{notice_url}}",
		Signature: "Erika Mustermann", Sender: supplier.Sender{Name: "Demo GmbH", Address: []string{"Musterstraße 1", "10115 Berlin"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// suppliers creates n suppliers with one contact person each, told by a
// sent inquiry and under contract, through the service's own calls.
func (f *fixture) suppliers(t testing.TB, n int) []string {
	t.Helper()
	ctx := context.Background()
	var cids []string
	for i := 0; i < n; i++ {
		x, err := f.svc.Create(ctx, f.ws, supplier.NewSupplier{Name: fmt.Sprintf("Lieferant %04d GmbH", i)})
		if err != nil {
			t.Fatal(err)
		}
		x, err = f.svc.AddContact(ctx, f.ws, x.ID, supplier.NewPerson{Contact: &supplier.PersonInput{FirstName: "Petra", LastName: fmt.Sprintf("Muster%04d", i),
			Address: &contact.Address{Street: fmt.Sprintf("Hafenstraße %d", i+1), PostalCode: "20457", City: "Hamburg", Country: "DE"}}})
		if err != nil {
			t.Fatal(err)
		}
		cid := x.Contacts[0].ContactID
		q, err := f.svc.GenerateInquiry(ctx, f.ws, x.ID, supplier.NewInquiry{ContactID: cid, Request: "Papier"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.MarkSent(ctx, f.ws, q.ID, nil, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RecordContract(ctx, f.ws, x.ID, supplier.NewContract{Reference: "R"}, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
		cids = append(cids, cid)
	}
	return cids
}

// TestSupplierNoticeDecides: without the notice the engine refuses the
// acquisition letter to a supplier (supplier_notice_missing); with it, it
// is printed and recorded.
func TestSupplierNoticeDecides(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		x, err := f.svc.Create(ctx, f.ws, supplier.NewSupplier{Name: "Ohne Hinweis AG"})
		if err != nil {
			t.Fatal(err)
		}
		x, err = f.svc.AddContact(ctx, f.ws, x.ID, supplier.NewPerson{Contact: &supplier.PersonInput{LastName: "Ohne",
			Address: &contact.Address{Street: "Weg 1", PostalCode: "10115", City: "Berlin", Country: "DE"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RecordContract(ctx, f.ws, x.ID, supplier.NewContract{}, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
		b, err := f.svc.CreateBatch(ctx, f.ws, supplier.NewBatch{TemplateID: f.tpl.ID}, consent.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Letters != 0 || len(b.Items) != 1 || b.Items[0].Reasons[0] != "supplier_notice_missing" {
			t.Fatalf("a supplier never told got a letter: %+v", b)
		}
		cids := f.suppliers(t, 1)
		b, err = f.svc.CreateBatch(ctx, f.ws, supplier.NewBatch{TemplateID: f.tpl.ID}, consent.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Letters != 1 || b.LeftOut != 1 {
			t.Fatalf("batch: %+v", b)
		}
		for _, it := range b.Items {
			if it.ContactID == cids[0] && (!it.Included || it.LedgerEvent == "" || it.Reasons[0] != "postal_legitimate_interest") {
				t.Fatalf("the told supplier: %+v", it)
			}
		}
		m, err := f.svc.BatchManifest(ctx, f.ws, b.ID)
		if err != nil || !strings.Contains(m, "Hafenstraße 1") {
			t.Fatalf("manifest: %v %q", err, m)
		}
	})
}

func TestTemplateUnknownMergeField(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, _, err := f.svc.SaveTemplate(context.Background(), f.ws, "test", supplier.NewTemplate{Name: "x", TemplateContent: supplier.TemplateContent{
			Subject: "Hallo {{firma}}", Body: "Text", Sender: supplier.Sender{Name: "A"}}})
		ve, ok := err.(*validate.Error)
		if !ok || ve.Field != "subject" || ve.Code != "unknown_merge_field" || !strings.Contains(ve.Message, "firma") {
			t.Fatalf("unknown merge field in the subject: %v", err)
		}
		_, _, err = f.svc.SaveTemplate(context.Background(), f.ws, "test", supplier.NewTemplate{Name: "y", TemplateContent: supplier.TemplateContent{
			Subject: "Hallo", Body: "Text", Sender: supplier.Sender{Name: "A", Address: []string{"1", "2", "3", "4", "5"}}}})
		if ve, ok := err.(*validate.Error); !ok || ve.Field != "sender.address" {
			t.Fatalf("a letterhead the printer cannot set: %v", err)
		}
	})
}

// BenchmarkBatch1000 measures a letter batch for 1,000 supplier contacts:
// the engine's decision for each (facts from the ledger), the merge, the
// window check, one PDF and manifest, and the ledger events with the batch
// in one transaction. Each iteration is one batch.
func BenchmarkBatch1000(b *testing.B) {
	for _, d := range testdb.Backends {
		b.Run(string(d), func(b *testing.B) {
			db := testdb.Open(b, d)
			f := newFixture(b, db)
			n := 1000
			f.suppliers(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bt, err := f.svc.CreateBatch(ctx, f.ws, supplier.NewBatch{TemplateID: f.tpl.ID}, consent.Actor{})
				if err != nil {
					b.Fatal(err)
				}
				if bt.Letters != n {
					b.Fatalf("%d letters, want %d", bt.Letters, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "letters/s")
		})
	}
}

// The print files name people and their addresses: stored sealed, opened
// only through the service; files written before they were sealed still
// open as they are.
func TestBatchFilesSealedAtRest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.suppliers(t, 1)
		b, err := f.svc.CreateBatch(ctx, f.ws, supplier.NewBatch{TemplateID: f.tpl.ID}, consent.Actor{})
		if err != nil || b.Letters != 1 {
			t.Fatalf("batch: %v %+v", err, b)
		}
		var rawPDF []byte
		var rawManifest string
		if err := db.R.QueryRowContext(ctx, `SELECT pdf, manifest FROM letter_batches WHERE workspace_id = $1 AND id = $2`, f.ws, b.ID).Scan(&rawPDF, &rawManifest); err != nil {
			t.Fatal(err)
		}
		if len(rawPDF) == 0 || bytes.HasPrefix(rawPDF, []byte("%PDF-")) || bytes.Contains(rawPDF, []byte("Hafenstr")) {
			t.Fatalf("the stored PDF is not sealed: %.40q", rawPDF)
		}
		if !strings.HasPrefix(rawManifest, "sealed1:") || strings.Contains(rawManifest, "Hafenstr") {
			t.Fatalf("the stored manifest is not sealed: %.60q", rawManifest)
		}
		pdf, err := f.svc.BatchPDF(ctx, f.ws, b.ID)
		if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("BatchPDF: %v %.20q", err, pdf)
		}
		m, err := f.svc.BatchManifest(ctx, f.ws, b.ID)
		if err != nil || !strings.Contains(m, "Hafenstraße 1") {
			t.Fatalf("BatchManifest: %v %q", err, m)
		}

		// A sealed file moved to another kind of file does not open.
		if _, err := db.W.ExecContext(ctx, `UPDATE letter_batches SET manifest = $1 WHERE workspace_id = $2 AND id = $3`,
			"sealed1:"+base64.RawStdEncoding.EncodeToString(rawPDF), f.ws, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.BatchManifest(ctx, f.ws, b.ID); err == nil {
			t.Fatal("the sealed PDF opened as the manifest")
		}

		// Files stored in clear before sealing come back as they are.
		if _, err := db.W.ExecContext(ctx, `UPDATE letter_batches SET pdf = $1, manifest = $2 WHERE workspace_id = $3 AND id = $4`, pdf, m, f.ws, b.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := f.svc.BatchPDF(ctx, f.ws, b.ID); err != nil || !bytes.Equal(got, pdf) {
			t.Fatalf("a PDF stored in clear: %v", err)
		}
		if got, err := f.svc.BatchManifest(ctx, f.ws, b.ID); err != nil || got != m {
			t.Fatalf("a manifest stored in clear: %v", err)
		}
	})
}
