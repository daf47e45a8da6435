package app

import (
	"context"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
)

// TestEventBatchAuditedInItsTransaction: a batch of events and its audit
// entry commit together — one entry with the answer's status and the body's
// field names, and when the entry cannot be written the batch is not
// stored either.
func TestEventBatchAuditedInItsTransaction(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		mkt := h.tokens[auth.RoleMarketing]
		cid := h.trackingContact("audited-events@example.com", true)
		h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{
			{"contact_id": cid, "type": "page_view", "name": "/"}, {"type": "page_view", "name": "/x"}}}), 200)
		var n int
		var fields string
		var status int
		if err := h.db.R.QueryRow(`SELECT count(*), max(fields), max(status) FROM audit_events WHERE workspace_id = $1 AND route = 'POST /api/v1/events'`, h.ws.ID).Scan(&n, &fields, &status); err != nil {
			t.Fatal(err)
		}
		if n != 1 || fields != `["events"]` || status != 200 {
			t.Fatalf("audit entries of the batch: %d, fields %s, status %d", n, fields, status)
		}

		// The trail refuses writes: the batch must not be stored without
		// its entry.
		ctx := context.Background()
		refuse := []string{`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END`}
		if d == store.Postgres {
			refuse = []string{`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`,
				`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()`}
		}
		for _, q := range refuse {
			if _, err := h.db.W.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		before := h.count("track_events")
		r := h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{{"contact_id": cid, "type": "download", "name": "w"}}})
		if r.Status != 500 || strings.Contains(string(r.Body), "audit refused") {
			t.Fatalf("batch with a refused audit entry: %d %s", r.Status, r.Body)
		}
		if after := h.count("track_events"); after != before {
			t.Fatalf("the batch was stored without its audit entry: %d -> %d rows", before, after)
		}
	})
}
