package consent

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

func doi(f *fixture, cid, purpose string, channels ...string) {
	f.append(cid, NewEvent{Kind: KindConsentRequested, Purpose: purpose, Channels: channels, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
	f.append(cid, NewEvent{Kind: KindConsentConfirmed, Purpose: purpose, Channels: channels, OccurredAt: at("2026-01-11"), Details: Details{Verification: "email_doi"},
		Evidence: EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link", IPAddress: "203.0.113.10"}})
}

func TestAppendChainsAndVerifies(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "anna@example.com", FirstName: "Anna"})
		doi(f, c.ID, "newsletter", "email")
		f.append(c.ID, NewEvent{Kind: KindObjection, Details: Details{ObjectionType: "direct_marketing"}})
		evs, err := f.ledger.Events(ctx, f.ws, c.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[0].Seq != 1 || evs[2].Seq != 3 {
			t.Fatalf("events: %+v", evs)
		}
		e := evs[0]
		if e.Evidence.TextShown != f.consentText.Body || e.Evidence.Personal == nil || e.Evidence.Personal.IPAddress != "203.0.113.9" || e.Evidence.Actor != "token:tok" {
			t.Fatalf("evidence not kept: %+v", e.Evidence)
		}
		if e.ContactPoint == "" || strings.Contains(e.ContactPoint, "anna") {
			t.Fatalf("contact point: %q", e.ContactPoint)
		}
		if evs[2].Channels[0] != "any" {
			t.Fatalf("objection without scope must be stored as [any]: %v", evs[2].Channels)
		}
		red, _ := f.ledger.Events(ctx, f.ws, c.ID, false)
		if red[0].Evidence.Personal != nil || red[0].Evidence.PersonalState != "redacted" {
			t.Fatalf("personal evidence not redacted: %+v", red[0].Evidence)
		}
		// No personal data in clear anywhere in the ledger rows.
		var raw string
		rows, _ := db.R.Query(`SELECT details || evidence || contact_point FROM ledger_events`)
		for rows.Next() {
			var s string
			rows.Scan(&s)
			raw += s
		}
		rows.Close()
		if strings.Contains(raw, "203.0.113") || strings.Contains(raw, "Mozilla") || strings.Contains(raw, "anna") {
			t.Fatalf("personal evidence stored in clear: %s", raw)
		}
		rep, err := f.ledger.Verify(ctx, f.ws)
		if err != nil || !rep.OK || rep.Events != 3 || rep.HeadSeq != 3 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		// Crypto-shredding the contact keeps the chain intact.
		if err := db.Tx(ctx, func(tx store.Tx) error { return f.keys.Shred(ctx, tx, f.ws, c.ID) }); err != nil {
			t.Fatal(err)
		}
		if rep, _ := f.ledger.Verify(ctx, f.ws); !rep.OK {
			t.Fatalf("verify after shred: %+v", rep.Break)
		}
		evs, _ = f.ledger.Events(ctx, f.ws, c.ID, true)
		if evs[0].Evidence.PersonalState != "erased" || evs[0].Evidence.Personal != nil {
			t.Fatalf("after shred: %+v", evs[0].Evidence)
		}
		got, _ := f.contacts.Get(ctx, f.ws, c.ID)
		if !got.Erased || got.Email != "" {
			t.Fatalf("contact after shred: %+v", got)
		}
	})
}

func TestAppendInCallersTransaction(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "tx@example.com"})
		boom := errors.New("rolled back")
		err := db.Tx(ctx, func(tx store.Tx) error {
			if _, err := f.ledger.Append(ctx, tx, f.ws, c.ID, NewEvent{Kind: KindContractStarted}, Actor{}); err != nil {
				return err
			}
			if _, err := f.ledger.Append(ctx, tx, f.ws, c.ID, NewEvent{Kind: KindContractEnded}, Actor{}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		evs, _ := f.ledger.Events(ctx, f.ws, c.ID, false)
		if len(evs) != 0 {
			t.Fatalf("rolled-back events visible: %d", len(evs))
		}
		f.append(c.ID, NewEvent{Kind: KindContractStarted})
		if rep, _ := f.ledger.Verify(ctx, f.ws); !rep.OK || rep.HeadSeq != 1 {
			t.Fatalf("verify after rollback: %+v", rep)
		}
	})
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		var ids []string
		for i := 0; i < 4; i++ {
			ids = append(ids, f.contact(contact.Input{LastName: "P" + string(rune('a'+i))}).ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					_, err := f.ledger.Append(ctx, nil, f.ws, ids[(g+i)%len(ids)], NewEvent{Kind: KindObjection, Details: Details{ObjectionType: "analytics"}}, Actor{})
					if err != nil {
						errs <- err
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rep, err := f.ledger.Verify(ctx, f.ws)
		if err != nil || !rep.OK || rep.Events != 40 || rep.HeadSeq != 40 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// TestTamperIsDetected changes, deletes and reorders rows with raw SQL and
// expects verify to name the right seq each time.
func TestTamperIsDetected(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		setup := func() (*fixture, []Event) {
			f := newFixture(t, db)
			c := f.contact(contact.Input{Email: "t" + id.New()[:8] + "@example.com"})
			doi(f, c.ID, "newsletter", "email")
			for i := 0; i < 3; i++ {
				f.append(c.ID, NewEvent{Kind: KindObjection, Details: Details{ObjectionType: "analytics"}})
			}
			evs, _ := f.ledger.Events(ctx, f.ws, c.ID, false)
			return f, evs
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.W.Exec(q, args...); err != nil {
				t.Fatal(err)
			}
		}
		// The database itself refuses to change or delete ledger rows.
		{
			f, evs := setup()
			_ = f
			for _, q := range []string{`UPDATE ledger_events SET kind = 'objection' WHERE id = $1`, `DELETE FROM ledger_events WHERE id = $1`} {
				if _, err := db.W.Exec(q, evs[0].ID); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Fatalf("%s: %v, want the append-only trigger to refuse it", q, err)
				}
			}
			if _, err := db.W.Exec(`DELETE FROM evidence_texts`); err == nil {
				t.Fatal("evidence_texts could be deleted")
			}
		}
		// An attacker with rights to change the schema can drop those
		// triggers; verify must still catch every kind of tampering.
		dropAppendOnly(t, db)
		for _, tc := range []struct {
			name    string
			tamper  func(f *fixture, evs []Event)
			seq     int64
			problem string
			eventAt int // index of the event to be named, -1 for none
		}{
			{"changed column", func(f *fixture, evs []Event) {
				exec(`UPDATE ledger_events SET channels = '["email","sms"]' WHERE id = $1`, evs[1].ID)
			}, 2, ProblemHashMismatch, 1},
			{"changed sealed evidence", func(f *fixture, evs []Event) {
				exec(`UPDATE ledger_events SET sealed_evidence = NULL WHERE id = $1`, evs[0].ID)
			}, 1, ProblemHashMismatch, 0},
			{"changed occurred_at", func(f *fixture, evs []Event) {
				exec(`UPDATE ledger_events SET occurred_at = $2 WHERE id = $1`, evs[3].ID, evs[3].OccurredAt.Add(-1e9))
			}, 4, ProblemHashMismatch, 3},
			{"deleted row", func(f *fixture, evs []Event) {
				exec(`DELETE FROM ledger_events WHERE id = $1`, evs[2].ID)
			}, 3, ProblemMissing, 3},
			{"deleted last row", func(f *fixture, evs []Event) {
				exec(`DELETE FROM ledger_events WHERE id = $1`, evs[4].ID)
			}, 5, ProblemMissing, -1},
			{"swapped seq", func(f *fixture, evs []Event) {
				exec(`UPDATE ledger_events SET seq = -1 WHERE id = $1`, evs[1].ID)
				exec(`UPDATE ledger_events SET seq = 2 WHERE id = $1`, evs[2].ID)
				exec(`UPDATE ledger_events SET seq = 3 WHERE id = $1`, evs[1].ID)
			}, 2, ProblemHashMismatch, 2},
			{"head moved back", func(f *fixture, evs []Event) {
				exec(`UPDATE ledger_heads SET seq = 4 WHERE workspace_id = $1`, f.ws)
			}, 5, ProblemHeadMismatch, -1},
			{"tail cut and head rewound consistently", func(f *fixture, evs []Event) {
				exec(`DELETE FROM ledger_events WHERE id = $1`, evs[4].ID)
				h, _ := hex.DecodeString(evs[3].Hash)
				exec(`UPDATE ledger_heads SET seq = 4, hash = $2 WHERE workspace_id = $1`, f.ws, h)
			}, 4, ProblemHeadMismatch, -1},
			{"text shown rewritten", func(f *fixture, evs []Event) {
				exec(`UPDATE evidence_texts SET body = 'Ich willige in alles ein.' WHERE workspace_id = $1`, f.ws)
			}, 1, ProblemHashMismatch, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f, evs := setup()
				if rep, _ := f.ledger.Verify(ctx, f.ws); !rep.OK {
					t.Fatalf("before tampering: %+v", rep.Break)
				}
				tc.tamper(f, evs)
				rep, err := f.ledger.Verify(ctx, f.ws)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK || rep.Break == nil || rep.Break.Seq != tc.seq || rep.Break.Problem != tc.problem {
					t.Fatalf("report %+v, want %s at seq %d", rep.Break, tc.problem, tc.seq)
				}
				if tc.eventAt >= 0 && rep.Break.EventID != evs[tc.eventAt].ID {
					t.Fatalf("break names event %s, want %s", rep.Break.EventID, evs[tc.eventAt].ID)
				}
			})
		}
	})
}

func TestAppendRejectsBadInput(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "bad@example.com"})
		nophone := c.ID
		b2c := f.contact(contact.Input{Email: "b2c@example.com"})
		doi(f, c.ID, "newsletter", "email")
		for _, tc := range []struct {
			name     string
			ev       NewEvent
			field    string
			allowed  string // a substring of the message naming allowed values
			conflict bool
		}{
			{"no kind", NewEvent{}, "kind", "", false},
			{"unknown kind", NewEvent{Kind: "objection_lifted"}, "kind", "consent_requested", false},
			{"unknown purpose", NewEvent{Kind: KindConsentRequested, Purpose: "spam", Channels: []string{"email"}}, "purpose", "newsletter, product_offers", false},
			{"consent without purpose", NewEvent{Kind: KindConsentRequested, Channels: []string{"email"}}, "purpose", "", false},
			{"consent without channels", NewEvent{Kind: KindConsentRequested, Purpose: "newsletter"}, "channels", "email, sms", false},
			{"unknown channel", NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"fax"}}, "channels", "email, sms, phone, post, web, none", false},
			{"channel not allowed for the purpose", NewEvent{Kind: KindConsentRequested, Purpose: "supplier_acquisition", Channels: []string{"email"}}, "channels", "post", false},
			{"channel not allowed for the kind", NewEvent{Kind: KindConsentRequested, Purpose: "web_analytics", Channels: []string{"post"}}, "channels", "web", false},
			{"consent for a contract purpose", NewEvent{Kind: KindConsentRequested, Purpose: "order_processing", Channels: []string{"email"}}, "purpose", "", false},
			{"mixed contact points", NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email", "phone"}}, "channels", "", false},
			{"phone consent without a phone", NewEvent{Kind: KindConsentRequested, Purpose: "sales_calls", Channels: []string{"phone"}}, "channels", "", false},
			{"objection type missing", NewEvent{Kind: KindObjection}, "objection_type", "", false},
			{"objection with purpose", NewEvent{Kind: KindObjection, Purpose: "newsletter", Details: Details{ObjectionType: "direct_marketing"}}, "purpose", "", false},
			{"detail of another kind", NewEvent{Kind: KindContractStarted, Details: Details{Ground: "legal_claims"}}, "ground", "", false},
			{"bad verification", NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, Details: Details{Verification: "fax"}}, "verification", "email_doi", false},
			{"bad lawful basis", NewEvent{Kind: KindContractStarted, LawfulBasis: "art6_1_x"}, "lawful_basis", "art6_1_a", false},
			{"future", NewEvent{Kind: KindContractStarted, OccurredAt: at("2999-01-01")}, "occurred_at", "", false},
			{"unknown notice", NewEvent{Kind: KindNoticeGiven, Details: Details{Notice: strings.Repeat("ab", 32)}}, "notice", "", false},
			{"unknown evidence notice", NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, Evidence: EvidenceInput{NoticeHash: "x"}}, "evidence.notice_hash", "", false},
			{"bad ground", NewEvent{Kind: KindRestrictionStarted, Details: Details{Ground: "bored"}}, "ground", "legal_claims", false},
			{"retention without basis", NewEvent{Kind: KindRetentionDutyStarted}, "basis", "", false},
			{"bad until", NewEvent{Kind: KindRetentionDutyStarted, Details: Details{Basis: "HGB §257", Until: "soon"}}, "until", "", false},
			{"confirm without request", NewEvent{Kind: KindConsentConfirmed, Purpose: "sales_calls", Channels: []string{"email"}}, "kind", "", true},
			{"withdraw other purpose", NewEvent{Kind: KindConsentWithdrawn, Purpose: "product_offers", Channels: []string{"email"}}, "kind", "", true},
			{"lift without restriction", NewEvent{Kind: KindRestrictionLifted}, "kind", "", true},
			{"close without inbound", NewEvent{Kind: KindInboundRequestClosed}, "kind", "", true},
			{"end without contract", NewEvent{Kind: KindContractEnded}, "kind", "", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cid := c.ID
				if tc.name == "phone consent without a phone" {
					cid = nophone
				}
				_, err := f.ledger.Append(ctx, nil, f.ws, cid, tc.ev, Actor{})
				var ve *validate.Error
				var ce *ConflictError
				switch {
				case tc.conflict:
					if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) || ce.Field != tc.field {
						t.Fatalf("err %v, want a conflict on %s", err, tc.field)
					}
				case !errors.As(err, &ve) || ve.Field != tc.field:
					t.Fatalf("err %v, want a validation error on %s", err, tc.field)
				case tc.allowed != "" && !strings.Contains(ve.Message+strings.Join(ve.Allowed, ", "), tc.allowed):
					t.Fatalf("message %q / allowed %v lacks %q", ve.Message, ve.Allowed, tc.allowed)
				}
			})
		}
		_, err := f.ledger.Append(ctx, nil, f.ws, b2c.ID, NewEvent{Kind: KindPresumedConsentRecorded, Details: Details{Basis: "asked for a call"}}, Actor{})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("presumed consent for b2c: %v", err)
		}
		if _, err := f.ledger.Append(ctx, nil, f.ws, id.New(), NewEvent{Kind: KindContractStarted}, Actor{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown contact: %v", err)
		}
		// Nothing was appended by the rejected events.
		if rep, _ := f.ledger.Verify(ctx, f.ws); rep.HeadSeq != 2 || !rep.OK {
			t.Fatalf("rejected events changed the ledger: %+v", rep)
		}
	})
}

// TestLedgerIsNeverUpdated keeps the append-only promise: no production
// code updates or deletes ledger rows.
func TestLedgerIsNeverUpdated(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`(?i)(UPDATE\s+ledger_events|DELETE\s+FROM\s+ledger_events)`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if re.Match(b) {
			t.Errorf("%s updates or deletes ledger rows", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dropAppendOnly removes the ledger's append-only triggers, as someone with
// schema rights could, so tests can tamper the way an attacker would.
func dropAppendOnly(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{`DROP TRIGGER ledger_events_no_update`, `DROP TRIGGER ledger_events_no_delete`, `DROP TRIGGER evidence_texts_no_update`, `DROP TRIGGER evidence_texts_no_delete`}
	if db.Dialect == store.Postgres {
		stmts = []string{`DROP TRIGGER ledger_events_append_only ON ledger_events`, `DROP TRIGGER evidence_texts_append_only ON evidence_texts`}
	}
	for _, q := range stmts {
		if _, err := db.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}
