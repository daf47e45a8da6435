package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const waitTimeout = 60 * time.Second

var quiet = slog.New(slog.DiscardHandler)

func newWorkspace(t testing.TB, db *store.DB) string {
	t.Helper()
	ws := id.New()
	if _, err := db.W.ExecContext(context.Background(), `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`,
		ws, "ws-"+ws, "Workspace", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	return ws
}

func newKeys(t testing.TB, db *store.DB) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(db, []byte("0123456789abcdef0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newService returns a Service that may reach loopback, with a backoff
// short enough for tests.
func newService(t testing.TB, db *store.DB, o webhook.Options) *webhook.Service {
	t.Helper()
	o.AllowPrivate = true
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	o.Logger = quiet
	return webhook.New(db, newKeys(t, db), o)
}

// startQueue starts a queue running the service's deliveries; the returned
// stop function stops it (also at the end of the test).
func startQueue(t testing.TB, db *store.DB, svc *webhook.Service, node string) (*jobs.Queue, func(ctx context.Context) error) {
	t.Helper()
	q := jobs.New(db, jobs.Options{Node: node, PollInterval: 20 * time.Millisecond, Logger: quiet,
		Backoff: func(int) time.Duration { return 20 * time.Millisecond }})
	svc.Register(q)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func(ctx context.Context) error {
		var err error
		once.Do(func() { err = q.Stop(ctx) })
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = stop(ctx)
	})
	return q, stop
}

// request is one request the receiver got.
type request struct {
	EventID, EventType, DeliveryID string
	Signature                      string
	Body                           []byte
	Status                         int
	SignatureOK                    bool
	Event                          webhook.Event
}

// receiver is a real HTTP server on loopback that answers 503 to the first
// failFirst requests (or while failing is set) and 204 after, and checks
// each request's signature with the secret it is given.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	secret    string
	failFirst int
	failing   bool
	hold      chan struct{} // when set, requests wait on it
	arrived   chan struct{}
	reqs      []request
}

func newReceiver(t testing.TB, failFirst int) *receiver {
	rc := &receiver{failFirst: failFirst, arrived: make(chan struct{}, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	hold := rc.hold
	rc.mu.Unlock()
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	aborted := r.Context().Err() != nil
	req := request{EventID: r.Header.Get("Fairlead-Event-Id"), EventType: r.Header.Get("Fairlead-Event-Type"),
		DeliveryID: r.Header.Get("Fairlead-Delivery-Id"), Signature: r.Header.Get("Fairlead-Signature"), Body: body}
	req.SignatureOK = verify(rc.secret, req.Signature, body, 5*time.Minute) == nil
	_ = json.Unmarshal(body, &req.Event)
	req.Status = http.StatusNoContent
	if len(rc.reqs) < rc.failFirst || rc.failing {
		req.Status = http.StatusServiceUnavailable
	}
	if aborted {
		req.Status = 0 // the sender gave up before an answer
	}
	rc.reqs = append(rc.reqs, req)
	if aborted {
		return
	}
	w.WriteHeader(req.Status)
	if req.Status != http.StatusNoContent {
		fmt.Fprint(w, "try later")
	}
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	rc.secret = s
	rc.mu.Unlock()
}

func (rc *receiver) setFailing(b bool) {
	rc.mu.Lock()
	rc.failing = b
	rc.mu.Unlock()
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// delivered lists the event IDs answered with success, in arrival order.
func (rc *receiver) delivered() []string {
	var out []string
	for _, r := range rc.requests() {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r.EventID)
		}
	}
	return out
}

// verify is what docs/webhooks.md tells receivers to do.
func verify(secret, header string, body []byte, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp outside tolerance")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notify commits one event in its own transaction.
func notify(t testing.TB, db *store.DB, svc *webhook.Service, ws, typ, contactID string, data map[string]any) {
	t.Helper()
	if err := db.Tx(context.Background(), func(tx store.Tx) error {
		return svc.Notify(context.Background(), tx, ws, typ, contactID, data)
	}); err != nil {
		t.Fatal(err)
	}
}

func createEndpoint(t testing.TB, svc *webhook.Service, ws, url string, types ...string) (webhook.Endpoint, string) {
	t.Helper()
	ep, secret, err := svc.Create(context.Background(), ws, webhook.NewEndpoint{Name: "ERP", URL: url, EventTypes: types, DataCategories: []string{"contact data"}})
	if err != nil {
		t.Fatal(err)
	}
	return ep, secret
}

// eventIDs returns the workspace's webhook event IDs in creation order.
func eventIDs(t testing.TB, db *store.DB, ws string) []string {
	t.Helper()
	ids, err := store.Strings(context.Background(), db.R, `SELECT id FROM webhook_events WHERE workspace_id = $1 ORDER BY id`, ws)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func deliveries(t testing.TB, svc *webhook.Service, ws, epID, state string) []webhook.Delivery {
	t.Helper()
	ds, err := svc.Deliveries(context.Background(), ws, epID, webhook.DeliveryFilter{State: state, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}
