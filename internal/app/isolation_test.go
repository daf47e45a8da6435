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
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/web/admin"
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
		h.suppliers(),
		admin.NewSessions(h.db, 0, 0, nil), h.totp(), admin.NewProcessors(h.db, nil),
		h.track().Store, h.track(), h.track().Pseudonyms, h.leads(), h.importer(), h.campaigns()}
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

// importer returns the import service wired as newInstance wires it.
func (h *harness) importer() *importer.Service {
	contacts, _, notices, ledger := h.consent()
	return &importer.Service{DB: h.db, Contacts: contacts, Ledger: ledger, Notices: notices}
}

// importRows gives workspace A an import of a third-party contact with its
// Art. 14 task, for the isolation test.
func importRows(t *testing.T, h *harness, ws string) map[string]string {
	t.Helper()
	ctx := context.Background()
	svc := h.importer()
	rep, err := svc.Import(ctx, ws, strings.NewReader("email,last_name\nbought.victim@example.com,V\n"), importer.Options{Source: "broker", DataSource: "third_party"})
	if err != nil || rep.Created != 1 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	ts, err := svc.Tasks(ctx, ws, importer.TaskParams{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tasks: %v %v", ts, err)
	}
	return map[string]string{"import": rep.ImportID, "art14": ts[0].ID}
}

// track returns the tracking service wired as newInstance wires it.
func (h *harness) track() *track.Service {
	contacts, purposes, _, ledger := h.consent()
	s := trackService(h.db, contacts.Keys())
	s.Decider = audience.New(h.db, ledger, purposes, nil)
	return s
}

// leads returns the lead service wired as newInstance wires it.
func (h *harness) leads() *lead.Service {
	contacts, purposes, _, ledger := h.consent()
	return leadService(h.db, h.cfg, contacts, audience.New(h.db, ledger, purposes, nil), h.webhooks(), h.capture(), track.NewStore(h.db, nil))
}

// leadRows gives workspace A a segment and a scored contact.
func leadRows(t *testing.T, h *harness, ws, contactID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	svc := h.leads()
	if err := svc.Events.Record(ctx, nil, ws, []track.Event{{ContactID: contactID, Type: "download", Name: "whitepaper"}}); err != nil {
		t.Fatal(err)
	}
	sg, err := svc.SaveSegment(ctx, ws, "", "user:a", "B2C", lead.Filter{Field: "audience", Op: "eq", Value: "b2c"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"segment": sg.ID}
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
	"Backflow.CurrentNotice": "the third argument is a language; notices are read from the caller's workspace",
	"Backflow.SaveTemplate":  "the third argument is the actor; templates are found by name in the caller's workspace",
	"Backflow.OnLedgerEvent": "the ledger calls it after an append in the same workspace, which Ledger.Append's case covers",
	"Store.CountByRef":       "the third argument is a ref prefix; rows are filtered by workspace",
	"Service.Export":         "the third argument is a format; the export lists only the caller's workspace's contacts",
	"Pseudonyms.Forget":      "the fourth argument is a visitor signal, keyed with the workspace's own period key",
	"Service.SaveRules":      "the third argument is the actor; rule sets are rows of the caller's workspace",
	"Service.StagePage":      "the third argument is a stage; rows are filtered by workspace, and a contact ID of another workspace as after only moves where B's own page starts",
}

func isolationCases() map[string]isolationCase {
	role, name, disabled := "admin", "taken over", true
	return map[string]isolationCase{
		"Service.Score": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().Score(ctx, b, ids["contact"])
			return err
		},
		"Service.Stage": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().Stage(ctx, b, ids["contact"])
			return err
		},
		"Service.LeadState": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().LeadState(ctx, b, ids["contact"])
			return err
		},
		"Service.ScoreHistory": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().ScoreHistory(ctx, b, ids["contact"], "en", 0)
			return err
		},
		"Service.Transitions": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().Transitions(ctx, b, ids["contact"])
			return err
		},
		"Service.Move": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().Move(ctx, b, ids["contact"], auth.RoleAdmin, "user:b", "disqualified", "taken over")
			return err
		},
		"Service.ExplicitConsent": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().ExplicitConsent(ctx, b, ids["contact"])
			return err
		},
		"Service.Segment": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().Segment(ctx, b, ids["segment"])
			return err
		},
		"Service.SaveSegment": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().SaveSegment(ctx, b, ids["segment"], "user:b", "taken", lead.Filter{Field: "audience", Op: "eq", Value: "b2b"})
			return err
		},
		"Service.Members": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.leads().Members(ctx, b, ids["segment"], func(string) error { return nil })
		},
		"Service.MemberPage": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().MemberPage(ctx, b, ids["segment"], "", 10)
			return err
		},
		"Service.SegmentFeedback": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().SegmentFeedback(ctx, b, ids["segment"])
			return err
		},
		"Service.SegmentFeedbackCounts": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.leads().SegmentFeedbackCounts(ctx, b, ids["segment"])
			return err
		},
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
		"Sessions.Create": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := admin.NewSessions(h.db, 0, 0, nil).Create(ctx, b, ids["user"], "en", false)
			return err
		},
		"Sessions.DeleteUser": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return admin.NewSessions(h.db, 0, 0, nil).DeleteUser(ctx, b, ids["user"])
		},
		"TOTP.Enrol": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.totp().Enrol(ctx, b, ids["user"], "x")
			return err
		},
		"TOTP.Active": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.totp().Active(ctx, b, ids["user"])
			return err
		},
		"TOTP.Verify": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.totp().Verify(ctx, b, ids["user"], "123456", true)
		},
		"Processors.Remove": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return admin.NewProcessors(h.db, nil).Remove(ctx, b, ids["processor"])
		},
		"TOTP.Remove": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			return h.totp().Remove(ctx, b, ids["user"])
		},
		"Store.ForContact": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			evs, err := h.track().Store.ForContact(ctx, b, ids["contact"], 0)
			if err == nil && len(evs) > 0 {
				return fmt.Errorf("workspace B read %d of A's tracking events", len(evs))
			}
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		},
		"Store.Happened": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			ok, err := h.track().Store.Happened(ctx, b, ids["contact"], "page_view", "", time.Time{})
			if err == nil && ok {
				return errors.New("workspace B saw A's tracking event")
			}
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		},
		"Store.Range": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			n := 0
			err := h.track().Store.Range(ctx, b, ids["contact"], ids["contact"], func(track.Event) error { n++; return nil })
			if err == nil && n > 0 {
				return fmt.Errorf("workspace B read %d of A's tracking events", n)
			}
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		},
		"Store.DeleteContact": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			n, err := h.track().Store.DeleteContact(ctx, h.db.W, b, ids["contact"])
			if err == nil && n > 0 {
				return fmt.Errorf("workspace B deleted %d of A's tracking events", n)
			}
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		},
		"Service.EraseContact": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			res, err := h.track().EraseContact(ctx, h.db.W, b, ids["contact"])
			if err == nil && res["track_events"] > 0 {
				return fmt.Errorf("workspace B erased %d of A's tracking events", res["track_events"])
			}
			if err == nil {
				err = store.ErrNotFound
			}
			return err
		},
		"Service.IssueVisitorToken": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, err := h.track().IssueVisitorToken(ctx, b, ids["contact"])
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
		"Keyring.SealText": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Keys().SealText(ctx, b, ids["contact"], "x")
			return err
		},
		"Keyring.OpenTextColumn": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			return c.Keys().OpenTextColumn(ctx, b, ids["contact"], []map[string]any{{"t": keyring.TextPrefix + "AAAA"}}, "t")
		},
		"Keyring.Opener": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Keys().Opener(ctx, b, ids["contact"])
			return err
		},
		"Keyring.Sealer": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			c, _, _, _ := h.consent()
			_, err := c.Keys().Sealer(ctx, b, ids["contact"])
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
		"Ledger.ContactFacts": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, _, _, l := h.consent()
			_, err := l.ContactFacts(ctx, b, ids["contact"], time.Now())
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
		"Backflow.Get": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Get(ctx, b, ids["supplier"])
			return err
		},
		"Backflow.Update": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Update(ctx, b, ids["supplier"], supplier.SupplierUpdate{Name: &name})
			return err
		},
		"Backflow.AddContact": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().AddContact(ctx, b, ids["supplier"], supplier.NewPerson{ContactID: ids["contact"]})
			return err
		},
		"Backflow.GenerateInquiry": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().GenerateInquiry(ctx, b, ids["supplier"], supplier.NewInquiry{ContactID: ids["contact"], Request: "x"})
			return err
		},
		"Backflow.Inquiries": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Inquiries(ctx, b, ids["supplier"])
			return err
		},
		"Backflow.MarkSent": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().MarkSent(ctx, b, ids["inquiry"], nil, consent.Actor{})
			return err
		},
		"Backflow.RecordContract": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().RecordContract(ctx, b, ids["supplier"], supplier.NewContract{}, consent.Actor{})
			return err
		},
		"Backflow.Contracts": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Contracts(ctx, b, ids["supplier"])
			return err
		},
		"Backflow.Template": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Template(ctx, b, ids["template"])
			return err
		},
		"Backflow.TemplateVersions": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().TemplateVersions(ctx, b, ids["template"])
			return err
		},
		"Backflow.SetSchedule": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			days := 1
			_, err := h.suppliers().SetSchedule(ctx, b, ids["template"], supplier.ScheduleInput{DelayDays: &days})
			return err
		},
		"Backflow.Batch": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Batch(ctx, b, ids["batch"])
			return err
		},
		"Backflow.BatchPDF": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().BatchPDF(ctx, b, ids["batch"])
			return err
		},
		"Backflow.BatchManifest": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().BatchManifest(ctx, b, ids["batch"])
			return err
		},
		"Backflow.LogResponse": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().LogResponse(ctx, b, ids["contact"], supplier.NewResponse{Channel: "phone"}, consent.Actor{})
			return err
		},
		"Backflow.Responses": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().Responses(ctx, b, ids["contact"])
			return err
		},
		"Backflow.ContactSalesView": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().ContactSalesView(ctx, b, ids["contact"])
			return err
		},
		"Backflow.SupplierSalesView": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.suppliers().SupplierSalesView(ctx, b, ids["supplier"])
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
		"Service.UpdateDraft": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.campaigns().UpdateDraft(ctx, b, ids["campaign"], campaign.Input{Name: "B's", Purpose: "newsletter", Steps: []campaign.Step{{Subject: "x", Text: "y"}}})
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
		"Service.GetImport": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.importer().GetImport(ctx, b, ids["import"])
			return err
		},
		"Service.Task": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.importer().Task(ctx, b, ids["art14"])
			return err
		},
		"Service.MarkDone": func(ctx context.Context, h *harness, b string, ids map[string]string) error {
			_, err := h.importer().MarkDone(ctx, b, ids["art14"], importer.Done{Notice: ids["notice"], Channel: "post"}, consent.Actor{})
			return err
		},
	}
}

// snapshot dumps workspace A's rows so a test can prove nothing changed.
func snapshot(t *testing.T, h *harness, wsID string) string {
	t.Helper()
	return strings.Join(testdb.Rows(t, h.db, []any{wsID},
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
		`SELECT id, lines, created, finished_at FROM imports WHERE workspace_id = $1 ORDER BY id`,
		`SELECT contact_id, import_id, action FROM contact_provenance WHERE workspace_id = $1 ORDER BY contact_id, import_id`,
		`SELECT id, status, due_at, done_at, notice_event_id FROM art14_tasks WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, name, dream_client, notes, updated_at FROM suppliers WHERE workspace_id = $1 ORDER BY id`,
		`SELECT supplier_id, contact_id, position FROM supplier_contacts WHERE workspace_id = $1 ORDER BY supplier_id, contact_id`,
		`SELECT id, sent_at, ledger_event FROM supplier_inquiries WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id FROM supplier_contracts WHERE workspace_id = $1 ORDER BY id`,
		`SELECT template_id, version, hash FROM letter_template_versions WHERE workspace_id = $1 ORDER BY template_id, version`,
		`SELECT id, delay_days, enabled FROM letter_schedules WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, letters, left_out FROM letter_batches WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id FROM contact_responses WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, user_id, second_factor FROM admin_sessions WHERE workspace_id = $1 ORDER BY id`,
		`SELECT user_id, secret, activated_at IS NULL, last_step FROM admin_totp WHERE workspace_id = $1 ORDER BY user_id`,
		`SELECT id, name, dpa_signed_on FROM admin_processors WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, contact_id, type, name FROM track_events WHERE workspace_id = $1 ORDER BY id`,
		`SELECT contact_id, stage, score, owner FROM lead_state WHERE workspace_id = $1 ORDER BY contact_id`,
		`SELECT id, name, filter FROM lead_segments WHERE workspace_id = $1 ORDER BY id`,
		`SELECT id, to_stage FROM lead_transitions WHERE workspace_id = $1 ORDER BY id`,
	), "\n")
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
			for k, v := range supplierRows(t, h, a, ids["contact"]) {
				ids[k] = v
			}
			proc, err := admin.NewProcessors(h.db, nil).Add(ctx, a, admin.Processor{Name: "Mailer", Service: "e-mail delivery", Location: "DE", DPASignedOn: "2026-01-15", DataCategories: []string{"email"}})
			if err != nil {
				t.Fatal(err)
			}
			ids["processor"] = proc.ID
			if err := h.track().Store.Record(ctx, nil, a, []track.Event{{ContactID: ids["contact"], Type: "page_view", Name: "/"}}); err != nil {
				t.Fatal(err)
			}
			for k, v := range leadRows(t, h, a, ids["contact"]) {
				ids[k] = v
			}
			for k, v := range importRows(t, h, a) {
				ids[k] = v
			}
			before := snapshot(t, h, a)

			// Every scoped method has a case.
			cases := isolationCases()
			ctxT := reflect.TypeFor[context.Context]()
			strT := reflect.TypeFor[string]()
			querierT := reflect.TypeFor[store.Querier]()
			// Cases are keyed by type and method name; two packages'
			// types of the same name (several are called Service) must not
			// let one's case stand for the other's method.
			owner := map[string]string{}
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
						if pkg, ok := owner[key]; ok && pkg != rt.Elem().PkgPath() && notIDTaking[key] == "" {
							t.Errorf("%s is a method of %s and of %s: one case cannot cover both; rename one", key, pkg, rt.Elem().PkgPath())
						}
						owner[key] = rt.Elem().PkgPath()
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

// supplierRows gives workspace A a supplier with its contact as contact
// person, an inquiry, a letter template and a batch, for the isolation test.
func supplierRows(t *testing.T, h *harness, ws, contactID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	s := h.suppliers()
	x, err := s.Create(ctx, ws, supplier.NewSupplier{Name: "Victim Supplies"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddContact(ctx, ws, x.ID, supplier.NewPerson{ContactID: contactID}); err != nil {
		t.Fatal(err)
	}
	q, err := s.GenerateInquiry(ctx, ws, x.ID, supplier.NewInquiry{ContactID: contactID, Request: "paper"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, _, err := s.SaveTemplate(ctx, ws, "test", supplier.NewTemplate{Name: "victim", TemplateContent: supplier.TemplateContent{Subject: "Hello", Body: "Text", Sender: supplier.Sender{Name: "A GmbH"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateBatch(ctx, ws, supplier.NewBatch{TemplateID: tpl.ID}, consent.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"supplier": x.ID, "inquiry": q.ID, "template": tpl.ID, "batch": b.ID}
}
