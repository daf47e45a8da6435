package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// The writer of a submission is serialized (SQLite's one write
// connection, the ledger's chain head on both engines): every statement
// in its transaction costs every other submission waiting behind it. The
// budget keeps what was cut from coming back unnoticed.
func TestSubmissionStatements(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			h.seedDemo()
			submit := func(email, first string) []string {
				var mu sync.Mutex
				var stmts []string
				h.db.SetTrace(func(q string) {
					mu.Lock()
					stmts = append(stmts, strings.Join(strings.Fields(q), " "))
					mu.Unlock()
				})
				defer h.db.SetTrace(nil)
				p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {email}, "first_name": {first}, "newsletter_email": {"1"}, "lang": {"en"}})
				if p.Status != http.StatusSeeOther {
					t.Fatalf("submit: %d %s", p.Status, p.Body)
				}
				mu.Lock()
				defer mu.Unlock()
				return stmts
			}
			// The workspace's first sign-up makes its permission slots once.
			submit("first@example.com", "First")
			// A new contact: nine statements for the record, the request,
			// the job and the events, then its permission state — one read
			// of the blocks that hold its key in every granted purpose ×
			// channel slot, one upsert of them all (packed grant blocks,
			// consent/blocks.go) — and the mark. PostgreSQL writes the
			// head update with the events and takes the slots' locks in
			// that statement, and writes the mark with the blocks.
			newMax := 12
			if d == store.Postgres {
				newMax = 10
			}
			for _, c := range []struct {
				name, first string
				max         int
			}{
				{"new contact", "Grace", newMax},
				{"returning contact", "Grace Brewster", 27},
			} {
				stmts := submit("grace@example.com", c.first)
				for i, s := range stmts {
					if len(s) > 140 {
						s = s[:140] + "…"
					}
					t.Logf("%s %2d: %s", c.name, i+1, s)
				}
				if len(stmts) > c.max {
					t.Errorf("%s: %d statements in the submission's transaction, budget %d", c.name, len(stmts), c.max)
				}
			}
		})
	}
}

// Sign-ups of one new address at the same time: the first to commit
// creates the contact, the others (their lookup found nobody) enrich it;
// none fails, and every consent is recorded on that one contact.
func TestConcurrentSignUpsOfOneAddress(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			h.seedDemo()
			const n = 8
			var wg sync.WaitGroup
			status := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status[i] = h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"twice@example.com"}, "first_name": {"Twice"}, "newsletter_email": {"1"}, "lang": {"en"}}).Status
				}()
			}
			wg.Wait()
			for i, s := range status {
				if s != http.StatusSeeOther {
					t.Errorf("sign-up %d: status %d", i, s)
				}
			}
			cid := h.contactByEmail("twice@example.com")
			var events int
			if err := h.db.R.QueryRowContext(context.Background(), `SELECT count(*) FROM ledger_events WHERE workspace_id = $1 AND contact_id = $2 AND kind = $3`,
				h.ws.ID, cid, "consent_requested").Scan(&events); err != nil {
				t.Fatal(err)
			}
			if events != n {
				t.Fatalf("%d consent_requested events for the contact, want %d", events, n)
			}
		})
	}
}
