package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/webhook"
)

// isolationCase calls one ID-taking repository function with workspace B
// and an ID that belongs to workspace A.
type isolationCase func(ctx context.Context, h *harness, wsB string, ids map[string]string) error

// scopedRepositories are the types whose methods take (ctx, workspaceID, id,
// …). Every such method must have a case below: adding one without a case
// fails TestWorkspaceIsolation.
func scopedRepositories(h *harness) []any {
	contacts, purposes, notices, ledger := h.consent()
	svc := h.capture()
	return []any{auth.NewStore(h.db, nil), h.queue, contacts, contacts.Keys(), purposes, notices, ledger,
		audience.New(h.db, ledger, purposes, nil), svc, svc.Delivery.Outbox, svc.Settings, h.webhooks(), h.privacy(),
		h.campaigns()}
}

// campaigns returns the campaign service wired as newInstance wires it.
func (h *harness) campaigns() *campaign.Service {
	contacts, purposes, _, ledger := h.consent()
	return campaignService(h.db, h.cfg, audience.New(h.db, ledger, purposes, nil), contacts, h.capture(), h.privacy(), h.queue, h.log)
}

// campaignRows gives workspace A a campaign, for the isolation test.
func campaignRows(t *testing.T, h *harness, ws string) map[string]string {
	t.Helper()
	c, err := h.campaigns().Create(context.Background(), ws, campaign.Input{Name: "A's campaign", Purpose: "newsletter",
		Steps: []campaign.Step{{Subject: "Hallo {{first_name}}", Text: "Neuigkeiten"}}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"campaign": c.ID}
}

// privacy returns the privacy service wired as newInstance wires it.
func (h *harness) privacy() *privacy.Service {
	return privacyService(h.capture(), h.queue, h.log, h.webhooks())
}

// capture returns the capture service wired as newInstance wires it.
func (h *harness) capture() *capture.Service {
	contacts, purposes, notices, ledger := h.consent()
	return captureService(h.db, h.cfg, contacts, purposes, notices, ledger, audience.New(h.db, ledger, purposes, nil), h.queue, h.log)
}

// notIDTaking lists methods whose third argument is a string but not an ID
// of an existing row, with the reason.
var notIDTaking = map[string]string{
	"Store.CreateToken":      "creates a token; the third argument is its name",
	"Keyring.CreateKey":      "creates the key of a new contact; a key made in workspace B is B's and opens nothing of A",
	"Notices.List":           "the third argument is a kind filter",
	"Notices.Create":         "creates a notice; the third argument is the actor",
	"Ledger.AllowedContacts": "the third argument is a purpose key; rows are filtered by workspace",
	"Service.SaveForm":       "the third argument is the actor; form keys are public addresses, and a key another workspace holds is refused as taken (see TestFormIsolation)",
	"Service.RequestLink":    "the third argument is an e-mail address, looked up in the workspace's own blind index",
	"Service.ConfirmCode":    "the first string is a signed link that names its own workspace",
	"Service.Withdraw":       "the first string is a signed link that names its own workspace",
	"Ledger.CountAllowed":    "the third argument is a purpose key; rows are filtered by workspace",
	"Service.Notify":         "the third argument is an event type; it writes only workspace B's own endpoints' deliveries",
	"Service.OnLedgerEvent":  "the ledger calls it after an append in the same workspace, which Ledger.Append's case covers",
	"Service.Suppressed":     "the third argument is a blind index, looked up in the workspace's own suppression list",
	"Service.SetPolicy":      "the third argument is a rule key; policies are rows of the caller's workspace",
}

func isolationCases() map[string]isolationCase {
	role, name, disabled := "admin", "taken over", true
	return map[string]isolationCase{
		"Store.User": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := auth.NewStore(h.db, nil).User(ctx, b, ids["user"])
			return err
		},
		"Store.UpdateUser": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := auth.NewStore(h.db, nil).UpdateUser(ctx, b, ids["user"], auth.UserUpdate{Role: &role, Name: &name, Disabled: &disabled})
			return err
		},
		"Store.Token": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := auth.NewStore(h.db, nil).Token(ctx, b, ids["token"])
			return err
		},
		"Store.RevokeToken": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return auth.NewStore(h.db, nil).RevokeToken(ctx, b, ids["token"])
		},
		"Ledger.Append": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, _, ledger := h.consent()
			_, err := ledger.Append(ctx, nil, b, ids["contact"], consent.NewEvent{Kind: consent.KindErasureRequested}, consent.Actor{})
			return err
		},
		"Ledger.Refresh": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, _, ledger := h.consent()
			return ledger.Refresh(ctx, h.db.W, b, ids["contact"])
		},
		"Keyring.Shred": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			contacts, _, _, _ := h.consent()
			return contacts.Keys().Shred(ctx, h.db.W, b, ids["contact"])
		},
		"Store.PointsIn": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			contacts, _, _, _ := h.consent()
			_, err := contacts.PointsIn(ctx, h.db.R, b, ids["contact"])
			return err
		},
		"Resolver.Decide": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, purposes, ledger := h.consentWithPurposes()
			_, err := audience.New(h.db, ledger, purposes, nil).Decide(ctx, b, ids["contact"], "product_offers", "post", audience.Campaign{})
			return err
		},
		"Resolver.Matrix": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, purposes, ledger := h.consentWithPurposes()
			cells, err := audience.New(h.db, ledger, purposes, nil).Matrix(ctx, b, ids["contact"])
			if err == nil {
				return fmt.Errorf("workspace B got a matrix of %d cells for A's contact", len(cells))
			}
			return err
		},
		"Store.CheckLogin": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := auth.NewStore(h.db, nil).CheckLogin(ctx, b, "victim@example.com", "victim password 1")
			if errors.Is(err, auth.ErrBadCredentials) {
				return store.ErrNotFound
			}
			return err
		},
		"Store.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Get(ctx, b, ids["contact"])
			return err
		},
		"Store.Update": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			email := "thief@example.com"
			_, err := c.Update(ctx, b, ids["contact"], contact.Update{Email: &email, LastName: &name})
			return err
		},
		"Store.Points": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Points(ctx, b, ids["contact"])
			return err
		},
		"Keyring.Seal": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Keys().Seal(ctx, b, ids["contact"], []byte("x"))
			return err
		},
		"Keyring.Open": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Keys().Open(ctx, b, ids["contact"], []byte("sealed in workspace A"))
			return err
		},
		"Keyring.Opener": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Keys().Opener(ctx, b, ids["contact"])
			return err
		},
		"Ledger.Events": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, _, l := h.consent()
			_, err := l.Events(ctx, b, ids["contact"], true)
			return err
		},
		"Ledger.Facts": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, _, l := h.consent()
			_, _, err := l.Facts(ctx, b, ids["contact"], "newsletter", "email", time.Now())
			return err
		},
		"Purposes.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, p, _, _ := h.consent()
			_, err := p.Get(ctx, b, ids["purpose"])
			return err
		},
		"Notices.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, n, _ := h.consent()
			_, err := n.Get(ctx, b, ids["notice"])
			return err
		},
		"Service.Form": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.capture().Form(ctx, b, ids["form"])
			return err
		},
		"Service.FormVersion": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.capture().FormVersion(ctx, b, ids["form"], 1)
			return err
		},
		"Service.Erase": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().Erase(ctx, b, ids["contact"], consent.Actor{})
			return err
		},
		"Service.Suppress": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().Suppress(ctx, b, ids["contact"], "do_not_contact")
			return err
		},
		"Service.AccessExport": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().AccessExport(ctx, b, ids["contact"])
			return err
		},
		"Service.Case": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().Case(ctx, b, ids["dsr"])
			return err
		},
		"Service.Extend": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().Extend(ctx, b, ids["dsr"], 1, "taken over", consent.Actor{})
			return err
		},
		"Service.SendVerification": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().SendVerification(ctx, b, ids["dsr"], "de", consent.Actor{})
			return err
		},
		"Service.Verify": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().Verify(ctx, b, ids["dsr"], "other", "", consent.Actor{})
			return err
		},
		"Service.Complete": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.privacy().Complete(ctx, b, ids["dsr"], "rejected", "taken over", consent.Actor{})
			return err
		},
		"Service.Values": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.capture().Values(ctx, b, ids["contact"])
			return err
		},
		"Outbox.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.capture().Delivery.Outbox.Get(ctx, b, ids["outbox"])
			return err
		},
		"Service.Endpoint": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.webhooks().Endpoint(ctx, b, ids["webhook"])
			return err
		},
		"Service.Update": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			u := "https://thief.example/hook"
			_, err := h.webhooks().Update(ctx, b, ids["webhook"], webhook.EndpointUpdate{URL: &u, Disabled: &disabled})
			return err
		},
		"Service.RotateSecret": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, secret, err := h.webhooks().RotateSecret(ctx, b, ids["webhook"])
			if err == nil {
				return fmt.Errorf("workspace B got a new secret %q for A's endpoint", secret)
			}
			return err
		},
		"Service.Deliveries": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.webhooks().Deliveries(ctx, b, ids["webhook"], webhook.DeliveryFilter{})
			return err
		},
		"Service.Delivery": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.webhooks().Delivery(ctx, b, ids["delivery"])
			return err
		},
		"Service.Redeliver": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.webhooks().Redeliver(ctx, b, ids["delivery"])
			return err
		},
		"Service.Recipients": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			rs, err := h.webhooks().Recipients(ctx, b, ids["contact"])
			if err == nil && len(rs) > 0 {
				return fmt.Errorf("workspace B sees %d recipients of A's contact", len(rs))
			}
			if err == nil {
				return store.ErrNotFound
			}
			return err
		},
		"Service.SuppressIn": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.privacy().SuppressIn(ctx, h.db.W, b, "email", "ix", "do_not_contact", ids["contact"])
		},
		"Service.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.campaigns().Get(ctx, b, ids["campaign"])
			return err
		},
		"Service.Report": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.campaigns().Report(ctx, b, ids["campaign"])
			return err
		},
		"Service.Run": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.campaigns().Run(ctx, b, ids["campaign"])
			return err
		},
		"Service.Schedule": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, err := h.campaigns().Schedule(ctx, b, ids["campaign"], time.Time{})
			return err
		},
		"Service.Pause": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.campaigns().Pause(ctx, b, ids["campaign"])
		},
		"Service.Resume": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.campaigns().Resume(ctx, b, ids["campaign"])
		},
		"Service.Preview": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.campaigns().Preview(ctx, b, ids["campaign"], 0, "")
			return err
		},
		"Service.TestSend": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.campaigns().TestSend(ctx, b, ids["campaign"], 0, "thief@example.net", "")
		},
		"Queue.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.queue.Get(ctx, b, ids["job"])
			return err
		},
		"Queue.Attempts": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			at, err := h.queue.Attempts(ctx, b, ids["job"])
			if err == nil && len(at) > 0 {
				return fmt.Errorf("saw %d attempts of another workspace's job", len(at))
			}
			return err
		},
		"Queue.Retry": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.queue.Retry(ctx, b, ids["deadjob"])
			return err
		},
		"Queue.Cancel": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.queue.Cancel(ctx, b, ids["job"])
			return err
		},
	}
}

// snapshot dumps workspace A's rows so a test can prove nothing changed.
func snapshot(t *testing.T, h *harness, wsID string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, email, name, role, disabled_at IS NULL FROM users WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, name, role, revoked_at IS NULL FROM api_tokens WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, state, attempt, max_attempts FROM jobs WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, audience, relationship, sealed, email_index, phone_index, updated_at FROM contacts WHERE workspace_id = $1 ORDER BY id`,
		`SELECT contact_id, wrapped FROM contact_keys WHERE workspace_id = $1 ORDER BY contact_id`,
		`SELECT id, seq, hash FROM ledger_events WHERE workspace_id = $1 ORDER BY seq`,
		`SELECT seq, hash FROM ledger_heads WHERE workspace_id = $1`,
		`SELECT purpose_key, kind, channels FROM purposes WHERE workspace_id = $1 ORDER BY purpose_key`,
		`SELECT hash, kind FROM notices WHERE workspace_id = $1 ORDER BY hash`,
		`SELECT form_key, version, definition FROM forms WHERE workspace_id = $1 ORDER BY form_key`,
		`SELECT id, recipient, body FROM outbox_messages WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, name, superseded_at FROM contact_values WHERE workspace_id = $1 ORDER BY id`,
		`SELECT settings, secrets FROM workspace_settings WHERE workspace_id = $1`,
		`SELECT id, name, url, secret, event_types, data_categories, disabled_at IS NULL, next_seq FROM webhook_endpoints WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, state, seq, attempts FROM webhook_deliveries WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, status, due_at, extended_months, verified_at, closed_at FROM dsr_cases WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, step FROM dsr_case_log WHERE workspace_id = $1 ORDER BY id`,
		`SELECT contact_id, status FROM erasures WHERE workspace_id = $1 ORDER BY contact_id`,
		`SELECT kind, blind_index, reason FROM suppressions WHERE workspace_id = $1 ORDER BY kind, blind_index`,
		`SELECT rule, enabled, after_days FROM retention_policies WHERE workspace_id = $1 ORDER BY rule`,
		`SELECT id, name, status, starts_at FROM campaigns WHERE workspace_id = $1 ORDER BY id`,
		`SELECT campaign_id, step, contact_id, status FROM campaign_messages WHERE workspace_id = $1 ORDER BY campaign_id, step, contact_id`,
	} {
		rows, err := h.db.R.Query(q, wsID)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// TestWorkspaceIsolation proves, for every repository function that takes
// an ID and for every API route with an {id}, that workspace B can neither
// read nor change workspace A's rows.
func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t, d)
			a := h.ws.ID
			as := auth.NewStore(h.db, nil)
			u, err := as.CreateUser(ctx, a, auth.NewUser{Email: "victim@example.com", Role: "sales", Password: "victim password 1"})
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := as.CreateToken(ctx, a, "victim token", "viewer")
			if err != nil {
				t.Fatal(err)
			}
			job, err := jobs.Enqueue(ctx, h.db.W, jobs.EnqueueParams{WorkspaceID: a, Kind: "system.noop", Args: map[string]int{}})
			if err != nil {
				t.Fatal(err)
			}
			dead, err := jobs.Enqueue(ctx, h.db.W, jobs.EnqueueParams{WorkspaceID: a, Kind: "system.noop", Args: map[string]int{}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.db.W.Exec(`UPDATE jobs SET state = 'dead', attempt = max_attempts WHERE id = $1`, dead); err != nil {
				t.Fatal(err)
			}
			ids := map[string]string{"user": u.ID, "token": tok.ID, "job": job, "deadjob": dead}
			for k, v := range consentRows(t, h, a) {
				ids[k] = v
			}
			for k, v := range captureRows(t, h, a, ids["contact"]) {
				ids[k] = v
			}
			for k, v := range webhookRows(t, h, a, ids["contact"]) {
				ids[k] = v
			}
			for k, v := range campaignRows(t, h, a) {
				ids[k] = v
			}
			dsr, err := h.privacy().Open(ctx, a, privacy.OpenCase{ContactID: ids["contact"], RequestType: "access"}, consent.Actor{})
			if err != nil {
				t.Fatal(err)
			}
			ids["dsr"] = dsr.ID
			before := snapshot(t, h, a)

			// Every scoped method has a case.
			cases := isolationCases()
			ctxT := reflect.TypeFor[context.Context]()
			strT := reflect.TypeFor[string]()
			querierT := reflect.TypeFor[store.Querier]()
			for _, repo := range scopedRepositories(h) {
				rt := reflect.TypeOf(repo)
				for i := 0; i < rt.NumMethod(); i++ {
					m := rt.Method(i)
					ft := m.Type // receiver first
					idTaking := ft.NumIn() >= 4 && ft.In(1) == ctxT && ft.In(2) == strT && ft.In(3) == strT
					// Methods that join the caller's transaction take it first.
					txTaking := ft.NumIn() >= 5 && ft.In(1) == ctxT && ft.In(2) == querierT && ft.In(3) == strT && ft.In(4) == strT
					if idTaking || txTaking {
						key := rt.Elem().Name() + "." + m.Name
						if _, ok := cases[key]; !ok && notIDTaking[key] == "" {
							t.Errorf("%s takes (ctx, workspaceID, id): add an isolation case for it", key)
						}
					}
				}
			}
			for name, c := range cases {
				err := c(ctx, h, h.other.ID, ids)
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s from workspace B on A's row: %v, want ErrNotFound", name, err)
				}
			}
			// Listing from B shows none of A's rows.
			if us, _ := as.Users(ctx, h.other.ID); len(us) != 0 {
				t.Errorf("workspace B lists %d users", len(us))
			}
			if ts, _ := as.Tokens(ctx, h.other.ID); len(ts) != 1 {
				t.Errorf("workspace B lists %d tokens, want only its own", len(ts))
			}
			if js, _ := h.queue.List(ctx, h.other.ID, jobs.ListParams{}); len(js) != 0 {
				t.Errorf("workspace B lists %d jobs", len(js))
			}

			// The same through the API with B's admin token.
			for _, rt := range apiRoutes(h) {
				if !strings.Contains(rt.Path, "{id}") {
					continue
				}
				for kind, idv := range ids {
					var body any
					if rt.Method == "PATCH" || rt.Method == "POST" {
						body = map[string]any{"role": "admin", "disabled": true}
						if rt.Method == "POST" {
							body = nil
						}
					}
					r := h.do(rt.Method, strings.ReplaceAll(rt.Path, "{id}", idv), h.otherAdmin, body)
					if r.Status != 404 {
						t.Errorf("%s with A's %s as workspace B: %d, want 404: %s", rt.Pattern(), kind, r.Status, r.Body)
					}
				}
			}
			if after := snapshot(t, h, a); after != before {
				t.Errorf("workspace A's rows changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// consentWithPurposes is h.consent reordered for the resolver cases.
func (h *harness) consentWithPurposes() (*contact.Store, *consent.Notices, *consent.Purposes, *consent.Ledger) {
	c, p, n, l := h.consent()
	return c, n, p, l
}

// captureRows gives workspace A a form, an outbox message and a value of
// its contact, for the isolation test.
func captureRows(t *testing.T, h *harness, ws, contactID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	h.seedDemo()
	svc := h.capture()
	mid, err := svc.Delivery.Outbox.Put(ctx, h.db.W, ws, outbox.Item{Channel: "email", ContactID: contactID, To: "victim@example.com", Subject: "x", Body: "secret body"})
	if err != nil {
		t.Fatal(err)
	}
	if p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"victim@example.com"}, "first_name": {"Vic"}, "newsletter_email": {"1"}}); p.Status != 303 {
		t.Fatalf("submit: %d %s", p.Status, p.Body)
	}
	return map[string]string{"form": "demo-newsletter", "outbox": mid}
}

// TestFormIsolation: workspace B cannot read, change or take over A's
// form, whose key is a public address.
func TestFormIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	h.seedDemo()
	before := snapshot(t, h, h.ws.ID)
	def := h.do("GET", "/api/v1/forms/demo-newsletter", h.tokens[auth.RoleAdmin], nil).Body
	if r := h.do("GET", "/api/v1/forms/demo-newsletter", h.otherAdmin, nil); r.Status != 404 {
		t.Fatalf("B reads A's form: %d", r.Status)
	}
	for _, path := range []string{"/api/v1/forms/demo-newsletter/versions/1", "/api/v1/forms/demo-newsletter/snippet"} {
		if r := h.do("GET", path, h.otherAdmin, nil); r.Status != 404 {
			t.Fatalf("B reads %s: %d", path, r.Status)
		}
	}
	var f struct {
		Definition json.RawMessage `json:"definition"`
	}
	_ = json.Unmarshal(def, &f)
	if r := h.do("PUT", "/api/v1/forms/demo-newsletter", h.otherAdmin, f.Definition); r.Status != 400 && r.Status != 422 {
		t.Fatalf("B saves under A's key: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/api/v1/forms", h.otherAdmin, nil); strings.Contains(string(r.Body), "demo-newsletter") {
		t.Fatalf("B lists A's form: %s", r.Body)
	}
	if after := snapshot(t, h, h.ws.ID); after != before {
		t.Fatalf("A's rows changed")
	}
}
