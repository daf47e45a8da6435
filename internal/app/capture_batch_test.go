package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// Sign-ups posted at once go through the group commit: many share a
// transaction. Every answered one is committed when its answer arrives
// (with its double opt-in request and mail job), the chain verifies, each
// contact's stored permission state is what a Refresh derives, and
// audiences resolved from it equal the single decisions.
func TestCaptureBatchWriter(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		contacts, purposes, _, ledger := h.consent()
		var sharedWrites atomic.Int64
		h.db.SetTrace(func(q string) {
			if sharedBatch(q) {
				sharedWrites.Add(1)
			}
		})
		defer h.db.SetTrace(nil)

		const clients, each = 24, 5
		var wg sync.WaitGroup
		var mu sync.Mutex
		var problems []string
		var emails []string
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					email := fmt.Sprintf("batch-%d-%d@example.com", c, i)
					if i == each-1 {
						// Two clients sign the same new address up at once.
						email = fmt.Sprintf("shared-%d@example.com", c/2)
					}
					st := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {email}, "first_name": {"Batch"}, "newsletter_email": {"1"}, "lang": {"en"}}).Status
					var committed, requests int
					var msg string
					if st != http.StatusSeeOther {
						msg = fmt.Sprintf("%s: status %d", email, st)
					} else if found, err := contacts.List(ctx, h.ws.ID, contact.ListParams{Email: email, Limit: 1}); err != nil || len(found) != 1 {
						msg = fmt.Sprintf("%s answered 303, but no committed contact (%v)", email, err)
					} else if err := h.db.R.QueryRowContext(ctx, `SELECT count(*), count(j.id) FROM doi_requests r LEFT JOIN jobs j ON j.workspace_id = r.workspace_id AND j.kind = $3 AND j.args LIKE '%' || r.id || '%' WHERE r.workspace_id = $1 AND r.contact_id = $2`,
						h.ws.ID, found[0].ID, capture.JobSendDOIEmail).Scan(&requests, &committed); err != nil || requests == 0 || committed != requests {
						msg = fmt.Sprintf("%s answered 303 with %d requests and %d jobs committed (%v)", email, requests, committed, err)
					}
					mu.Lock()
					if msg != "" {
						problems = append(problems, msg)
					}
					if !slices.Contains(emails, email) {
						emails = append(emails, email)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, p := range problems {
			t.Error(p)
		}
		if sharedWrites.Load() == 0 {
			t.Fatal("no submission ran in a shared transaction")
		}
		if got := h.count("contacts"); got != len(emails) {
			t.Fatalf("%d contacts for %d addresses", got, len(emails))
		}
		rep, err := ledger.Verify(ctx, h.ws.ID)
		if err != nil || !rep.OK || rep.Events != clients*each {
			t.Fatalf("verify: %+v %v, want %d events", rep, err, clients*each)
		}

		var ids []string
		for _, e := range emails {
			ids = append(ids, h.contactByEmail(e))
		}
		before := permissionRows(t, h.db)
		for _, cid := range ids {
			if err := ledger.Refresh(ctx, h.db.W, h.ws.ID, cid); err != nil {
				t.Fatal(err)
			}
		}
		if after := permissionRows(t, h.db); !reflect.DeepEqual(before, after) {
			t.Errorf("a refresh changed the state the batches wrote:\nbefore %v\nafter  %v", before, after)
		}

		res := audience.New(h.db, ledger, purposes, nil)
		allowedSomewhere := 0
		for _, q := range []audience.Query{
			{Purpose: "newsletter", Channel: "email"},
			{Purpose: "product_offers", Channel: "post"},
			{Purpose: "product_offers", Channel: "email"},
			{Purpose: "sales_calls", Channel: "phone"},
		} {
			in := map[string]bool{}
			if _, err := res.Resolve(ctx, h.ws.ID, q, func(cid string) error { in[cid] = true; return nil }); err != nil {
				t.Fatal(err)
			}
			for _, cid := range ids {
				dec, err := res.Decide(ctx, h.ws.ID, cid, q.Purpose, q.Channel, q.Campaign)
				if err != nil {
					t.Fatal(err)
				}
				if dec.Allowed != in[cid] {
					t.Errorf("%s/%s contact %s: single decision %v %v, audience membership %v", q.Purpose, q.Channel, cid, dec.Allowed, dec.Reasons, in[cid])
				}
			}
			allowedSomewhere += len(in)
		}
		if allowedSomewhere == 0 {
			t.Log("no audience allowed anyone: the comparison checked denials only")
		}
	})
}

// A submission that fails in its batch — here the ledger's append hook
// refuses its event when the batch is written, which fails the batch's
// flush — is reported to its own caller and leaves no trace; the others
// of its batch are committed all the same.
func TestCaptureBatchFailsAlone(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		svc := h.capture()
		refused := errors.New("refused by the hook")
		wave := holdWave(svc.Ledger, func(ev consent.Event) error {
			if ev.Evidence.Personal != nil && ev.Evidence.Personal.UserAgent == "refuse-me" {
				return refused
			}
			return nil
		})
		var shared, savepoints atomic.Int64
		h.db.SetTrace(func(q string) {
			if sharedBatch(q) {
				shared.Add(1)
			}
			if strings.Contains(q, "SAVEPOINT submission") {
				savepoints.Add(1)
			}
		})
		defer h.db.SetTrace(nil)
		// The first sign-up makes the workspace's permission slots.
		if _, err := svc.Submit(ctx, "demo-newsletter", url.Values{"email": {"first@example.com"}, "newsletter_email": {"1"}}, "en", capture.Meta{UserAgent: "ok"}); err != nil {
			t.Fatal(err)
		}
		wave.Store(true)
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ua := "ok"
				if i%10 == 4 {
					ua = "refuse-me"
				}
				_, errs[i] = svc.Submit(ctx, "demo-newsletter", url.Values{"email": {fmt.Sprintf("alone-%d@example.com", i)}, "newsletter_email": {"1"}}, "en", capture.Meta{UserAgent: ua})
			}()
		}
		wg.Wait()
		contacts, _, _, ledger := h.consent()
		for i, err := range errs {
			email := fmt.Sprintf("alone-%d@example.com", i)
			found, lerr := contacts.List(ctx, h.ws.ID, contact.ListParams{Email: email, Limit: 1})
			if lerr != nil {
				t.Fatal(lerr)
			}
			if i%10 == 4 {
				if !errors.Is(err, refused) {
					t.Errorf("submission %d: %v, want the hook's refusal", i, err)
				}
				if len(found) != 0 {
					t.Errorf("the refused submission %d left its contact", i)
				}
				continue
			}
			if err != nil || len(found) != 1 {
				t.Errorf("submission %d failed with a batch-mate: %v (%d contacts)", i, err, len(found))
			}
		}
		// New contacts' sign-ups only collect rows: their batch reads the
		// catalogue itself, and no piece needs a savepoint.
		if n := savepoints.Load(); n != 0 {
			t.Errorf("%d savepoints in batches of new contacts' sign-ups, want none", n)
		}
		if shared.Load() == 0 {
			t.Fatal("no submission ran in a shared transaction")
		}
		want := 1 + n - n/10
		for _, table := range []string{"contacts", "doi_requests", "contact_values"} {
			if got := h.count(table); got != want {
				t.Errorf("%d rows in %s, want %d", got, table, want)
			}
		}
		var jobs int
		if err := h.db.R.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE kind = $1`, capture.JobSendDOIEmail).Scan(&jobs); err != nil || jobs != want {
			t.Errorf("%d confirmation jobs (%v), want %d", jobs, err, want)
		}
		rep, err := ledger.Verify(ctx, h.ws.ID)
		if err != nil || !rep.OK || rep.Events != int64(want) {
			t.Fatalf("verify: %+v %v, want %d events", rep, err, want)
		}
	})
}

// holdWave has the ledger's append hook hold the first batch written after
// the returned switch is set for a moment in its flush, so that the
// submissions posted with it queue behind it and share the next batch;
// check (nil: none) is the hook's answer for each event.
func holdWave(l *consent.Ledger, check func(consent.Event) error) *atomic.Bool {
	var wave atomic.Bool
	var hold sync.Once
	l.OnAppend(func(_ context.Context, _ store.Querier, _, _ string, ev consent.Event) error {
		if wave.Load() {
			hold.Do(func() { time.Sleep(200 * time.Millisecond) })
		}
		if check != nil {
			return check(ev)
		}
		return nil
	})
	return &wave
}

// permissionRows are the permission blocks and marks as stored.
func permissionRows(t *testing.T, db *store.DB) []string {
	t.Helper()
	return testdb.Rows(t, db, nil,
		`SELECT slot, lo, entries FROM permission_blocks ORDER BY slot, lo`,
		`SELECT space, contact_id, catalog, coalesce(recheck_at, 0), coalesce(granted, ''), profile FROM permission_checks ORDER BY space, contact_id`)
}

// sharedBatch says whether q inserts the double opt-in requests of more
// than one sign-up at once: what only a batch of several does.
func sharedBatch(q string) bool {
	_, rest, ok := strings.Cut(q, "INSERT INTO doi_requests")
	if !ok {
		return false
	}
	_, vals, _ := strings.Cut(rest, "VALUES")
	if i := strings.Index(vals, "RETURNING"); i >= 0 {
		vals = vals[:i]
	}
	return strings.Contains(vals, "),(")
}

// Sign-ups of known addresses among new ones posted at once: each
// enriches its contact, and the new ones commit as before. On PostgreSQL,
// where the addresses are not looked up before the batch while no
// submission met a known one lately, a batch holding a known address
// fails at its first statement, the known addresses are looked up at
// once, and the others run as a batch again.
func TestCaptureBatchReturningAddresses(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		svc := h.capture()
		wave := holdWave(svc.Ledger, nil)
		var shared atomic.Int64
		h.db.SetTrace(func(q string) {
			if sharedBatch(q) {
				shared.Add(1)
			}
		})
		defer h.db.SetTrace(nil)
		submit := func(email, first string) error {
			_, err := svc.Submit(ctx, "demo-newsletter", url.Values{"email": {email}, "first_name": {first}, "newsletter_email": {"1"}}, "en", capture.Meta{UserAgent: "ok"})
			return err
		}
		const known = 6
		for i := range known {
			if err := submit(fmt.Sprintf("known-%d@example.com", i), "Before"); err != nil {
				t.Fatal(err)
			}
		}
		wave.Store(true)
		const n = 30
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				email := fmt.Sprintf("new-%d@example.com", i)
				if i%5 == 0 {
					email = fmt.Sprintf("known-%d@example.com", i/5)
				}
				errs[i] = submit(email, "After")
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("submission %d: %v", i, err)
			}
		}
		if shared.Load() == 0 {
			t.Fatal("no submission ran in a shared transaction")
		}
		want := known + n - n/5
		if got := h.count("contacts"); got != want {
			t.Fatalf("%d contacts, want %d: a known address was signed up twice or a new one lost", got, want)
		}
		contacts, _, _, ledger := h.consent()
		for i := range known {
			email := fmt.Sprintf("known-%d@example.com", i)
			found, err := contacts.List(ctx, h.ws.ID, contact.ListParams{Email: email, Limit: 1})
			if err != nil || len(found) != 1 {
				t.Fatalf("%s: %v, %d contacts", email, err, len(found))
			}
			if found[0].FirstName != "After" {
				t.Errorf("%s: first name %q, want the later submission's %q", email, found[0].FirstName, "After")
			}
		}
		rep, err := ledger.Verify(ctx, h.ws.ID)
		if err != nil || !rep.OK || rep.Events != int64(known+n) {
			t.Fatalf("verify: %+v %v, want %d events", rep, err, known+n)
		}
	})
}
