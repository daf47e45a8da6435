package privacy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// spread puts the address into every place it can reach: the sealed
// record, a profile value, the outbox, a double opt-in request, sealed
// ledger evidence, a job about the person — and, deliberately in clear,
// into rows that only deletion (not the key shred) can remove: the value's
// source, an unsealed outbox copy and the request's consents text. Those
// clear copies make the address findable in the raw file before erasure,
// so the grep afterwards proves deletion and not only encryption.
func (f *fixture) spread(c contact.Contact, addr string) {
	f.t.Helper()
	f.spreadSealed(c, addr)
	f.exec(`INSERT INTO outbox_messages (workspace_id, id, channel, contact_id, recipient, subject, body, created_at) VALUES ($1,$2,'email',$3,$4,$5,$6,$7)`,
		f.ws, id.New(), c.ID, []byte(addr), []byte("legacy copy"), []byte("Dear "+addr), time.Now().UTC())
}

// spreadSealed is spread without the unsealed outbox copy, which no
// export could open.
func (f *fixture) spreadSealed(c contact.Contact, addr string) {
	f.t.Helper()
	ctx := context.Background()
	keys := f.svc.keys()
	now := time.Now().UTC()
	sealed, err := keys.Seal(ctx, f.ws, c.ID, []byte(addr))
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`INSERT INTO contact_values (id, workspace_id, contact_id, name, sealed, source, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		id.New(), f.ws, c.ID, "email", sealed, "import:list-of-"+addr, now)
	if _, err := f.svc.Capture.Delivery.Outbox.Put(ctx, nil, f.ws, outbox.Item{Channel: outbox.Email, ContactID: c.ID, To: addr, Subject: "Hallo " + addr, Body: "To: " + addr}); err != nil {
		f.t.Fatal(err)
	}
	req := id.New()
	f.exec(`INSERT INTO doi_requests (id, workspace_id, contact_id, channel, form_key, form_version, lang, consents, created_at, expires_at) VALUES ($1,$2,$3,'email','newsletter',1,'de',$4,$5,$6)`,
		req, f.ws, c.ID, `[{"purpose":"newsletter","note":"`+addr+`"}]`, now, now.Add(time.Hour))
	if _, err := f.queue.Enqueue(ctx, f.db.W, jobs.EnqueueParams{WorkspaceID: f.ws, Kind: "capture.send_doi_email", Args: map[string]string{"request": req}}); err != nil {
		f.t.Fatal(err)
	}
	f.doi(c.ID, now.Add(-time.Hour))
	f.append(c.ID, consent.NewEvent{Kind: consent.KindNoticeGiven, Details: consent.Details{Notice: f.notice.Hash}, Channels: []string{"email"},
		Evidence: consent.EvidenceInput{Address: addr, Phone: "+49 171 5550100"}})
}

// rawSQLite checkpoints the WAL into the file and returns the bytes of the
// database file and its -wal and -shm companions.
func rawSQLite(t *testing.T, db *store.DB) []byte {
	t.Helper()
	if err := db.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, suf := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db.Path() + suf)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func pgDump(t *testing.T, url string) []byte {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(bins) == 0 {
		p, err := exec.LookPath("pg_dump")
		if err != nil {
			t.Fatal("pg_dump not found under /usr/lib/postgresql/*/bin or on PATH")
		}
		bins = []string{p}
	}
	sort.Strings(bins)
	out, err := exec.Command(bins[len(bins)-1], "--no-owner", "--dbname", url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

// TestEraseLeavesNoTraceInTheRawDatabase is the proof that erasure
// deletes: the address is findable in the raw database before and gone
// after, while another person's copy stays.
func TestEraseLeavesNoTraceInTheRawDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const addr = "zacharias.quaxelbrink-7f3e@erase-proof.example"
	const other = "otto.bleibt-9c1d@erase-proof.example"
	run := func(t *testing.T, db *store.DB, raw func() []byte) {
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: addr, FirstName: "Zacharias", Phone: "+49 171 5550100"})
		f.spread(c, addr)
		keep := f.contact(contact.Input{Email: other})
		f.spread(keep, other)
		before := raw()
		if !bytes.Contains(before, []byte(addr)) || !bytes.Contains(before, []byte(other)) {
			t.Fatal("the addresses must be findable in the raw database before erasure, or the test proves nothing")
		}
		res, err := f.svc.Erase(ctx, f.ws, c.ID, dpo)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != OutcomeErased || res.Deleted["contact_values"] != 1 || res.Deleted["outbox_messages"] != 2 || res.Deleted["doi_requests"] != 1 || len(res.Suppressed) != 2 {
			t.Fatalf("result: %+v", res)
		}
		after := raw()
		if i := bytes.Index(after, []byte(addr)); i >= 0 {
			t.Fatalf("the erased address is still in the raw database at byte %d: %q", i, after[max(0, i-40):min(len(after), i+80)])
		}
		if bytes.Contains(after, []byte("Zacharias")) {
			t.Fatal("the erased first name is still in the raw database")
		}
		if !bytes.Contains(after, []byte(other)) {
			t.Fatal("the other person's data must stay")
		}
		// The ledger stays intact and verifiable; the personal evidence is gone.
		rep, err := f.svc.Ledger.Verify(ctx, f.ws)
		if err != nil || !rep.OK {
			t.Fatalf("ledger after erasure: %+v %v", rep, err)
		}
		evs, err := f.svc.Ledger.Events(ctx, f.ws, c.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Evidence.Personal != nil {
				t.Fatalf("personal evidence readable after erasure: %+v", e)
			}
		}
		if evs[len(evs)-1].Kind != consent.KindErasureExecuted {
			t.Fatalf("last event %s, want erasure_executed", evs[len(evs)-1].Kind)
		}
		// The suppression list keeps the keyed hash, so a re-import is flagged.
		ix := f.svc.keys().Index(contact.IndexEmail, addr)
		sup, err := f.svc.Suppressed(ctx, f.ws, ix, "")
		if err != nil || len(sup) != 1 || sup[0].Reason != ReasonErased || sup[0].ContactID != c.ID {
			t.Fatalf("suppressed: %+v %v", sup, err)
		}
		if n := f.count(`SELECT COUNT(*) FROM contacts WHERE workspace_id = $1 AND (email_index IS NOT NULL OR phone_index IS NOT NULL) AND id = $2`, f.ws, c.ID); n != 0 {
			t.Fatal("blind indexes left on the contact")
		}
		if _, err := f.svc.keys().Opener(ctx, f.ws, c.ID); !errors.Is(err, keyring.ErrShredded) {
			t.Fatalf("data key not shredded: %v", err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db := testdb.Open(t, store.SQLite)
		run(t, db, func() []byte { return rawSQLite(t, db) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := testdb.NewPostgresURL(t)
		db, err := store.Open(ctx, store.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		run(t, db, func() []byte { return pgDump(t, url) })
	})
}

func TestEraseIsIdempotentAndClear(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		if _, err := f.svc.Erase(ctx, f.ws, id.New(), dpo); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown contact: %v", err)
		}
		c := f.contact(contact.Input{Email: "twice@example.org"})
		f.append(c.ID, consent.NewEvent{Kind: consent.KindObjection, Details: consent.Details{ObjectionType: "direct_marketing"}})
		if _, err := f.svc.Erase(ctx, f.ws, c.ID, dpo); err != nil {
			t.Fatal(err)
		}
		var seq int64
		_ = db.R.QueryRow(`SELECT seq FROM ledger_heads WHERE workspace_id = $1`, f.ws).Scan(&seq)
		res, err := f.svc.Erase(ctx, f.ws, c.ID, dpo)
		if err != nil || res.Outcome != OutcomeAlreadyErased || res.ExecutedAt == nil {
			t.Fatalf("second erasure: %+v %v", res, err)
		}
		var seq2 int64
		_ = db.R.QueryRow(`SELECT seq FROM ledger_heads WHERE workspace_id = $1`, f.ws).Scan(&seq2)
		if seq2 != seq {
			t.Fatalf("a second erasure appended events (%d -> %d)", seq, seq2)
		}
		sup, _ := f.svc.Suppressed(ctx, f.ws, f.svc.keys().Index(contact.IndexEmail, "twice@example.org"), "")
		if len(sup) != 1 || sup[0].Reason != ReasonObjection {
			t.Fatalf("an objection must stay the suppression reason: %+v", sup)
		}
		// Another workspace cannot erase it or see it.
		g := newFixture(t, db)
		if _, err := g.svc.Erase(ctx, g.ws, c.ID, dpo); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cross-workspace erasure: %v", err)
		}
	})
}

// TestEraseFinishesAnErasureRecordedOnlyInTheLedger: a contact erased by
// appending erasure_executed (key shredded, rows still there) is finished
// by Erase — the resumable case.
func TestEraseFinishesAnErasureRecordedOnlyInTheLedger(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "half@example.org"})
		f.spread(c, "half@example.org")
		f.append(c.ID, consent.NewEvent{Kind: consent.KindErasureExecuted})
		res, err := f.svc.Erase(ctx, f.ws, c.ID, dpo)
		if err != nil || res.Outcome != OutcomeErased || res.Deleted["contact_values"] != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		evs, _ := f.svc.Ledger.Events(ctx, f.ws, c.ID, false)
		n := 0
		for _, e := range evs {
			if e.Kind == consent.KindErasureExecuted {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d erasure_executed events, want 1", n)
		}
	})
}

func TestEraseUnderRetentionDutyRestrictsAndSchedules(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "invoice@example.org", LastName: "Kunde", Relationship: "customer"})
		f.spread(c, "invoice@example.org")
		until := time.Now().UTC().AddDate(10, 0, 0).Format(time.DateOnly)
		f.append(c.ID, consent.NewEvent{Kind: consent.KindRetentionDutyStarted, Details: consent.Details{Basis: "HGB §257, AO §147: invoices", Until: until}})
		res, err := f.svc.Erase(ctx, f.ws, c.ID, dpo)
		if err != nil || res.Outcome != OutcomeRestricted || res.RetainedUntil != until || res.DeleteAfter == nil {
			t.Fatalf("%+v %v", res, err)
		}
		if res.Deleted["contact_values"] != 1 || res.Deleted["outbox_messages"] != 2 || res.Deleted["doi_requests"] != 1 {
			t.Fatalf("what the duty does not need must go: %+v", res.Deleted)
		}
		got, err := f.svc.Contacts.Get(ctx, f.ws, c.ID)
		if err != nil || got.Erased || got.LastName != "Kunde" {
			t.Fatalf("the record the duty needs must stay: %+v %v", got, err)
		}
		evs, _ := f.svc.Ledger.Events(ctx, f.ws, c.ID, false)
		if !restrictedNow(evs) || !has(evs, consent.KindErasureRequested) || has(evs, consent.KindErasureExecuted) {
			t.Fatal("restriction_started and erasure_requested must be recorded, erasure_executed not")
		}
		js := f.jobs(JobErase)
		if len(js) != 1 || !js[0].RunAt.Equal(*res.DeleteAfter) {
			t.Fatalf("scheduled deletion: %+v", js)
		}
		again, err := f.svc.Erase(ctx, f.ws, c.ID, dpo)
		if err != nil || again.Outcome != OutcomeAlreadyRestricted {
			t.Fatalf("second call: %+v %v", again, err)
		}
		if len(f.jobs(JobErase)) != 1 {
			t.Fatal("a second call scheduled again")
		}
		// The scheduled job while the duty still runs restricts again and
		// changes nothing; once it ended, it erases.
		j := js[0]
		if err := f.svc.runErase(ctx, &j); err != nil {
			t.Fatal(err)
		}
		f.clock.jump(res.DeleteAfter.Add(time.Hour))
		if err := f.svc.runErase(ctx, &j); err != nil {
			t.Fatal(err)
		}
		got, _ = f.svc.Contacts.Get(ctx, f.ws, c.ID)
		if !got.Erased {
			t.Fatal("the scheduled deletion after the duty did not erase")
		}
	})
}
