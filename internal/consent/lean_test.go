package consent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// backToLegacyLedger turns ledger_events and contact_keys back into their
// layout before 0031, holding the rows they hold: on SQLite rowid tables
// with the unique indexes on id and (workspace_id, seq), the contact point
// as hex text; on PostgreSQL the primary key on id and the text column.
func backToLegacyLedger(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{
		`ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_pkey`,
		`ALTER TABLE ledger_events ADD CONSTRAINT ledger_events_workspace_id_seq_key UNIQUE (workspace_id, seq)`,
		`ALTER TABLE ledger_events ADD PRIMARY KEY (id)`,
		`ALTER TABLE ledger_events ALTER COLUMN contact_point TYPE TEXT USING encode(contact_point, 'hex')`,
	}
	if db.Dialect == store.SQLite {
		stmts = []string{
			`DROP TRIGGER ledger_events_no_update`,
			`DROP TRIGGER ledger_events_no_delete`,
			`DROP INDEX ledger_events_contact`,
			`DROP INDEX ledger_events_kind_time`,
			`ALTER TABLE ledger_events RENAME TO ledger_events_lean`,
			`CREATE TABLE ledger_events (
				id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces(id), contact_id TEXT NOT NULL REFERENCES contacts(id),
				seq INTEGER NOT NULL, kind TEXT NOT NULL, purpose TEXT NOT NULL, channels TEXT NOT NULL, lawful_basis TEXT NOT NULL,
				contact_point TEXT NOT NULL, details TEXT NOT NULL, evidence TEXT NOT NULL, sealed_evidence BLOB,
				occurred_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP NOT NULL, hash BLOB NOT NULL, UNIQUE (workspace_id, seq))`,
			`INSERT INTO ledger_events SELECT id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis, lower(hex(contact_point)),
				details, evidence, sealed_evidence, occurred_at, recorded_at, hash FROM ledger_events_lean`,
			`DROP TABLE ledger_events_lean`,
			// Evidence as the JSON text it was stored as before.
			`UPDATE ledger_events SET evidence = $1 WHERE rowid = $2`,
			`CREATE INDEX ledger_events_contact ON ledger_events (workspace_id, contact_id, seq)`,
			`CREATE INDEX ledger_events_kind_time ON ledger_events (workspace_id, kind, recorded_at)`,
			`CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END`,
			`CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END`,
			`ALTER TABLE contact_keys RENAME TO contact_keys_lean`,
			`CREATE TABLE contact_keys (workspace_id TEXT NOT NULL REFERENCES workspaces(id), contact_id TEXT NOT NULL, wrapped BLOB,
				created_at TIMESTAMP NOT NULL, shredded_at TIMESTAMP, key_id TEXT, PRIMARY KEY (workspace_id, contact_id))`,
			`INSERT INTO contact_keys SELECT workspace_id, contact_id, wrapped, created_at, shredded_at, key_id FROM contact_keys_lean`,
			`DROP TABLE contact_keys_lean`,
		}
	}
	for _, q := range stmts {
		if strings.HasPrefix(q, "UPDATE") {
			legacyEvidence(t, db, q)
			continue
		}
		if _, err := db.W.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
}

// legacyEvidence rewrites every packed evidence as its JSON text with upd.
func legacyEvidence(t *testing.T, db *store.DB, upd string) {
	t.Helper()
	rs, err := db.W.Query(`SELECT rowid, evidence FROM ledger_events WHERE typeof(evidence) = 'blob'`)
	if err != nil {
		t.Fatal(err)
	}
	type one struct {
		rowid int64
		ev    string
	}
	var all []one
	for rs.Next() {
		var o one
		if err := rs.Scan(&o.rowid, evidenceText{&o.ev}); err != nil {
			t.Fatal(err)
		}
		all = append(all, o)
	}
	rs.Close()
	for _, o := range all {
		if _, err := db.W.Exec(upd, o.ev, o.rowid); err != nil {
			t.Fatal(err)
		}
	}
}

// migrate31 applies 0031 as the migration runner does, in one transaction.
func migrate31(t *testing.T, db *store.DB) error {
	t.Helper()
	tx, err := db.W.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(testdb.MigrationSQL(t, db, 31)); err != nil {
		return err
	}
	return tx.Commit()
}

// appendRawRow appends a copy of r at the end of the workspace's chain
// directly in the database, hash and sealed head included, as fairlead
// before 0031 would have stored it with the given contact point.
func appendRawRow(t *testing.T, f *fixture, r *row, point string) {
	t.Helper()
	var seq int64
	var prev []byte
	if err := f.db.W.QueryRow(`SELECT seq, hash FROM ledger_heads WHERE workspace_id = $1`, f.ws).Scan(&seq, &prev); err != nil {
		t.Fatal(err)
	}
	c := *r
	c.ID, c.Seq, c.ContactPoint = id.New(), seq+1, point
	c.RecordedAt = time.Now().UTC().Truncate(time.Microsecond)
	c.Hash = chainHash(prev, &c)
	var sealed any
	if c.Sealed != nil {
		sealed = c.Sealed
	}
	if _, err := f.db.W.Exec(`INSERT INTO ledger_events (`+rowCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		c.ID, c.WorkspaceID, c.ContactID, c.Seq, c.Kind, c.Purpose, c.Channels, c.LawfulBasis, c.ContactPoint, c.Details, c.Ev, sealed, c.OccurredAt, c.RecordedAt, c.Hash); err != nil {
		t.Fatal(err)
	}
	if err := f.ledger.advanceHead(context.Background(), f.db.W, f.ws, c.Seq, c.Hash, c.RecordedAt); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerCarriedOverToLeanStorage writes a chain, turns the tables back
// into their layout before 0031 and applies 0031: the events read back
// unchanged (personal evidence included, so the data keys came along), the
// chain verifies, appends after the migration extend it, the database still
// refuses updates, and tampering with a carried-over row is still caught.
// On SQLite a contact point that is not lower-case hex stays text and keeps
// verifying; on PostgreSQL the migration refuses it and changes nothing.
func TestLedgerCarriedOverToLeanStorage(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) { testLedgerCarriedOver(t, d) })
	}
}

func testLedgerCarriedOver(t *testing.T, d store.Dialect) {
	ctx := context.Background()
	// Two openings of one database: PostgreSQL connections keep their
	// prepared statements, whose result types 0031 changes, so what runs
	// after the migration uses connections opened after it, as a restarted
	// fairlead would.
	var o store.Options
	if d == store.SQLite {
		o.DataDir = t.TempDir()
	} else {
		o.URL, o.MaxConns = testdb.NewPostgresURL(t), 8
	}
	open := func() *store.DB {
		t.Helper()
		db, err := store.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	{
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "carla@example.com", FirstName: "Carla"})
		doi(f, c.ID, "newsletter", "email")
		f.append(c.ID, NewEvent{Kind: KindObjection, Details: Details{ObjectionType: "analytics"}})
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.W.Exec(q, args...); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		verifyOK := func(events int64) {
			t.Helper()
			rep, err := f.ledger.Verify(ctx, f.ws)
			if err != nil || !rep.OK || rep.Events != events {
				t.Fatalf("verify: %+v %+v, %v; want OK with %d events", rep, rep.Break, err, events)
			}
		}

		backToLegacyLedger(t, db)
		db = open()
		f = f.reopened(db)
		var point string
		if err := db.R.QueryRow(`SELECT contact_point FROM ledger_events WHERE workspace_id = $1 AND seq = 1`, f.ws).Scan(&point); err != nil || len(point) != 64 {
			t.Fatalf("legacy contact point %q, %v", point, err)
		}
		if db.Dialect == store.SQLite {
			if n := testdb.Rows(t, db, nil, `SELECT count(*) AS n FROM ledger_events WHERE typeof(evidence) <> 'text'`); n[0] != "map[n:0]" {
				t.Fatalf("legacy evidence not text: %v", n)
			}
		}
		rows, err := f.ledger.rows(ctx, db.R, f.ws, c.ID)
		if err != nil || len(rows) != 3 {
			t.Fatalf("rows: %d, %v", len(rows), err)
		}
		// A contact point in upper case: fairlead never wrote one, but a
		// hash over it is a valid link of the chain all the same.
		appendRawRow(t, f, rows[0], strings.ToUpper(point))
		verifyOK(4)
		before, err := f.ledger.Events(ctx, f.ws, c.ID, true)
		if err != nil || len(before) != 4 || before[0].Evidence.Personal == nil {
			t.Fatalf("events before: %d, %v", len(before), err)
		}

		if db.Dialect == store.Postgres {
			err := migrate31(t, db)
			if err == nil || !strings.Contains(err.Error(), "not lower-case hex") {
				t.Fatalf("0031 with an upper-case contact point: %v, want a refusal", err)
			}
			var typ string
			if err := db.R.QueryRow(`SELECT data_type FROM information_schema.columns WHERE table_name = 'ledger_events' AND column_name = 'contact_point'`).Scan(&typ); err != nil || typ != "text" {
				t.Fatalf("after the refusal contact_point is %q (%v), want text unchanged", typ, err)
			}
			dropAppendOnly(t, db)
			exec(`DELETE FROM ledger_events WHERE workspace_id = $1 AND seq = 4`, f.ws)
			if err := f.ledger.advanceHead(ctx, db.W, f.ws, 3, rows[2].Hash, time.Now()); err != nil {
				t.Fatal(err)
			}
			before = before[:3]
		}
		if err := migrate31(t, db); err != nil {
			t.Fatalf("0031: %v", err)
		}
		db = open()
		f = f.reopened(db)

		after, err := f.ledger.Events(ctx, f.ws, c.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		bj, _ := json.Marshal(before)
		aj, _ := json.Marshal(after)
		if string(bj) != string(aj) {
			t.Fatalf("events changed by 0031:\nbefore %s\n after %s", bj, aj)
		}
		n := int64(len(before))
		verifyOK(n)
		f.append(c.ID, NewEvent{Kind: KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}})
		verifyOK(n + 1)

		typeOf := `pg_typeof(contact_point)::text`
		if db.Dialect == store.SQLite {
			var sql string
			if err := db.R.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'contact_keys'`).Scan(&sql); err != nil || !strings.HasSuffix(sql, "WITHOUT ROWID") {
				t.Fatalf("contact_keys after 0031: %q, %v", sql, err)
			}
			idx := testdb.Rows(t, db, nil, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_events' ORDER BY name`)
			if got := strings.Join(idx, " "); got != "map[name:ledger_events_contact] map[name:ledger_events_kind_time] map[name:sqlite_autoindex_ledger_events_1]" {
				t.Fatalf("indexes of ledger_events after 0031: %s", got)
			}
			// A contact's events are read through the contact index, not
			// by walking the workspace's chain.
			if plan := testdb.QueryPlan(t, db, `SELECT `+rowCols+` FROM ledger_events WHERE workspace_id = $1 AND contact_id = $2 ORDER BY seq`, f.ws, c.ID); !strings.Contains(plan, "ledger_events_contact (workspace_id=? AND contact_id=?)") {
				t.Fatalf("plan of a contact's events: %s", plan)
			}
			typeOf = `typeof(contact_point)`
			if _, err := db.W.Exec(`UPDATE ledger_events SET kind = 'objection' WHERE workspace_id = $1 AND seq = 1`, f.ws); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("update after 0031: %v, want the append-only trigger to refuse it", err)
			}
			dropAppendOnly(t, db)
		} else {
			var def string
			if err := db.R.QueryRow(`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ledger_events_pkey'`).Scan(&def); err != nil || def != "PRIMARY KEY (workspace_id, seq)" {
				t.Fatalf("primary key after 0031: %q, %v", def, err)
			}
		}
		rs, err := db.R.Query(`SELECT seq, `+typeOf+`, length(contact_point) FROM ledger_events WHERE workspace_id = $1 ORDER BY seq`, f.ws)
		if err != nil {
			t.Fatal(err)
		}
		var layout []string
		for rs.Next() {
			var seq, n int
			var typ string
			if err := rs.Scan(&seq, &typ, &n); err != nil {
				t.Fatal(err)
			}
			layout = append(layout, fmt.Sprintf("%d:%s:%d", seq, typ, n))
		}
		rs.Close()
		want := map[store.Dialect]string{
			// Request and confirmation name the e-mail address, the
			// objection none; seq 4 is the upper-case point, kept as text
			// on SQLite and removed on PostgreSQL; the withdrawal after.
			store.SQLite:   "1:blob:32 2:blob:32 3:blob:0 4:text:64 5:blob:32",
			store.Postgres: "1:bytea:32 2:bytea:32 3:bytea:0 4:bytea:32",
		}
		if got := strings.Join(layout, " "); got != want[db.Dialect] {
			t.Fatalf("contact points as stored:\n got %s\nwant %s", got, want[db.Dialect])
		}

		// Tampering with a carried-over row is caught as before.
		exec(`UPDATE ledger_events SET contact_point = $2 WHERE workspace_id = $1 AND seq = 2`, f.ws, make([]byte, 32))
		rep, err := f.ledger.Verify(ctx, f.ws)
		if err != nil || rep.OK || rep.Break.Seq != 2 || rep.Break.Problem != ProblemHashMismatch {
			t.Fatalf("verify after tampering: %+v %+v, %v", rep, rep.Break, err)
		}
	}
}

// reopened is f on another opening of its database.
func (f *fixture) reopened(db *store.DB) *fixture {
	f.t.Helper()
	keys, err := keyring.New(db, bytes.Repeat([]byte{3}, keyring.KeySize), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	g := *f
	g.db, g.keys = db, keys
	g.contacts = contact.NewStore(db, keys, nil)
	g.purposes = NewPurposes(db, nil)
	g.notices = NewNotices(db, nil)
	g.ledger = NewLedger(db, g.contacts, g.purposes, g.notices, nil)
	return &g
}

// TestEvidencePacked checks that on SQLite evidence is stored packed when
// it comes back as the same JSON text and as text otherwise, that events
// read back and verify the same on both engines, and that a changed packed
// value is caught by verify.
func TestEvidencePacked(t *testing.T) {
	t.Parallel()
	for _, ev := range []string{
		`{"source":"form:newsletter","notice_hash":"` + strings.Repeat("ab", 32) + `","text_sha256":"` + strings.Repeat("0f", 32) + `","actor":"token:x"}`,
		`{"source":"form:newsletter","confirmation_method":"email_link","confirmed_at":"2026-01-11T10:00:00Z","actor":"token:x"}`,
		`{"source":"import:3"}`,
	} {
		b, ok := packEvidence(ev)
		if !ok || len(b) >= len(ev) {
			t.Fatalf("%s: packed %v to %d bytes", ev, ok, len(b))
		}
		if back, err := unpackEvidence(b); err != nil || back != ev {
			t.Fatalf("%s: unpacked to %q, %v", ev, back, err)
		}
	}
	// JSON that would not come back byte for byte stays text.
	for _, ev := range []string{
		`{"actor":"token:x","source":"form:newsletter"}`,
		`{"source":"form:<newsletter>"}`,
		`{"source":"form:newsletter","notice_hash":"` + strings.Repeat("AB", 32) + `"}`,
		`{"source":"form:newsletter","notice_hash":"abcd"}`,
		`{"source":"form:newsletter", "actor":"token:x"}`,
		`{"source":"form:newsletter","extra":1}`,
		`{}`, ``,
	} {
		if b, ok := packEvidence(ev); ok {
			t.Errorf("%s: packed to %x", ev, b)
		}
	}

	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "paula@example.com"})
		doi(f, c.ID, "newsletter", "email")
		f.append(c.ID, NewEvent{Kind: KindObjection, Details: Details{ObjectionType: "analytics"}})
		evs, err := f.ledger.Events(ctx, f.ws, c.ID, true)
		if err != nil || len(evs) != 3 || evs[0].Evidence.TextShown != f.consentText.Body || evs[0].Evidence.NoticeHash != f.consentText.Hash || evs[1].Evidence.ConfirmationMethod != "email_link" {
			t.Fatalf("events: %+v, %v", evs, err)
		}
		if rep, err := f.ledger.Verify(ctx, f.ws); err != nil || !rep.OK {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
		if db.Dialect != store.SQLite {
			return
		}
		types := strings.Join(testdb.Rows(t, db, []any{f.ws}, `SELECT typeof(evidence) AS t FROM ledger_events WHERE workspace_id = $1 ORDER BY seq`), " ")
		if types != "map[t:blob] map[t:blob] map[t:blob]" {
			t.Fatalf("evidence stored as %s", types)
		}
		dropAppendOnly(t, db)
		other, _ := packEvidence(`{"source":"form:other"}`)
		for _, tc := range []struct {
			seq int64
			v   []byte
		}{{2, []byte{evidencePackV1, 0xff}}, {1, other}} {
			if _, err := db.W.Exec(`UPDATE ledger_events SET evidence = $2 WHERE workspace_id = $1 AND seq = $3`, f.ws, tc.v, tc.seq); err != nil {
				t.Fatal(err)
			}
			rep, err := f.ledger.Verify(ctx, f.ws)
			if err != nil || rep.OK || rep.Break.Seq != tc.seq || rep.Break.Problem != ProblemHashMismatch {
				t.Fatalf("verify after changing the evidence of seq %d: %+v %+v, %v", tc.seq, rep, rep.Break, err)
			}
		}
	})
}
