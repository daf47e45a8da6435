package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/importer/csvmap"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	t      *testing.T
	db     *store.DB
	ws     string
	svc    *importer.Service
	ledger *consent.Ledger
	aud    *audience.Resolver
	notice consent.Notice
	// text is a consent_text notice; mixed and header lines name it as NOTICE.
	text consent.Notice
	now  time.Time
}

var actor = consent.Actor{TokenID: "0190aaaa-0000-7000-8000-000000000002"}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	ws, err := workspace.Create(ctx, db.W, "ws-"+id.New()[24:], "W", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(db, bytes.Repeat([]byte{5}, keyring.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	contacts := contact.NewStore(db, keys, nil)
	purposes := consent.NewPurposes(db, nil)
	notices := consent.NewNotices(db, nil)
	ledger := consent.NewLedger(db, contacts, purposes, notices, nil)
	n, _, err := notices.Create(ctx, ws.ID, "token:test", consent.NewNotice{Kind: "privacy_notice", Language: "de", Title: "Datenschutz", Body: "Wir haben Ihre Adresse von einem Adresshändler erhalten."})
	if err != nil {
		t.Fatal(err)
	}
	txt, _, err := notices.Create(ctx, ws.ID, "token:test", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten."})
	if err != nil {
		t.Fatal(err)
	}
	svc := &importer.Service{DB: db, Contacts: contacts, Ledger: ledger, Notices: notices}
	return &fixture{t: t, db: db, ws: ws.ID, svc: svc, ledger: ledger, aud: audience.New(db, ledger, purposes, nil), notice: n, text: txt, now: time.Now().UTC()}
}

func (f *fixture) count(table string) int {
	f.t.Helper()
	var n int
	if err := f.db.R.QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE workspace_id = $1`, f.ws).Scan(&n); err != nil {
		f.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

var tables = []string{"contacts", "contact_keys", "contact_values", "ledger_events", "evidence_texts", "imports", "contact_provenance", "art14_tasks"}

func (f *fixture) counts() map[string]int {
	m := map[string]int{}
	for _, t := range tables {
		m[t] = f.count(t)
	}
	return m
}

func (f *fixture) run(data string, o importer.Options) importer.Report {
	f.t.Helper()
	if o.Source == "" {
		o.Source = "Messe 2026"
	}
	if o.DataSource == "" {
		o.DataSource = "self_provided"
	}
	o.Actor = actor
	data = strings.ReplaceAll(data, "NOTICE", f.text.Hash)
	rep, err := f.svc.Import(context.Background(), f.ws, strings.NewReader(data), o)
	if err != nil {
		f.t.Fatalf("import: %v", err)
	}
	return rep
}

func (f *fixture) byEmail(email string) []contact.Contact {
	f.t.Helper()
	cs, err := f.svc.Contacts.List(context.Background(), f.ws, contact.ListParams{Email: email})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

const header = "E-Mail,Vorname,Nachname,Zielgruppe,Zweck,Kanäle,Wann,Wie,Fassung\n"

var mapping = csvmap.Mapping{"E-Mail": "email", "Vorname": "first_name", "Nachname": "last_name", "Zielgruppe": "audience",
	"Zweck": "consent_purpose", "Kanäle": "consent_channels", "Wann": "consent_at", "Wie": "consent_method", "Fassung": "consent_notice"}

// mixed has good lines 2, 3, 7 and bad lines 4 (no consent_at), 5 (bad
// e-mail), 6 (unknown audience), 8 (unknown purpose: refused by the ledger
// after the contact was written) and 9 (a channel the purpose lacks).
const mixed = header +
	"ada@example.org,Ada,Lovelace,,newsletter,email,2026-01-10,checkbox,NOTICE\n" +
	"bob@example.org,Bob,Builder,b2b,,,,,\n" +
	"carl@example.org,Carl,C,,newsletter,email,,checkbox,NOTICE\n" +
	"not-an-address,Dora,D,,,,,,\n" +
	"eve@example.org,Eve,E,b2x,,,,,\n" +
	"fritz@example.org,Fritz,F,,,,,,\n" +
	"gina@example.org,Gina,G,,no_such_purpose,email,2026-01-10,checkbox,NOTICE\n" +
	"hans@example.org,Hans,H,,supplier_acquisition,email,2026-01-10,checkbox,NOTICE\n"

func TestBadLinesReportedGoodLinesStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		rep := f.run(mixed, importer.Options{Mapping: mapping, Chunk: 3})
		if !rep.Committed || rep.Lines != 8 || rep.Created != 3 || rep.Rejected != 5 || rep.Consents != 1 {
			t.Fatalf("report %+v", rep)
		}
		want := []struct {
			line  int
			field string
		}{{4, "consent_at"}, {5, "email"}, {6, "audience"}, {8, "consent_purpose"}, {9, "consent_channels"}}
		if len(rep.Errors) != len(want) {
			t.Fatalf("errors %v", rep.Errors)
		}
		for i, w := range want {
			if e := rep.Errors[i]; e.Line != w.line || e.Field != w.field || e.Message == "" {
				t.Errorf("error %d = %+v, want line %d field %s", i, e, w.line, w.field)
			}
		}
		for _, e := range []string{"ada@example.org", "bob@example.org", "fritz@example.org"} {
			if len(f.byEmail(e)) != 1 {
				t.Errorf("%s not stored", e)
			}
		}
		for _, e := range []string{"carl@example.org", "eve@example.org", "gina@example.org", "hans@example.org"} {
			if len(f.byEmail(e)) != 0 {
				t.Errorf("%s of a bad line was stored", e)
			}
		}
		if n := f.count("contacts"); n != 3 {
			t.Errorf("%d contacts", n)
		}
		if n := f.count("contact_keys"); n != 3 {
			t.Errorf("%d contact keys: a bad line left one behind", n)
		}
		if n := f.count("ledger_events"); n != 2 {
			t.Errorf("%d ledger events, want the requested and confirmed consent of line 2", n)
		}
		if n := f.count("contact_provenance"); n != 3 {
			t.Errorf("%d provenance rows", n)
		}
		if err := verifyChain(f); err != nil {
			t.Fatal(err)
		}
		d, err := f.aud.Decide(context.Background(), f.ws, f.byEmail("ada@example.org")[0].ID, "newsletter", "email", audience.Campaign{})
		if err != nil {
			t.Fatal(err)
		}
		// The evidence is complete; a checkbox alone is not enough for e-mail.
		if d.Allowed || fmt.Sprint(d.Reasons) != "[no_consent consent_verification_insufficient]" {
			t.Errorf("decision %+v", d.Reasons)
		}
		rep2 := f.run("email,consent_purpose,consent_channels,consent_at,consent_method,consent_notice,consent_verification\nv@example.org,newsletter,email,2026-01-10,email_link,NOTICE,email_doi\n", importer.Options{})
		if rep2.Consents != 1 {
			t.Fatalf("report %+v", rep2)
		}
		d, err = f.aud.Decide(context.Background(), f.ws, f.byEmail("v@example.org")[0].ID, "newsletter", "email", audience.Campaign{})
		if err != nil || !d.Allowed {
			t.Fatalf("imported double opt-in with evidence not relied on: %+v %v", d.Reasons, err)
		}
		info, err := f.svc.GetImport(context.Background(), f.ws, rep.ImportID)
		if err != nil || info.Lines != 8 || info.Created != 3 || info.Rejected != 5 || info.SourceName != "Messe 2026" {
			t.Fatalf("import record %+v %v", info, err)
		}
	})
}

func verifyChain(f *fixture) error {
	res, err := f.ledger.Verify(context.Background(), f.ws)
	if err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("ledger chain broken: %+v", res)
	}
	return nil
}

func TestAtomicAllOrNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		before := f.counts()
		rep := f.run(mixed, importer.Options{Mapping: mapping, Atomic: true})
		if rep.Committed || rep.ImportID != "" || len(rep.Errors) != 5 || rep.Created != 3 {
			t.Fatalf("report %+v", rep)
		}
		if after := f.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a rejected atomic import wrote: before %v after %v", before, after)
		}
		good := header + "ada@example.org,Ada,Lovelace,,newsletter,email,2026-01-10,checkbox,NOTICE\nbob@example.org,Bob,B,,,,,,\n"
		rep = f.run(good, importer.Options{Mapping: mapping, Atomic: true})
		if !rep.Committed || rep.Created != 2 || rep.ImportID == "" || f.count("contacts") != 2 || f.count("imports") != 1 {
			t.Fatalf("report %+v, %d contacts", rep, f.count("contacts"))
		}
	})
}

func TestDryRunWritesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.run(header+"ada@example.org,Ada,Lovelace,,,,,,\n", importer.Options{Mapping: mapping})
		before := f.counts()
		rep := f.run(mixed+"ada@example.org,Ada,Byron,,,,,,\n", importer.Options{Mapping: mapping, DryRun: true, DataSource: "third_party"})
		if rep.Committed || !rep.DryRun || rep.ImportID != "" || rep.Created != 2 || rep.Enriched != 2 || rep.Unchanged != 0 || len(rep.Errors) != 5 || rep.Art14Tasks != 2 {
			t.Fatalf("report %+v", rep)
		}
		if after := f.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a dry run wrote: before %v after %v", before, after)
		}
	})
}

func TestDedupeEnrichesWithHistory(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		c, err := f.svc.Contacts.Create(ctx, f.ws, contact.Input{Email: "ada@example.org", LastName: "Lovelace", Audience: "b2c", Relationship: "prospect"})
		if err != nil {
			t.Fatal(err)
		}
		data := "email,first_name,last_name,city\n" +
			" ADA@Example.ORG ,Ada,Byron,London\n" + // enriches the contact made above
			"new@example.org,N,New,\n" +
			"NEW@example.org,N,Newer,\n" // and the one made by the line before
		rep := f.run(data, importer.Options{})
		if rep.Created != 1 || rep.Enriched != 2 || len(rep.Errors) != 0 {
			t.Fatalf("report %+v", rep)
		}
		if n := f.count("contacts"); n != 2 {
			t.Fatalf("%d contacts: dedupe failed", n)
		}
		got, err := f.svc.Contacts.Get(ctx, f.ws, c.ID)
		if err != nil || got.LastName != "Byron" || got.FirstName != "Ada" || got.Address == nil || got.Address.City != "London" || got.DataSource != "self_provided" {
			t.Fatalf("enriched %+v %v", got, err)
		}
		// last_name: the value from before the import, superseded, and the
		// imported one in force.
		rows, err := db.R.Query(`SELECT source, superseded_at IS NULL FROM contact_values WHERE workspace_id = $1 AND contact_id = $2 AND name = 'last_name' ORDER BY recorded_at`, f.ws, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var hist []string
		for rows.Next() {
			var src string
			var current bool
			if err := rows.Scan(&src, &current); err != nil {
				t.Fatal(err)
			}
			hist = append(hist, fmt.Sprintf("%s:%v", strings.SplitN(src, ":", 2)[0], current))
		}
		rows.Close()
		if fmt.Sprint(hist) != "[contact:false import:true]" {
			t.Fatalf("last_name history %v", hist)
		}
		n := f.byEmail("new@example.org")
		var cur, old int
		db.R.QueryRow(`SELECT COUNT(*) FROM contact_values WHERE workspace_id = $1 AND contact_id = $2 AND name = 'last_name' AND superseded_at IS NULL`, f.ws, n[0].ID).Scan(&cur)
		db.R.QueryRow(`SELECT COUNT(*) FROM contact_values WHERE workspace_id = $1 AND contact_id = $2 AND name = 'last_name' AND superseded_at IS NOT NULL`, f.ws, n[0].ID).Scan(&old)
		if n[0].LastName != "Newer" || cur != 1 || old != 1 {
			t.Fatalf("second line of the same file: %+v, %d current, %d superseded", n[0], cur, old)
		}
	})
}

func TestSuppressedAddressNotRevived(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		ix, err := f.svc.Contacts.EmailIndex("email", "gone@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.W.Exec(`INSERT INTO suppressions (workspace_id, kind, blind_index, reason, contact_id, created_at) VALUES ($1, 'email', $2, 'erased', $3, $4)`,
			f.ws, ix, id.New(), time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		before := f.counts()
		rep := f.run(header+"Gone@Example.org,G,Gone,,newsletter,email,2026-01-10,checkbox,NOTICE\n", importer.Options{Mapping: mapping})
		if rep.Suppressed != 1 || rep.Created != 0 || len(rep.Errors) != 1 || rep.Errors[0].Code != importer.CodeSuppressed || rep.Errors[0].Line != 2 || rep.Errors[0].Field != "email" {
			t.Fatalf("report %+v %v", rep, rep.Errors)
		}
		after := f.counts()
		for _, tb := range []string{"contacts", "contact_keys", "ledger_events", "contact_values"} {
			if after[tb] != before[tb] {
				t.Errorf("%s: %d -> %d", tb, before[tb], after[tb])
			}
		}
		if len(f.byEmail("gone@example.org")) != 0 {
			t.Fatal("suppressed address revived")
		}
		_ = ctx
	})
}

func TestImportCannotOverrideWithdrawalOrObjection(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		rep := f.run(header+"w@example.org,W,W,,newsletter,email,2026-01-10,checkbox,NOTICE\no@example.org,O,O,,newsletter,email,2026-01-10,checkbox,NOTICE\n", importer.Options{Mapping: mapping})
		if rep.Created != 2 {
			t.Fatalf("report %+v", rep)
		}
		w, o := f.byEmail("w@example.org")[0], f.byEmail("o@example.org")[0]
		at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		if _, err := f.ledger.Append(ctx, nil, f.ws, w.ID, consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &at}, actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ledger.Append(ctx, nil, f.ws, o.ID, consent.NewEvent{Kind: consent.KindObjection, Details: consent.Details{ObjectionType: "direct_marketing"}, OccurredAt: &at}, actor); err != nil {
			t.Fatal(err)
		}
		events := f.count("ledger_events")
		// A later consent date must not lift either.
		again := header + "w@example.org,W,W,,newsletter,email,2026-03-01,checkbox,NOTICE\no@example.org,O,O,,newsletter,email,2026-03-01,checkbox,NOTICE\n"
		rep = f.run(again, importer.Options{Mapping: mapping})
		if len(rep.Errors) != 2 || rep.Errors[0].Code != importer.CodeWithdrawn || rep.Errors[1].Code != importer.CodeObjection || rep.Errors[0].Line != 2 || rep.Errors[1].Line != 3 {
			t.Fatalf("report %+v %v", rep, rep.Errors)
		}
		if n := f.count("ledger_events"); n != events {
			t.Fatalf("ledger events %d -> %d", events, n)
		}
		for _, c := range []contact.Contact{w, o} {
			d, err := f.aud.Decide(ctx, f.ws, c.ID, "newsletter", "email", audience.Campaign{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				t.Fatalf("decision for %s turned allow after an import", c.ID)
			}
		}
	})
}

func TestThirdPartyGetsArt14Task(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		self, err := f.svc.Contacts.Create(ctx, f.ws, contact.Input{Email: "self@example.org", LastName: "S", Audience: "b2c", Relationship: "prospect"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC().Add(-time.Second)
		rep := f.run("email,last_name,street,postal_code,city,country\nbought@example.org,B,Weg 1,10115,Berlin,DE\nself@example.org,S,,,,\n",
			importer.Options{Source: "Adresshandel Beispiel GmbH", DataSource: "third_party"})
		if rep.Created != 1 || rep.Art14Tasks != 1 || len(rep.Errors) != 0 {
			t.Fatalf("report %+v %v", rep, rep.Errors)
		}
		b := f.byEmail("bought@example.org")[0]
		if b.DataSource != "third_party" {
			t.Fatalf("data source %s", b.DataSource)
		}
		if got, _ := f.svc.Contacts.Get(ctx, f.ws, self.ID); got.DataSource != "self_provided" {
			t.Fatalf("an import turned a self-provided contact into %s", got.DataSource)
		}
		tasks, err := f.svc.Tasks(ctx, f.ws, importer.TaskParams{})
		if err != nil || len(tasks) != 1 {
			t.Fatalf("tasks %v %v", tasks, err)
		}
		tk := tasks[0]
		if tk.ContactID != b.ID || tk.SourceName != "Adresshandel Beispiel GmbH" || tk.Status != "open" || tk.ImportID != rep.ImportID {
			t.Fatalf("task %+v", tk)
		}
		if tk.ObtainedAt.Before(start) || !tk.DueAt.Equal(tk.ObtainedAt.AddDate(0, 1, 0)) {
			t.Fatalf("due %s for obtained %s: want one month later", tk.DueAt, tk.ObtainedAt)
		}
		// Postal advertising to third-party data is allowed with the Art. 14
		// information as an obligation.
		d, err := f.aud.Decide(ctx, f.ws, b.ID, "product_offers", "post", audience.Campaign{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, o := range d.Obligations {
			found = found || string(o) == "provide_art14_information"
		}
		if !d.Allowed || !found {
			t.Fatalf("decision %+v", d)
		}
		// Importing the contact again does not open a second task.
		rep = f.run("email,last_name\nbought@example.org,B\n", importer.Options{Source: "Adresshandel Beispiel GmbH", DataSource: "third_party"})
		if rep.Art14Tasks != 0 || f.count("art14_tasks") != 1 {
			t.Fatalf("second import %+v", rep)
		}
		if _, err := f.svc.MarkDone(ctx, f.ws, tk.ID, importer.Done{Notice: "nope", Channel: "post"}, actor); err == nil {
			t.Fatal("an unknown notice closed the task")
		}
		done, err := f.svc.MarkDone(ctx, f.ws, tk.ID, importer.Done{Notice: f.notice.Hash, Channel: "post"}, actor)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != "done" || done.NoticeEventID == "" || done.DoneAt == nil {
			t.Fatalf("done %+v", done)
		}
		evs, err := f.ledger.Events(ctx, f.ws, b.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Kind != consent.KindNoticeGiven || last.ID != done.NoticeEventID || last.Details.Notice != f.notice.Hash {
			t.Fatalf("last event %+v", last)
		}
		if open, _ := f.svc.Tasks(ctx, f.ws, importer.TaskParams{}); len(open) != 0 {
			t.Fatalf("open tasks %v", open)
		}
		if _, err := f.svc.MarkDone(ctx, f.ws, tk.ID, importer.Done{Notice: f.notice.Hash, Channel: "post"}, actor); err == nil {
			t.Fatal("a task was done twice")
		}
	})
}

func TestExportWithProvenance(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		if _, err := f.svc.Contacts.Create(ctx, f.ws, contact.Input{Email: "api@example.org", LastName: "A", Audience: "b2c", Relationship: "prospect"}); err != nil {
			t.Fatal(err)
		}
		rep := f.run("email,last_name,city\nbought@example.org,Müller,Köln\n", importer.Options{Source: "Liste \"A\", 2026", DataSource: "third_party"})
		var buf bytes.Buffer
		n, err := f.svc.Export(ctx, f.ws, "csv", &buf)
		if err != nil || n != 2 {
			t.Fatalf("export %d %v", n, err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(recs) != 3 {
			t.Fatalf("csv %v %v", recs, err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		var bought []string
		for _, r := range recs[1:] {
			if r[col["email"]] == "bought@example.org" {
				bought = r
			}
		}
		if bought == nil || bought[col["last_name"]] != "Müller" || bought[col["data_source"]] != "third_party" || bought[col["source_name"]] != "Liste \"A\", 2026" || bought[col["import_id"]] != rep.ImportID {
			t.Fatalf("row %v", bought)
		}
		buf.Reset()
		if _, err := f.svc.Export(ctx, f.ws, "json", &buf); err != nil {
			t.Fatal(err)
		}
		var out []importer.ExportedContact
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil || len(out) != 2 {
			t.Fatalf("json %v: %s", err, buf.String())
		}
		if _, err := f.svc.Export(ctx, f.ws, "xml", &buf); err == nil {
			t.Fatal("xml accepted")
		}
	})
}

// TestImportedStateMatchesDecisions: the permission state written for
// imported contacts — in bulk for plainly new ones, one by one for the
// others — resolves to exactly the contacts the engine allows one by one.
func TestImportedStateMatchesDecisions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		var b strings.Builder
		b.WriteString("email,last_name,audience,relationship,street,postal_code,city,country,consent_purpose,consent_channels,consent_at,consent_method,consent_notice,consent_verification\n")
		for i := 0; i < 60; i++ {
			aud, rel := []string{"b2c", "b2b"}[i%2], []string{"prospect", "customer", "supplier"}[i%3]
			fmt.Fprintf(&b, "p%d@example.org,P%d,%s,%s,Weg %d,10115,Berlin,DE", i, i, aud, rel, i)
			if i%7 == 0 {
				b.WriteString(",newsletter,email,2026-01-10,email_link,NOTICE,email_doi\n")
			} else {
				b.WriteString(",,,,,,\n")
			}
		}
		for _, ds := range []string{"third_party", "self_provided"} {
			data := b.String()
			if ds == "self_provided" {
				data = strings.ReplaceAll(data, "@example.org", "@example.net")
			}
			if rep := f.run(data, importer.Options{DataSource: ds, Chunk: 25}); rep.Created != 60 || len(rep.Errors) != 0 {
				t.Fatalf("report %+v %v", rep, rep.Errors)
			}
		}
		all, err := f.svc.Contacts.List(ctx, f.ws, contact.ListParams{Limit: 500})
		if err != nil || len(all) != 120 {
			t.Fatalf("%d contacts %v", len(all), err)
		}
		for _, pc := range [][2]string{{"newsletter", "email"}, {"product_offers", "post"}, {"supplier_acquisition", "post"}, {"sales_calls", "phone"}} {
			resolved := map[string]bool{}
			if _, err := f.aud.Resolve(ctx, f.ws, audience.Query{Purpose: pc[0], Channel: pc[1]}, func(id string) error { resolved[id] = true; return nil }); err != nil {
				t.Fatal(err)
			}
			allowed := 0
			for _, c := range all {
				d, err := f.aud.Decide(ctx, f.ws, c.ID, pc[0], pc[1], audience.Campaign{})
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != resolved[c.ID] {
					t.Fatalf("%v: %s decided %v, resolved %v (%s)", pc, c.ID, d.Allowed, resolved[c.ID], c.DataSource)
				}
				if d.Allowed {
					allowed++
				}
			}
			t.Logf("%v: %d allowed", pc, allowed)
		}
		if err := verifyChain(f); err != nil {
			t.Fatal(err)
		}
	})
}

// A segment with consents of new contacts (the batch) and of an existing
// one (the bulk, one by one) chains both: the batch's events first, the
// bulk's after them.
func TestConsentsOfNewAndExistingContactsInOneSegment(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		const cols = "email,consent_purpose,consent_channels,consent_at,consent_method,consent_notice,consent_verification\n"
		const doi = ",newsletter,email,2026-01-10,email_link,NOTICE,email_doi\n"
		if rep := f.run(cols+"old@example.org,,,,,,\n", importer.Options{}); rep.Created != 1 {
			t.Fatalf("report %+v", rep)
		}
		rep := f.run(cols+"n1@example.org"+doi+"old@example.org"+doi+"n2@example.org"+doi+"n3@example.org,,,,,,\n", importer.Options{})
		if rep.Created != 3 || rep.Enriched != 1 || rep.Consents != 3 || len(rep.Errors) != 0 {
			t.Fatalf("report %+v %v", rep, rep.Errors)
		}
		if n := f.count("ledger_events"); n != 6 {
			t.Errorf("%d ledger events, want 6", n)
		}
		if err := verifyChain(f); err != nil {
			t.Fatal(err)
		}
		for _, e := range []string{"n1@example.org", "old@example.org", "n2@example.org", "n3@example.org"} {
			d, err := f.aud.Decide(ctx, f.ws, f.byEmail(e)[0].ID, "newsletter", "email", audience.Campaign{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (e != "n3@example.org") {
				t.Errorf("%s: allowed %v %v", e, d.Allowed, d.Reasons)
			}
		}
		resolved := 0
		if _, err := f.aud.Resolve(ctx, f.ws, audience.Query{Purpose: "newsletter", Channel: "email"}, func(string) error { resolved++; return nil }); err != nil {
			t.Fatal(err)
		}
		if resolved != 3 {
			t.Errorf("audience of %d, want 3", resolved)
		}
	})
}

// A contact the fast path creates keeps its first values in one bundle
// row; its history (capture.Values: the contact page, the API, the access
// export, scoring) reads the same as that of a contact created line by
// line with a row per value, before and after later imports change some.
func TestImportedHistoryReadsTheSame(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		capt := &capture.Service{DB: db, Contacts: f.svc.Contacts, Keys: f.svc.Contacts.Keys()}
		// a: alone in its file, the fast path; b: twice, so line by line.
		const cols = "email,first_name,last_name,street,postal_code,city,country\n"
		rep := f.run(cols+"a@example.org,Ada,Alt,Weg 1,10115,Berlin,DE\nb@example.org,Ada,Alt,Weg 1,10115,Berlin,DE\nb@example.org,Ada,Alt,Weg 1,10115,Berlin,DE\n", importer.Options{})
		if rep.Created != 2 || rep.Unchanged != 1 || len(rep.Errors) != 0 {
			t.Fatalf("report %+v %v", rep, rep.Errors)
		}
		var bundles int
		if err := db.R.QueryRow(`SELECT COUNT(*) FROM contact_values WHERE workspace_id = $1 AND name = $2`, f.ws, contact.ValuesBundle).Scan(&bundles); err != nil || bundles != 1 {
			t.Fatalf("%d bundle rows (%v), want the one of a", bundles, err)
		}
		history := func(email string) string {
			t.Helper()
			vs, err := capt.Values(ctx, f.ws, f.byEmail(email)[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, v := range vs {
				val := strings.Replace(v.Value, email, "EMAIL", 1)
				fmt.Fprintf(&b, "%s=%s %s current=%v\n", v.Name, val, strings.SplitN(v.Source, ":", 2)[0], v.SupersededAt == nil)
				if v.SupersededAt != nil && v.SupersededAt.Before(v.RecordedAt) {
					t.Errorf("%s: %s superseded before it was recorded", email, v.Name)
				}
			}
			return b.String()
		}
		same := func(want string) {
			t.Helper()
			a, b := history("a@example.org"), history("b@example.org")
			if a != b || a != want {
				t.Errorf("history of the bundled contact:\n%s\nline by line:\n%s\nwant:\n%s", a, b, want)
			}
		}
		same("city=Berlin import current=true\ncountry=DE import current=true\nemail=EMAIL import current=true\nfirst_name=Ada import current=true\n" +
			"last_name=Alt import current=true\npostal_code=10115 import current=true\nstreet=Weg 1 import current=true\n")
		for _, city := range []string{"Köln", "Bonn"} {
			rep = f.run(cols+"a@example.org,,Neu,Weg 1,10115,"+city+",DE\nb@example.org,,Neu,Weg 1,10115,"+city+",DE\n", importer.Options{})
			if rep.Enriched != 2 || len(rep.Errors) != 0 {
				t.Fatalf("report %+v %v", rep, rep.Errors)
			}
		}
		same("city=Berlin import current=false\ncity=Köln import current=false\ncity=Bonn import current=true\ncountry=DE import current=true\nemail=EMAIL import current=true\n" +
			"first_name=Ada import current=true\nlast_name=Alt import current=false\nlast_name=Neu import current=true\npostal_code=10115 import current=true\nstreet=Weg 1 import current=true\n")
		// The superseded value ends when the next one begins.
		vs, err := capt.Values(ctx, f.ws, f.byEmail("a@example.org")[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if vs[0].Name != "city" || vs[0].SupersededAt == nil || !vs[0].SupersededAt.Equal(vs[1].RecordedAt) {
			t.Errorf("bundled city ends at %v, the next begins at %v", vs[0].SupersededAt, vs[1].RecordedAt)
		}
	})
}
