package app

import (
	"context"
	"fmt"
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
			// On PostgreSQL the record's, the request's and the job's
			// INSERTs are one statement (data-modifying CTEs).
			newMax, returningMax := 12, 27
			if d == store.Postgres {
				newMax = 6
				// While no submission met a known address lately, a
				// returning one is not looked up first: its insert fails
				// (one statement) and it enriches its contact after.
				returningMax = 28
			}
			for _, c := range []struct {
				name, first string
				max         int
			}{
				{"new contact", "Grace", newMax},
				{"returning contact", "Grace Brewster", returningMax},
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

			// Inside a group commit a new contact's sign-up runs no
			// statement of its own: its rows join the batch's multi-row
			// INSERTs (one per table; on PostgreSQL one statement), and the
			// chain head, the events and the grants are the batch's
			// flush, written once for all. What a batch runs besides is
			// the purpose count (once, in the savepoint of the piece that
			// reads it). So every transaction that writes new contacts —
			// one INSERT INTO contact_keys each — stays within a fixed
			// budget, however many sign-ups it holds.
			var mu sync.Mutex
			var stmts []string
			h.db.SetTrace(func(q string) {
				mu.Lock()
				stmts = append(stmts, strings.Join(strings.Fields(q), " "))
				mu.Unlock()
			})
			const signUps = 32
			var wg sync.WaitGroup
			for i := range signUps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {fmt.Sprintf("batched-%d@example.com", i)}, "first_name": {"B"}, "newsletter_email": {"1"}, "lang": {"en"}})
					if p.Status != http.StatusSeeOther {
						t.Errorf("submit: %d", p.Status)
					}
				}()
			}
			wg.Wait()
			h.db.SetTrace(nil)
			// The statements were traced by the server's goroutines.
			mu.Lock()
			defer mu.Unlock()
			txMax := 14
			if d == store.Postgres {
				txMax = 8
			}
			txs := 0
			for _, s := range stmts {
				if strings.HasPrefix(s, "INSERT INTO contact_keys") || strings.HasPrefix(s, "WITH w0 AS (INSERT INTO contact_keys") {
					txs++
				}
			}
			if txs == 0 || txs >= signUps {
				t.Errorf("%d transactions wrote %d sign-ups: nothing was grouped", txs, signUps)
			}
			if len(stmts) > txMax*txs {
				for i, s := range stmts {
					if len(s) > 140 {
						s = s[:140] + "…"
					}
					t.Logf("batched %3d: %s", i+1, s)
				}
				t.Errorf("%d statements in %d transactions, budget %d a transaction", len(stmts), txs, txMax)
			}
			t.Logf("%d statements for %d sign-ups in %d transactions", len(stmts), signUps, txs)
		})
	}
}

// Sign-ups of one new address at the same time: the first to commit
// creates the contact, the others (their lookup found nobody) enrich it;
// none fails, and every consent is recorded on that one contact.
func TestConcurrentSignUpsOfOneAddress(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
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
