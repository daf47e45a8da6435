package consent

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

var asOf = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestFactsAndDecisions derives facts from ledger histories and runs them
// through the engine: the derivation must honour the input-assembly duties
// of rules §11 (this purpose, this contact point, all objections).
func TestFactsAndDecisions(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		n := 0
		for _, tc := range []struct {
			name     string
			contact  contact.Input
			history  func(f *fixture, c contact.Contact)
			after    func(f *fixture, c contact.Contact) // e.g. change the e-mail
			purpose  string
			channel  string
			check    func(t *testing.T, fa policy.Facts)
			allowed  bool
			reason   policy.Reason
			contains []policy.Reason
		}{
			{name: "confirmed DOI consent", history: func(f *fixture, c contact.Contact) { doi(f, c.ID, "newsletter", "email") },
				purpose: "newsletter", channel: "email", allowed: true, reason: "consent_valid",
				check: func(t *testing.T, fa policy.Facts) {
					if len(fa.Consents) != 1 || fa.Consents[0].Status != policy.ConsentConfirmed || !fa.Consents[0].EvidenceRecorded ||
						fa.Consents[0].GivenAt != policy.MustParseDate("2026-01-10") || fa.Consents[0].ConfirmedAt != policy.MustParseDate("2026-01-11") ||
						fa.Consents[0].Verification != policy.VerificationEmailDOI || fa.Consents[0].Purpose != policy.PurposeDirectMarketing {
						t.Errorf("consents: %+v", fa.Consents)
					}
				}},
			{name: "pending DOI", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-02-01"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
			}, purpose: "newsletter", channel: "email", reason: "no_consent", contains: []policy.Reason{"consent_pending_doi"}},
			{name: "pending DOI allows the confirmation request", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-02-01"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
			}, purpose: "doi_confirmation", channel: "email", allowed: true, reason: "doi_confirmation_request"},
			{name: "no confirmation request once confirmed", history: func(f *fixture, c contact.Contact) { doi(f, c.ID, "newsletter", "email") },
				purpose: "doi_confirmation", channel: "email", reason: "no_pending_consent"},
			{name: "withdrawn", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-02-01")})
			}, purpose: "newsletter", channel: "email", reason: "consent_withdrawn"},
			{name: "withdrawal recorded after asOf is not yet effective", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}})
			}, purpose: "newsletter", channel: "email", allowed: true, reason: "consent_valid"},
			{name: "objection beats consent", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindObjection, OccurredAt: at("2026-02-01"), Details: Details{ObjectionType: "direct_marketing"}})
			}, purpose: "newsletter", channel: "email", reason: "marketing_objection",
				check: func(t *testing.T, fa policy.Facts) {
					if len(fa.Objections) != 1 || !slices.Equal(fa.Objections[0].Channels, []policy.Channel{"any"}) {
						t.Errorf("objections: %+v", fa.Objections)
					}
				}},
			{name: "objection blocks post as well", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindObjection, OccurredAt: at("2026-02-01"), Details: Details{ObjectionType: "direct_marketing"}})
			}, purpose: "product_offers", channel: "post", reason: "marketing_objection"},
			{name: "consent for newsletter does not cover sales_calls", history: func(f *fixture, c contact.Contact) { doi(f, c.ID, "newsletter", "email") },
				purpose: "sales_calls", channel: "email", reason: "no_consent",
				check: func(t *testing.T, fa policy.Facts) {
					if len(fa.Consents) != 0 {
						t.Errorf("newsletter consent passed for sales_calls: %+v", fa.Consents)
					}
				}},
			{name: "consent for the old e-mail address does not cover the new one", history: func(f *fixture, c contact.Contact) { doi(f, c.ID, "newsletter", "email") },
				after: func(f *fixture, c contact.Contact) {
					e := "new-" + c.Email
					if _, err := f.contacts.Update(context.Background(), f.ws, c.ID, contact.Update{Email: &e}); err != nil {
						t.Fatal(err)
					}
				}, purpose: "newsletter", channel: "email", reason: "no_consent"},
			{name: "e-mail DOI does not cover phone", contact: contact.Input{Phone: "+49 171 1234567"}, history: func(f *fixture, c contact.Contact) { doi(f, c.ID, "sales_calls", "email") },
				purpose: "sales_calls", channel: "phone", reason: "no_consent"},
			{name: "evidence missing", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi"}})
				f.append(c.ID, NewEvent{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-11"), Details: Details{Verification: "email_doi"}, Evidence: EvidenceInput{ConfirmationMethod: "email_link"}})
			}, purpose: "newsletter", channel: "email", reason: "no_consent", contains: []policy.Reason{"consent_evidence_missing"}},
			{name: "DOI without confirmation log", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
				f.append(c.ID, NewEvent{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-11")})
			}, purpose: "newsletter", channel: "email", reason: "no_consent", contains: []policy.Reason{"consent_evidence_missing"}},
			{name: "pre-ticked", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi", PreTicked: true}, Evidence: f.evidence()})
				f.append(c.ID, NewEvent{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-11"), Evidence: EvidenceInput{ConfirmationMethod: "email_link"}})
			}, purpose: "newsletter", channel: "email", reason: "no_consent", contains: []policy.Reason{"consent_invalid"}},
			{name: "existing customer exemption", contact: contact.Input{Relationship: "customer"}, history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindExistingCustomerFacts, OccurredAt: at("2026-01-05"), Details: Details{AddressFromSale: true, NoticeAtCollection: true, LastPurchaseAt: "2026-01-05"}})
			}, purpose: "product_offers", channel: "email", reason: "no_consent", contains: []policy.Reason{"ece_offer_not_similar", "ece_notice_missing_in_message"},
				check: func(t *testing.T, fa policy.Facts) {
					if !fa.ExistingCustomer.AddressFromSale || !fa.ExistingCustomer.NoticeAtCollection || fa.ExistingCustomer.LastPurchaseAt != policy.MustParseDate("2026-01-05") {
						t.Errorf("existing customer: %+v", fa.ExistingCustomer)
					}
				}},
			{name: "relationship from the ledger", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindRelationshipStarted, OccurredAt: at("2026-01-05"), Details: Details{Relationship: "supplier"}})
			}, purpose: "supplier_acquisition", channel: "post", reason: "supplier_notice_missing",
				check: func(t *testing.T, fa policy.Facts) {
					if fa.Relationship != policy.RelationshipSupplier {
						t.Errorf("relationship %s", fa.Relationship)
					}
				}},
			{name: "backflow: supplier notice given", contact: contact.Input{Audience: "b2b", Relationship: "supplier"}, history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindNoticeGiven, Channels: []string{"email"}, OccurredAt: at("2026-01-05"), Details: Details{Notice: f.supplier.Hash}})
				f.append(c.ID, NewEvent{Kind: KindContractStarted, OccurredAt: at("2026-01-06")})
			}, purpose: "supplier_acquisition", channel: "post", allowed: true, reason: "postal_legitimate_interest"},
			{name: "contract", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindContractStarted, OccurredAt: at("2026-01-06")})
				f.append(c.ID, NewEvent{Kind: KindObjection, OccurredAt: at("2026-01-07"), Details: Details{ObjectionType: "direct_marketing"}})
			}, purpose: "order_processing", channel: "email", allowed: true, reason: "contract_performance"},
			{name: "contract ended", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindContractStarted, OccurredAt: at("2026-01-06")})
				f.append(c.ID, NewEvent{Kind: KindContractEnded, OccurredAt: at("2026-02-06")})
			}, purpose: "order_processing", channel: "email", reason: "no_contract"},
			{name: "inbound request on its channel", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindInboundRequestReceived, Channels: []string{"phone", "email"}, OccurredAt: at("2026-02-20")})
			}, purpose: "inquiry_replies", channel: "email", allowed: true, reason: "inquiry_reply"},
			{name: "inbound request on another channel", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindInboundRequestReceived, Channels: []string{"phone"}, OccurredAt: at("2026-02-20")})
			}, purpose: "inquiry_replies", channel: "sms", reason: "reply_channel_not_designated"},
			{name: "restriction", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindRestrictionStarted, OccurredAt: at("2026-02-01"), Details: Details{Ground: "accuracy_contested"}})
			}, purpose: "newsletter", channel: "email", reason: "processing_restricted",
				check: func(t *testing.T, fa policy.Facts) {
					if !fa.Restriction.Active || fa.Restriction.Ground != policy.GroundAccuracyContested {
						t.Errorf("restriction: %+v", fa.Restriction)
					}
				}},
			{name: "restriction lifted", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindRestrictionStarted, OccurredAt: at("2026-02-01"), Details: Details{Ground: "accuracy_contested"}})
				f.append(c.ID, NewEvent{Kind: KindRestrictionLifted, OccurredAt: at("2026-02-02")})
			}, purpose: "newsletter", channel: "email", allowed: true, reason: "consent_valid"},
			{name: "erasure requested", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindErasureRequested, OccurredAt: at("2026-02-01")})
			}, purpose: "newsletter", channel: "email", reason: "erasure_requested"},
			{name: "retention duty survives an erasure request", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindRetentionDutyStarted, OccurredAt: at("2026-01-01"), Details: Details{Basis: "HGB §257 invoice", Until: "2034-12-31"}})
				f.append(c.ID, NewEvent{Kind: KindErasureRequested, OccurredAt: at("2026-02-01")})
			}, purpose: "accounting_retention", channel: "none", allowed: true, reason: "legal_retention_duty",
				check: func(t *testing.T, fa policy.Facts) {
					if fa.Erasure.Status != policy.ErasureRequested || fa.RetentionDuty.Until != policy.MustParseDate("2034-12-31") {
						t.Errorf("erasure/retention: %+v %+v", fa.Erasure, fa.RetentionDuty)
					}
				}},
			{name: "rights request", history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindRightsRequestOpened, OccurredAt: at("2026-02-01"), Details: Details{RequestType: "access"}})
			}, purpose: "rights_responses", channel: "post", allowed: true, reason: "rights_request_response"},
			{name: "b2b presumed consent", contact: contact.Input{Audience: "b2b", Phone: "+49 30 1234567"}, history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindPresumedConsentRecorded, Purpose: "sales_calls", OccurredAt: at("2026-02-01"), Details: Details{Basis: "asked at the trade fair for a call about the offer"}})
			}, purpose: "sales_calls", channel: "phone", allowed: true, reason: "b2b_presumed_consent"},
			{name: "phone consent with written proof", contact: contact.Input{Phone: "+49 171 7654321"}, history: func(f *fixture, c contact.Contact) {
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "sales_calls", Channels: []string{"phone"}, OccurredAt: at("2026-02-01"), Details: Details{Verification: "written"}, Evidence: f.evidence()})
				f.append(c.ID, NewEvent{Kind: KindConsentConfirmed, Purpose: "sales_calls", Channels: []string{"phone"}, OccurredAt: at("2026-02-01"), Evidence: EvidenceInput{ConfirmationMethod: "signature"}})
			}, purpose: "sales_calls", channel: "phone", allowed: true, reason: "consent_valid"},
			{name: "withdrawn then reconsented", history: func(f *fixture, c contact.Contact) {
				doi(f, c.ID, "newsletter", "email")
				f.append(c.ID, NewEvent{Kind: KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-20")})
				f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-02-10"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
				f.append(c.ID, NewEvent{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-02-11"), Evidence: EvidenceInput{ConfirmationMethod: "email_link"}})
			}, purpose: "newsletter", channel: "email", allowed: true, reason: "consent_valid"},
		} {
			n++
			t.Run(tc.name, func(t *testing.T) {
				in := tc.contact
				if in.Email == "" {
					in.Email = "p" + id.New()[24:] + "@example.com"
				}
				c := f.contact(in)
				tc.history(f, c)
				if tc.after != nil {
					tc.after(f, c)
				}
				fa, req, err := f.ledger.Facts(ctx, f.ws, c.ID, tc.purpose, tc.channel, asOf)
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, fa)
				}
				d, err := policy.Decide(fa, req)
				if err != nil {
					t.Fatalf("decide: %v (facts %+v)", err, fa)
				}
				if d.Allowed != tc.allowed || d.Reasons[0] != tc.reason {
					t.Fatalf("decision %v %v, want allowed=%v first %s\nfacts: %+v", d.Allowed, d.Reasons, tc.allowed, tc.reason, fa)
				}
				for _, r := range tc.contains {
					if !slices.Contains(d.Reasons, r) {
						t.Errorf("reasons %v lack %s", d.Reasons, r)
					}
				}
				// The batch form derives the same facts.
				m, req2, err := f.ledger.FactsForContacts(ctx, f.ws, []string{c.ID, id.New(), "junk"}, tc.purpose, tc.channel, asOf)
				if err != nil || req2 != req || len(m) != 1 || !reflect.DeepEqual(m[c.ID], fa) {
					t.Fatalf("batch facts differ: %v\n%+v\n%+v", err, m[c.ID], fa)
				}
			})
		}
	})
}

func TestFactsRejectsBadRequests(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "r@example.com"})
		for _, tc := range []struct{ purpose, channel, field string }{
			{"spam", "email", "purpose"},
			{"newsletter", "fax", "channel"},
			{"supplier_acquisition", "email", "channel"},
			{"web_analytics", "post", "channel"},
		} {
			_, _, err := f.ledger.Facts(ctx, f.ws, c.ID, tc.purpose, tc.channel, asOf)
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Field != tc.field || len(ve.Allowed) == 0 {
				t.Errorf("%s/%s: %v, want a validation error on %s naming the allowed values", tc.purpose, tc.channel, err, tc.field)
			}
		}
		if _, _, err := f.ledger.Facts(ctx, f.ws, id.New(), "newsletter", "email", asOf); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown contact: %v", err)
		}
	})
}

// Findings of a review, each pinned by a test.
func TestFactsReviewFindings(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		asOf := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

		t.Run("GDPR Art. 7(3) a confirmation dated after its event is refused", func(t *testing.T) {
			c := f.contact(contact.Input{Email: "late@example.com"})
			f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
			_, err := f.ledger.Append(ctx, nil, f.ws, c.ID, NewEvent{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-11"),
				Details: Details{Verification: "email_doi"}, Evidence: EvidenceInput{Source: "form:x", ConfirmationMethod: "email_link", ConfirmedAt: at("2026-03-01")}}, Actor{TokenID: "t"})
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Field != "evidence.confirmed_at" {
				t.Fatalf("got %v, want a validation error on evidence.confirmed_at", err)
			}
		})

		t.Run("rules §4.1 a former supplier stays a supplier", func(t *testing.T) {
			c := f.contact(contact.Input{Email: "former@example.com", Audience: "b2b"})
			f.append(c.ID, NewEvent{Kind: KindRelationshipStarted, OccurredAt: at("2025-01-01"), Details: Details{Relationship: "supplier"}})
			f.append(c.ID, NewEvent{Kind: KindRelationshipEnded, OccurredAt: at("2025-06-01"), Details: Details{Relationship: "supplier"}})
			fa, req, err := f.ledger.Facts(ctx, f.ws, c.ID, "supplier_acquisition", "post", asOf)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := policy.Decide(fa, req)
			if fa.Relationship != policy.RelationshipSupplier || d.Allowed || d.Reasons[0] != "supplier_notice_missing" {
				t.Fatalf("relationship %s, decision %v %v", fa.Relationship, d.Allowed, d.Reasons)
			}
		})

		t.Run("UWG §7(2) Nr. 2 the DOI mail sees only pending sign-ups of other purposes", func(t *testing.T) {
			c := f.contact(contact.Input{Email: "doi@example.com"})
			doi(f, c.ID, "newsletter", "email")
			f.append(c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "product_offers", Channels: []string{"email"}, OccurredAt: at("2026-02-01"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()})
			fa, req, err := f.ledger.Facts(ctx, f.ws, c.ID, "doi_confirmation", "email", asOf)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range fa.Consents {
				if r.Status != policy.ConsentPending {
					t.Fatalf("a %s record of another purpose reached the DOI request: %+v", r.Status, r)
				}
			}
			fa.Processing.ContainsAdvertising = true
			d, _ := policy.Decide(fa, req)
			if d.Allowed || d.Reasons[0] != "advertising_in_service_message" {
				t.Fatalf("advertising in the DOI mail: %v %v", d.Allowed, d.Reasons)
			}
			fa.Processing.ContainsAdvertising = false
			if d, _ := policy.Decide(fa, req); !d.Allowed {
				t.Fatalf("ad-free DOI mail: %v", d.Reasons)
			}
		})
	})
}

// TestErasureShredsAndRespectsRetention: recording erasure_executed destroys
// the contact's data key in the same transaction; with a running retention
// duty it is refused (restriction instead).
func TestErasureShredsAndRespectsRetention(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "erase.me@example.com", FirstName: "Erika"})
		doi(f, c.ID, "newsletter", "email")
		f.append(c.ID, NewEvent{Kind: KindErasureRequested})
		f.append(c.ID, NewEvent{Kind: KindErasureExecuted})
		got, err := f.contacts.Get(ctx, f.ws, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Erased || got.Email != "" || got.FirstName != "" {
			t.Fatalf("after erasure_executed: %+v", got)
		}
		evs, err := f.ledger.Events(ctx, f.ws, c.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Evidence.Personal != nil && e.Evidence.Personal.IPAddress != "" {
				t.Fatalf("personal evidence still readable: %+v", e.Evidence.Personal)
			}
		}
		if rep, err := f.ledger.Verify(ctx, f.ws); err != nil || !rep.OK {
			t.Fatalf("chain after shredding: %+v %v", rep, err)
		}

		kept := f.contact(contact.Input{Email: "invoice@example.com"})
		f.append(kept.ID, NewEvent{Kind: KindRetentionDutyStarted, Details: Details{Basis: "HGB §257 invoices", Until: "2034-12-31"}})
		_, err = f.ledger.Append(ctx, nil, f.ws, kept.ID, NewEvent{Kind: KindErasureExecuted}, Actor{TokenID: "t"})
		var ce *ConflictError
		if !errors.As(err, &ce) || !strings.Contains(ce.Message, "restriction_started") {
			t.Fatalf("erasure under a retention duty: %v", err)
		}
		if k, err := f.contacts.Get(ctx, f.ws, kept.ID); err != nil || k.Erased || k.Email != "invoice@example.com" {
			t.Fatalf("refused erasure changed the contact: %+v %v", k, err)
		}
	})
}

// TestConsentUsedKeepsAConsentFresh: a consent_used event sets last_used_at
// (rules §4.2, §9 log_consent_usage), which the idle limit of §5 reads.
func TestConsentUsedKeepsAConsentFresh(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		asOf := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
		stale := policy.DefaultPolicy()
		stale.ConsentMaxIdleDays = policy.LimitDays(365)
		decide := func(cid string) policy.Decision {
			t.Helper()
			fa, req, err := f.ledger.Facts(ctx, f.ws, cid, "newsletter", "email", asOf)
			if err != nil {
				t.Fatal(err)
			}
			fa.Policy = &stale
			d, err := policy.Decide(fa, req)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		idle := f.contact(contact.Input{Email: "idle@example.com"})
		doi(f, idle.ID, "newsletter", "email")
		if d := decide(idle.ID); d.Allowed || !slices.Contains(d.Reasons, "consent_stale") {
			t.Fatalf("unused for over a year: %v %v, want consent_stale", d.Allowed, d.Reasons)
		}
		used := f.contact(contact.Input{Email: "used@example.com"})
		doi(f, used.ID, "newsletter", "email")
		f.append(used.ID, NewEvent{Kind: KindConsentUsed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-09-01")})
		if d := decide(used.ID); !d.Allowed {
			t.Fatalf("used in September: %v", d.Reasons)
		}
		// A use needs a consent to rely on.
		none := f.contact(contact.Input{Email: "none@example.com"})
		if _, err := f.ledger.Append(ctx, nil, f.ws, none.ID, NewEvent{Kind: KindConsentUsed, Purpose: "newsletter", Channels: []string{"email"}}, Actor{}); err == nil {
			t.Fatal("consent_used without any consent was accepted")
		}
	})
}

// TestContactChangesAreLogged: a change of what the engine reads about a
// contact lands in its ledger (Art. 5(2)), and cannot be forged via Append.
func TestContactChangesAreLogged(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.contact(contact.Input{Email: "change@example.com"})
		rel, mail, name := "customer", "new.address@example.com", "Anna"
		if _, err := f.contacts.Update(ctx, f.ws, c.ID, contact.Update{Relationship: &rel, Email: &mail}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.contacts.Update(ctx, f.ws, c.ID, contact.Update{FirstName: &name}); err != nil {
			t.Fatal(err)
		}
		evs, err := f.ledger.Events(ctx, f.ws, c.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Kind != KindRecordChanged {
			t.Fatalf("events %+v, want one record_changed (a name change is not one the engine reads)", evs)
		}
		b, _ := json.Marshal(evs[0])
		if !strings.Contains(string(b), `"from":"prospect","to":"customer"`) || !strings.Contains(string(b), `"field":"email"`) || strings.Contains(string(b), "new.address") {
			t.Fatalf("record_changed %s", b)
		}
		if _, err := f.ledger.Append(ctx, nil, f.ws, c.ID, NewEvent{Kind: KindRecordChanged}, Actor{TokenID: "t"}); err == nil {
			t.Fatal("a record_changed event could be appended from outside")
		}
		if rep, err := f.ledger.Verify(ctx, f.ws); err != nil || !rep.OK {
			t.Fatalf("chain: %+v %v", rep, err)
		}
	})
}
