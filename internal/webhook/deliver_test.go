package webhook_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/webhook"
)

// A receiver that fails the first three requests: the first event is
// retried until it gets through, with the same event ID and a valid
// signature every time, and the later events wait behind it and arrive in
// the order they were committed.
func TestDeliveryRetriesInOrderWithSignature(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws := newWorkspace(t, db)
		svc := newService(t, db, webhook.Options{})
		rc := newReceiver(t, 3)
		ep, secret := createEndpoint(t, svc, ws, rc.URL+"/hook", webhook.TypeConsentWithdrawn, webhook.TypeContactErased)
		rc.setSecret(secret)
		contact := id.New()
		for i := range 5 {
			typ := webhook.TypeConsentWithdrawn
			if i == 4 {
				typ = webhook.TypeContactErased
			}
			notify(t, db, svc, ws, typ, contact, map[string]any{"n": i})
		}
		want := eventIDs(t, db, ws)
		startQueue(t, db, svc, "n1")
		waitFor(t, "five deliveries", func() bool { return len(rc.delivered()) == 5 })
		waitFor(t, "five delivered rows", func() bool { return len(deliveries(t, svc, ws, ep.ID, webhook.StateDelivered)) == 5 })

		if got := rc.delivered(); !slices.Equal(got, want) {
			t.Fatalf("delivered in order %v, want commit order %v", got, want)
		}
		reqs := rc.requests()
		if len(reqs) != 8 {
			t.Fatalf("%d requests, want 3 failures + 5 successes", len(reqs))
		}
		// Nothing overtook the failing head: the first four requests are all
		// the first event, so the later ones were held back.
		for i, r := range reqs {
			wantID := want[max(0, i-3)]
			if r.EventID != wantID {
				t.Fatalf("request %d carried event %s, want %s (later events must wait behind a failing one)", i, r.EventID, wantID)
			}
			if !r.SignatureOK {
				t.Fatalf("request %d: signature %q does not verify", i, r.Signature)
			}
			if r.Event.ID != r.EventID || r.Event.WorkspaceID != ws || r.Event.ContactID != contact || r.Event.Type != r.EventType {
				t.Fatalf("request %d: body %s does not match headers %+v", i, r.Body, r)
			}
		}
		if reqs[4].EventType != webhook.TypeConsentWithdrawn || reqs[7].EventType != webhook.TypeContactErased {
			t.Fatalf("event types %s, %s", reqs[4].EventType, reqs[7].EventType)
		}
		// The body is the same bytes on every attempt.
		if string(reqs[0].Body) != string(reqs[3].Body) || reqs[0].DeliveryID != reqs[3].DeliveryID {
			t.Fatal("a retry sent a different body or delivery")
		}

		ds := deliveries(t, svc, ws, ep.ID, webhook.StateDelivered)
		if len(ds) != 5 {
			t.Fatalf("%d delivered, want 5", len(ds))
		}
		first := ds[len(ds)-1] // newest first
		if first.EventID != want[0] || first.Attempts != 4 || len(first.Log) != 4 {
			t.Fatalf("first delivery: %+v", first)
		}
		for i, a := range first.Log {
			wantStatus := 503
			if i == 3 {
				wantStatus = 204
			}
			if a.StatusCode != wantStatus || (i < 3 && !strings.Contains(a.Error, "503")) || (i == 3 && a.Error != "") {
				t.Fatalf("log entry %d: %+v", i, a)
			}
			if strings.Contains(a.Error, "try later") {
				t.Fatalf("log entry %d quotes the receiver's body: %q", i, a.Error)
			}
		}
		if pending := deliveries(t, svc, ws, ep.ID, webhook.StatePending); len(pending) != 0 {
			t.Fatalf("%d still pending", len(pending))
		}
	})
}

// After MaxAttempts failures a delivery is dead, and the lane moves past
// it. A redelivery sends the same event ID again with fresh attempts.
func TestDeadLetterAndRedelivery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		svc := newService(t, db, webhook.Options{MaxAttempts: 3})
		rc := newReceiver(t, 0)
		rc.setFailing(true)
		ep, secret := createEndpoint(t, svc, ws, rc.URL, webhook.TypeContactObjected)
		rc.setSecret(secret)
		notify(t, db, svc, ws, webhook.TypeContactObjected, id.New(), nil)
		startQueue(t, db, svc, "n1")
		waitFor(t, "the dead letter", func() bool { return len(deliveries(t, svc, ws, ep.ID, webhook.StateDead)) == 1 })
		dead := deliveries(t, svc, ws, ep.ID, webhook.StateDead)[0]
		if dead.Attempts != 3 || len(dead.Log) != 3 || dead.LastStatus != 503 || dead.LastError == "" {
			t.Fatalf("dead delivery: %+v", dead)
		}
		if n := len(rc.requests()); n != 3 {
			t.Fatalf("%d requests, want exactly MaxAttempts=3", n)
		}

		// The receiver recovers; a later event is not held back by the dead one.
		rc.setFailing(false)
		notify(t, db, svc, ws, webhook.TypeContactObjected, id.New(), nil)
		waitFor(t, "the next event", func() bool { return len(rc.delivered()) == 1 })

		if _, err := svc.Redeliver(ctx, ws, id.New()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("redeliver unknown: %v", err)
		}
		d, err := svc.Redeliver(ctx, ws, dead.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != webhook.StatePending || d.Attempts != 0 || d.EventID != dead.EventID {
			t.Fatalf("redelivered: %+v", d)
		}
		waitFor(t, "the redelivery", func() bool { return len(rc.delivered()) == 2 })
		if got := rc.delivered()[1]; got != dead.EventID {
			t.Fatalf("redelivery carried event %s, want the original %s", got, dead.EventID)
		}
		var again webhook.Delivery
		waitFor(t, "the redelivery recorded", func() bool {
			var err error
			if again, err = svc.Delivery(ctx, ws, dead.ID); err != nil {
				t.Fatal(err)
			}
			return again.State != webhook.StatePending
		})
		if again.State != webhook.StateDelivered || again.Attempts != 1 || len(again.Log) != 4 {
			t.Fatalf("after redelivery: %+v", again)
		}
		// A disabled endpoint gets no redelivery.
		if err := db.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = $3 WHERE workspace_id = $1 AND id = $2`, ws, ep.ID, time.Now().UTC())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Redeliver(ctx, ws, dead.ID); !errors.Is(err, webhook.ErrEndpointDisabled) {
			t.Fatalf("redeliver to a disabled endpoint: %v", err)
		}
	})
}

// A crash between commit and delivery loses nothing. The event commits
// while no worker runs; the first node takes the request to the receiver
// and is then stopped abruptly (its handler cancelled mid-request, as on a
// kill, so it records nothing); a lane left behind by a dead node has to
// expire; a fresh node delivers. The receiver sees the same event ID on
// both requests, so deduplicating on Fairlead-Event-Id gives exactly one
// effect.
func TestCrashBetweenCommitAndDeliveryLosesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		svc := newService(t, db, webhook.Options{Timeout: 2 * time.Second})
		rc := newReceiver(t, 0)
		ep, secret := createEndpoint(t, svc, ws, rc.URL, webhook.TypeContactErased)
		rc.setSecret(secret)
		hold := make(chan struct{})
		rc.mu.Lock()
		rc.hold = hold
		rc.mu.Unlock()

		notify(t, db, svc, ws, webhook.TypeContactErased, id.New(), nil)
		events := eventIDs(t, db, ws)

		_, stop := startQueue(t, db, svc, "doomed")
		select {
		case <-rc.arrived:
		case <-time.After(waitTimeout):
			t.Fatal("the first node never sent")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel() // no grace: cancel the handler at once
		_ = stop(cctx)
		close(hold)
		if ds := deliveries(t, svc, ws, ep.ID, webhook.StatePending); len(ds) != 1 || len(ds[0].Log) != 0 {
			t.Fatalf("after the crash: %+v, want one pending delivery without a recorded attempt", ds)
		}
		// A dead node's lane lease must run out before anyone sends.
		if _, err := db.W.ExecContext(ctx, `UPDATE webhook_endpoints SET lane_owner = 'dead-node', lane_until = $3 WHERE workspace_id = $1 AND id = $2`,
			ws, ep.ID, time.Now().UTC().Add(700*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		restarted := time.Now()
		startQueue(t, db, svc, "fresh")
		waitFor(t, "delivery after restart", func() bool { return len(rc.delivered()) >= 1 })
		if time.Since(restarted) < 600*time.Millisecond {
			t.Fatal("sent while another node's lane lease was still running")
		}
		reqs := rc.requests()
		seen := map[string]int{}
		for _, r := range reqs {
			seen[r.EventID]++
		}
		if len(seen) != 1 || seen[events[0]] != len(reqs) || len(reqs) > 2 {
			t.Fatalf("requests %+v, want the one event %s (at most twice, same ID)", seen, events[0])
		}
		waitFor(t, "delivered state", func() bool { return len(deliveries(t, svc, ws, ep.ID, webhook.StateDelivered)) == 1 })
	})
}

// Notify writes in the caller's transaction: a rollback leaves nothing, a
// disabled or unsubscribed endpoint gets nothing, and the payload carries
// IDs, not personal values.
func TestNotifyJoinsTheCallersTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		svc := newService(t, db, webhook.Options{})
		a, _ := createEndpoint(t, svc, ws, "https://erp.example.com/hook", webhook.TypeContactErased)
		off, _ := createEndpoint(t, svc, ws, "https://crm.example.com/hook", webhook.TypeContactErased)
		disabled := true
		if _, err := svc.Update(ctx, ws, off.ID, webhook.EndpointUpdate{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		createEndpoint(t, svc, ws, "https://shop.example.com/hook", webhook.TypeConsentWithdrawn)
		count := func(table string) int {
			var n int
			if err := db.R.QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		boom := errors.New("the caller's change failed")
		err := db.Tx(ctx, func(tx store.Tx) error {
			if err := svc.Notify(ctx, tx, ws, webhook.TypeContactErased, id.New(), nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if n := count("webhook_events") + count("webhook_deliveries") + count("jobs"); n != 0 {
			t.Fatalf("a rolled back notify left %d rows", n)
		}
		contact := id.New()
		notify(t, db, svc, ws, webhook.TypeContactErased, contact, map[string]any{"ledger_event_id": "x"})
		if count("webhook_events") != 1 || count("webhook_deliveries") != 1 || count("jobs") != 1 {
			t.Fatalf("events %d, deliveries %d, jobs %d; want one each (only the enabled subscriber)",
				count("webhook_events"), count("webhook_deliveries"), count("jobs"))
		}
		ds := deliveries(t, svc, ws, a.ID, "")
		if len(ds) != 1 || ds[0].ContactID != contact || ds[0].State != webhook.StatePending || ds[0].NextAttemptAt == nil {
			t.Fatalf("deliveries: %+v", ds)
		}
		if err := svc.Notify(ctx, db.W, ws, "contact.deleted", contact, nil); err == nil || !strings.Contains(err.Error(), "contact.erased") {
			t.Fatalf("unknown type: %v", err)
		}
		if _, err := svc.Deliveries(ctx, ws, a.ID, webhook.DeliveryFilter{State: "lost"}); err == nil || !strings.Contains(err.Error(), "pending, delivered, dead") {
			t.Fatalf("bad state filter: %v", err)
		}
	})
}
