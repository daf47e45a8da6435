package audience_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type world struct {
	t        testing.TB
	ws       string
	contacts *contact.Store
	ledger   *consent.Ledger
	purposes *consent.Purposes
	resolver *audience.Resolver
	text     consent.Notice
	supplier consent.Notice
}

func newWorld(t testing.TB, db *store.DB) *world {
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
	w := &world{t: t, ws: ws.ID}
	w.contacts = contact.NewStore(db, keys, nil)
	w.purposes = consent.NewPurposes(db, nil)
	notices := consent.NewNotices(db, nil)
	w.ledger = consent.NewLedger(db, w.contacts, w.purposes, notices, nil)
	w.resolver = audience.New(db, w.ledger, w.purposes, nil)
	if w.text, _, err = notices.Create(ctx, ws.ID, "test", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Einwilligung", Body: "Ja, ich möchte Angebote erhalten. Widerruf jederzeit."}); err != nil {
		t.Fatal(err)
	}
	if w.supplier, _, err = notices.Create(ctx, ws.ID, "test", consent.NewNotice{Kind: "supplier_privacy_notice", Language: "de", Title: "Lieferanten", Body: "Vertrag, Werbung per Brief, Aufbewahrung."}); err != nil {
		t.Fatal(err)
	}
	return w
}

func day(r *rand.Rand) *time.Time {
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(600))
	return &t
}

var (
	marketing = []string{"newsletter", "product_offers", "event_invitations", "sales_calls"}
	mChannels = []string{"email", "sms", "phone", "post"}
)

// randomHistory appends a random but realistic ledger history. Appends the
// ledger refuses (impossible transitions) are simply skipped: the property
// holds for whatever history the ledger accepted.
func (w *world) randomHistory(r *rand.Rand, cid string) {
	w.randomHistoryVia(r, func(e consent.NewEvent) {
		_, _ = w.ledger.Append(context.Background(), nil, w.ws, cid, e, consent.Actor{TokenID: "gen"})
	})
}

// randomHistoryVia draws a history and hands each event to ev.
func (w *world) randomHistoryVia(r *rand.Rand, ev func(consent.NewEvent)) {
	evidence := consent.EvidenceInput{Source: "form:gen", NoticeHash: w.text.Hash, TextShown: w.text.Body, IPAddress: "198.51.100.7"}
	for k := r.IntN(6); k > 0; k-- {
		p := marketing[r.IntN(len(marketing))]
		ch := mChannels[r.IntN(len(mChannels))]
		verif := map[string]string{"email": "email_doi", "sms": "sms_doi", "phone": "written", "post": "written"}[ch]
		if r.IntN(8) == 0 {
			verif = "none"
		}
		switch x := r.IntN(20); {
		case x < 8: // a consent, often confirmed, sometimes withdrawn
			ev(consent.NewEvent{Kind: consent.KindConsentRequested, Purpose: p, Channels: []string{ch}, OccurredAt: day(r),
				Details: consent.Details{Verification: verif, PreTicked: r.IntN(15) == 0, CollectedBy: []string{"self", "self", "third_party"}[r.IntN(3)]}, Evidence: evidence})
			if r.IntN(4) > 0 {
				ev(consent.NewEvent{Kind: consent.KindConsentConfirmed, Purpose: p, Channels: []string{ch}, OccurredAt: day(r),
					Details: consent.Details{Verification: verif}, Evidence: consent.EvidenceInput{Source: "form:gen", ConfirmationMethod: "email_link"}})
			}
			if r.IntN(4) == 0 {
				ev(consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: p, Channels: []string{ch}, OccurredAt: day(r)})
			}
		case x < 11:
			chs := []string{"any"}
			if r.IntN(2) == 0 {
				chs = []string{ch}
			}
			ev(consent.NewEvent{Kind: consent.KindObjection, Channels: chs, OccurredAt: day(r), Details: consent.Details{ObjectionType: []string{"direct_marketing", "analytics"}[r.IntN(2)]}})
		case x < 12:
			ev(consent.NewEvent{Kind: consent.KindRestrictionStarted, OccurredAt: day(r), Details: consent.Details{Ground: "accuracy_contested"}})
		case x < 13:
			ev(consent.NewEvent{Kind: consent.KindErasureRequested, OccurredAt: day(r)})
		case x < 15:
			ev(consent.NewEvent{Kind: consent.KindExistingCustomerFacts, OccurredAt: day(r), Details: consent.Details{AddressFromSale: r.IntN(2) == 0, NoticeAtCollection: r.IntN(2) == 0}})
		case x < 16:
			ev(consent.NewEvent{Kind: consent.KindNoticeGiven, Channels: []string{"email"}, OccurredAt: day(r), Details: consent.Details{Notice: w.supplier.Hash}})
		case x < 17:
			ev(consent.NewEvent{Kind: consent.KindPresumedConsentRecorded, Purpose: "sales_calls", Channels: []string{"phone"}, OccurredAt: day(r), Details: consent.Details{Basis: "asked for a call back at the trade fair"}})
		default:
			ev(consent.NewEvent{Kind: consent.KindRelationshipStarted, OccurredAt: day(r), Details: consent.Details{Relationship: "customer"}})
		}
	}
}

func (w *world) generate(r *rand.Rand, n int) []string {
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		in := contact.Input{
			FirstName:    "P",
			Audience:     []string{"b2c", "b2b"}[r.IntN(2)],
			Relationship: []string{"prospect", "customer", "supplier"}[r.IntN(3)],
			DataSource:   []string{"self_provided", "self_provided", "third_party"}[r.IntN(3)],
			Email:        fmt.Sprintf("p%d-%d@example.com", i, r.IntN(1<<30)),
		}
		if r.IntN(2) == 0 {
			in.Phone = fmt.Sprintf("+4915%09d", r.IntN(1e9))
		}
		c, err := w.contacts.Create(context.Background(), w.ws, in)
		if err != nil {
			w.t.Fatal(err)
		}
		w.randomHistory(r, c.ID)
		ids = append(ids, c.ID)
	}
	return ids
}

// generateBulk makes n contacts with random histories through consent.Bulk,
// in transactions of 250, with some contacts changed after their events.
func (w *world) generateBulk(db *store.DB, r *rand.Rand, n int) []string {
	ctx := context.Background()
	var ids []string
	for len(ids) < n {
		err := db.Tx(ctx, func(tx store.Tx) error {
			b, err := w.ledger.Bulk(ctx, tx, w.ws)
			if err != nil {
				return err
			}
			for k := 0; k < 250 && len(ids) < n; k++ {
				in := contact.Input{
					FirstName:    "P",
					Audience:     []string{"b2c", "b2b"}[r.IntN(2)],
					Relationship: []string{"prospect", "customer", "supplier"}[r.IntN(3)],
					DataSource:   []string{"self_provided", "self_provided", "third_party"}[r.IntN(3)],
					Email:        fmt.Sprintf("b%d-%d@example.com", len(ids), r.IntN(1<<30)),
				}
				if r.IntN(2) == 0 {
					in.Phone = fmt.Sprintf("+4915%09d", r.IntN(1e9))
				}
				c, err := b.Contacts().Create(ctx, w.ws, in)
				if err != nil {
					return err
				}
				w.randomHistoryVia(r, func(e consent.NewEvent) {
					_, _ = b.Append(ctx, c.ID, e, consent.Actor{TokenID: "gen"})
				})
				if r.IntN(10) == 0 {
					rel := "customer"
					if _, err := b.Contacts().Update(ctx, w.ws, c.ID, contact.Update{Relationship: &rel}); err != nil {
						return err
					}
				}
				ids = append(ids, c.ID)
			}
			return b.Flush(ctx)
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
	return ids
}

// TestAudienceEqualsSingleDecision is the property of the rules' "one
// function serves every caller": for thousands of generated contacts with
// random ledger histories, audience membership equals the single decision
// for every contact, for every purpose × channel tried.
func TestAudienceEqualsSingleDecision(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			n := 2000
			if d == store.Postgres {
				n = 1000
			}
			if testing.Short() {
				n = 200
			}
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 7))
			db := testdb.Open(t, d)
			w := newWorld(t, db)
			ids := w.generate(r, n)
			// Contacts written in bulk (imports, generated data) must be
			// indistinguishable from those written one by one.
			ids = append(ids, w.generateBulk(db, r, n/2)...)
			rep, err := w.ledger.Verify(context.Background(), w.ws)
			if err != nil || !rep.OK {
				t.Fatalf("verify after bulk writes: %+v %v", rep, err)
			}
			n += n / 2
			ctx := context.Background()
			allowedSomewhere := 0
			for _, q := range []audience.Query{
				{Purpose: "newsletter", Channel: "email"},
				{Purpose: "newsletter", Channel: "email", Campaign: audience.Campaign{OwnSimilarOffer: true, NoticeInMessage: true}},
				{Purpose: "product_offers", Channel: "post"},
				{Purpose: "sales_calls", Channel: "phone"},
				{Purpose: "event_invitations", Channel: "sms"},
				{Purpose: "supplier_acquisition", Channel: "post"},
				{Purpose: "web_analytics", Channel: "web", Campaign: audience.Campaign{AnalyticsMode: "pseudonymized"}},
				{Purpose: "personalization", Channel: "web"},
				{Purpose: "product_offers", Channel: "post", Filter: audience.Filter{Audience: "b2b", Relationship: "customer"}},
			} {
				var got []string
				count, err := w.resolver.Resolve(ctx, w.ws, q, func(cid string) error { got = append(got, cid); return nil })
				if err != nil {
					t.Fatalf("%+v: %v", q, err)
				}
				if count != len(got) {
					t.Fatalf("count %d, emitted %d", count, len(got))
				}
				if c, err := w.resolver.Count(ctx, w.ws, q); err != nil || c != len(got) {
					t.Fatalf("%+v: Count %d (%v), Resolve %d", q, c, err, len(got))
				}
				in := map[string]bool{}
				for _, g := range got {
					in[g] = true
				}
				var want []string
				for _, cid := range ids {
					c, err := w.contacts.Get(ctx, w.ws, cid)
					if err != nil {
						t.Fatal(err)
					}
					if (q.Filter.Audience != "" && c.Audience != q.Filter.Audience) || (q.Filter.Relationship != "" && c.Relationship != q.Filter.Relationship) {
						continue
					}
					dec, err := w.resolver.Decide(ctx, w.ws, cid, q.Purpose, q.Channel, q.Campaign)
					if err != nil {
						t.Fatal(err)
					}
					if dec.Allowed != in[cid] {
						t.Errorf("%s/%s contact %s: single decision allowed=%v %v, audience membership %v", q.Purpose, q.Channel, cid, dec.Allowed, dec.Reasons, in[cid])
					}
					if dec.Allowed {
						want = append(want, cid)
					}
				}
				slices.Sort(want)
				if !slices.Equal(want, got) {
					t.Errorf("%s/%s: audience of %d differs from the %d single allows (or is out of ID order)", q.Purpose, q.Channel, len(got), len(want))
				}
				allowedSomewhere += len(got)
				t.Logf("%s/%s %+v: %d of %d allowed", q.Purpose, q.Channel, q.Filter, len(got), n)
			}
			if allowedSomewhere == 0 {
				t.Fatal("the generator produced no allowed contact at all: the property would hold vacuously")
			}
		})
	}
}

// TestWithdrawalTakesEffectAtOnceUnderLoad: while readers resolve audiences
// and decide in a loop, withdrawals and objections are committed one by
// one; every decision and resolution that starts after a commit honours it.
func TestWithdrawalTakesEffectAtOnceUnderLoad(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			w := newWorld(t, testdb.Open(t, d))
			const n = 60
			ids := make([]string, n)
			for i := range ids {
				c, err := w.contacts.Create(ctx, w.ws, contact.Input{FirstName: "P", Audience: "b2c", Relationship: "prospect", Email: fmt.Sprintf("load%d@example.com", i)})
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = c.ID
				for _, step := range []struct {
					kind string
					ev   consent.EvidenceInput
				}{
					{consent.KindConsentRequested, consent.EvidenceInput{Source: "form:load", NoticeHash: w.text.Hash, TextShown: w.text.Body}},
					{consent.KindConsentConfirmed, consent.EvidenceInput{Source: "form:load", ConfirmationMethod: "email_link"}},
				} {
					kind, ev := step.kind, step.ev
					if _, err := w.ledger.Append(ctx, nil, w.ws, c.ID, consent.NewEvent{Kind: kind, Purpose: "newsletter", Channels: []string{"email"},
						OccurredAt: func() *time.Time { t := time.Now().Add(-time.Hour); return &t }(), Details: consent.Details{Verification: "email_doi"}, Evidence: ev}, consent.Actor{TokenID: "load"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			q := audience.Query{Purpose: "newsletter", Channel: "email"}
			resolve := func() map[string]bool {
				m := map[string]bool{}
				if _, err := w.resolver.Resolve(ctx, w.ws, q, func(cid string) error { m[cid] = true; return nil }); err != nil {
					t.Error(err)
				}
				return m
			}
			if got := resolve(); len(got) != n {
				t.Fatalf("before: %d of %d allowed", len(got), n)
			}

			// Background load: readers that never stop until the writer is done.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var reads atomic.Int64
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if g%2 == 0 {
							resolve()
						} else if _, err := w.resolver.Decide(ctx, w.ws, ids[int(reads.Load())%n], "newsletter", "email", audience.Campaign{}); err != nil {
							t.Error(err)
						}
						reads.Add(1)
					}
				}(g)
			}
			for i, cid := range ids {
				kind := consent.KindConsentWithdrawn
				ev := consent.NewEvent{Kind: kind, Purpose: "newsletter", Channels: []string{"email"}}
				if i%2 == 1 {
					ev = consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"email"}, Details: consent.Details{ObjectionType: "direct_marketing"}}
				}
				if _, err := w.ledger.Append(ctx, nil, w.ws, cid, ev, consent.Actor{TokenID: "person"}); err != nil {
					t.Fatal(err)
				}
				// Committed. Everything that starts now must honour it.
				dec, err := w.resolver.Decide(ctx, w.ws, cid, "newsletter", "email", audience.Campaign{})
				if err != nil {
					t.Fatal(err)
				}
				if dec.Allowed {
					t.Fatalf("contact %d still allowed right after its %s was committed: %v", i, ev.Kind, dec.Reasons)
				}
				if i%5 == 0 || i == n-1 {
					got := resolve()
					for j := 0; j <= i; j++ {
						if got[ids[j]] {
							t.Fatalf("audience resolved after the %d-th withdrawal still holds contact %d", i+1, j)
						}
					}
					if len(got) != n-i-1 {
						t.Fatalf("after %d withdrawals %d remain, want %d", i+1, len(got), n-i-1)
					}
					if c, err := w.resolver.Count(ctx, w.ws, q); err != nil || c != n-i-1 {
						t.Fatalf("after %d withdrawals Count says %d (%v), want %d", i+1, c, err, n-i-1)
					}
				}
			}
			close(stop)
			wg.Wait()
			if reads.Load() == 0 {
				t.Fatal("no concurrent reads happened")
			}
			t.Logf("%d concurrent reads during %d withdrawals", reads.Load(), n)
		})
	}
}

// BenchmarkResolve resolves an audience over generated contacts (SQLite);
// ns/op is per contact. docs/benchmarks.md has the figures of
// `fairlead bench audience`, which measures the same at scale.
func BenchmarkResolve(b *testing.B) {
	w := newWorld(b, testdb.Open(b, store.SQLite))
	const n = 3000
	w.generate(rand.New(rand.NewPCG(1, 1)), n)
	q := audience.Query{Purpose: "newsletter", Channel: "email"}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.resolver.Resolve(ctx, w.ws, q, func(string) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/contact")
}

// TestStateFollowsCatalogueAndContactChanges: a new purpose, a changed
// contact record and a retention duty's end are all honoured by audience
// resolution, which reads the stored permission state.
func TestStateFollowsCatalogueAndContactChanges(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		ids := w.generate(rand.New(rand.NewPCG(3, 3)), 300)
		check := func(q audience.Query) {
			t.Helper()
			got := map[string]bool{}
			if _, err := w.resolver.Resolve(ctx, w.ws, q, func(cid string) error { got[cid] = true; return nil }); err != nil {
				t.Fatal(err)
			}
			if c, err := w.resolver.Count(ctx, w.ws, q); err != nil || c != len(got) {
				t.Fatalf("%+v: Count %d (%v), Resolve %d", q, c, err, len(got))
			}
			for _, cid := range ids {
				c, err := w.contacts.Get(ctx, w.ws, cid)
				if err != nil {
					t.Fatal(err)
				}
				if q.Filter.Relationship != "" && c.Relationship != q.Filter.Relationship {
					if got[cid] {
						t.Fatalf("contact %s outside the filter is in the audience", cid)
					}
					continue
				}
				d, err := w.resolver.Decide(ctx, w.ws, cid, q.Purpose, q.Channel, q.Campaign)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != got[cid] {
					t.Fatalf("%s/%s %+v contact %s: decision %v %v, audience %v", q.Purpose, q.Channel, q.Filter, cid, d.Allowed, d.Reasons, got[cid])
				}
			}
		}
		// A purpose added after the contacts: every stored state is older
		// than the catalogue, so resolution must still be right.
		if _, err := w.purposes.Create(ctx, w.ws, consent.NewPurpose{Key: "catalogue_letters", Kind: "direct_marketing", DescriptionDE: "Kataloge", DescriptionEN: "Catalogues", Channels: []string{"post"}}); err != nil {
			t.Fatal(err)
		}
		check(audience.Query{Purpose: "catalogue_letters", Channel: "post"})
		check(audience.Query{Purpose: "product_offers", Channel: "post"})
		// A changed record: a supplier without notice may not get letters.
		rel := "supplier"
		for _, cid := range ids[:20] {
			if _, err := w.contacts.Update(ctx, w.ws, cid, contact.Update{Relationship: &rel}); err != nil {
				t.Fatal(err)
			}
		}
		check(audience.Query{Purpose: "product_offers", Channel: "post"})
		check(audience.Query{Purpose: "product_offers", Channel: "post", Filter: audience.Filter{Relationship: "supplier"}})
	})
}

// TestMatrixEqualsDecide: the matrix reads a contact's facts once and
// decides every cell from them; each cell must be exactly what Decide says
// for that purpose and channel — for a contact with mixed consents
// (confirmed, pending, withdrawn, an objection on one channel, a presumed
// B2B consent) and for contacts with random histories.
func TestMatrixEqualsDecide(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		res := audience.New(db, w.ledger, w.purposes, func() time.Time { return at })
		c, err := w.contacts.Create(ctx, w.ws, contact.Input{FirstName: "M", Audience: "b2b", Relationship: "prospect", DataSource: "self_provided",
			Email: "mixed@example.com", Phone: "+4915112345678"})
		if err != nil {
			t.Fatal(err)
		}
		ev := consent.EvidenceInput{Source: "form:test", NoticeHash: w.text.Hash, TextShown: w.text.Body}
		conf := consent.EvidenceInput{Source: "form:test", ConfirmationMethod: "email_link"}
		when := func(d int) *time.Time { x := at.AddDate(0, 0, -d); return &x }
		for _, e := range []consent.NewEvent{
			{Kind: consent.KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: when(30), Details: consent.Details{Verification: "email_doi", CollectedBy: "self"}, Evidence: ev},
			{Kind: consent.KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: when(29), Details: consent.Details{Verification: "email_doi"}, Evidence: conf},
			{Kind: consent.KindConsentRequested, Purpose: "product_offers", Channels: []string{"sms"}, OccurredAt: when(20), Details: consent.Details{Verification: "sms_doi", CollectedBy: "self"}, Evidence: ev},
			{Kind: consent.KindConsentRequested, Purpose: "event_invitations", Channels: []string{"email"}, OccurredAt: when(15), Details: consent.Details{Verification: "email_doi", CollectedBy: "self"}, Evidence: ev},
			{Kind: consent.KindConsentConfirmed, Purpose: "event_invitations", Channels: []string{"email"}, OccurredAt: when(14), Details: consent.Details{Verification: "email_doi"}, Evidence: conf},
			{Kind: consent.KindConsentWithdrawn, Purpose: "event_invitations", Channels: []string{"email"}, OccurredAt: when(5)},
			{Kind: consent.KindObjection, Channels: []string{"post"}, OccurredAt: when(3), Details: consent.Details{ObjectionType: "direct_marketing"}},
			{Kind: consent.KindPresumedConsentRecorded, Purpose: "sales_calls", Channels: []string{"phone"}, OccurredAt: when(2), Details: consent.Details{Basis: "asked for a call back at the trade fair"}},
		} {
			if _, err := w.ledger.Append(ctx, nil, w.ws, c.ID, e, consent.Actor{TokenID: "test"}); err != nil {
				t.Fatalf("%s %s: %v", e.Kind, e.Purpose, err)
			}
		}
		r := rand.New(rand.NewPCG(11, 12))
		ids := append([]string{c.ID}, w.generate(r, 40)...)
		for i, cid := range ids {
			cells, err := res.Matrix(ctx, w.ws, cid)
			if err != nil {
				t.Fatal(err)
			}
			allowed, denied := 0, 0
			for _, cell := range cells {
				d, err := res.Decide(ctx, w.ws, cid, cell.Purpose, cell.Channel, audience.Campaign{})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(cell.Decision, d) {
					t.Fatalf("contact %d, %s/%s: matrix %+v, Decide %+v", i, cell.Purpose, cell.Channel, cell.Decision, d)
				}
				if d.Allowed {
					allowed++
				} else {
					denied++
				}
			}
			if i == 0 && (allowed < 2 || denied < 2) {
				t.Fatalf("the mixed contact's matrix has %d allowed and %d denied cells: it does not test a mix", allowed, denied)
			}
		}
		if _, err := res.Matrix(ctx, w.ws, id.New()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("matrix of an unknown contact: %v", err)
		}
	})
}
