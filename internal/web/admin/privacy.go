package admin

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/webhook"
)

type caseRow struct {
	privacy.Case
	DaysLeft int
}

func daysLeft(due, now time.Time) int { return int(math.Ceil(due.Sub(now).Hours() / 24)) }

func (u *UI) dsrQueue(w http.ResponseWriter, r *http.Request, s *Session) error {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = "open"
	}
	p := u.newPage(r, s, "privacy", "dsr_title")
	cs, err := u.Privacy.Cases(r.Context(), s.WorkspaceID, privacy.ListCases{Status: status, Limit: 200})
	var ve *validate.Error
	if errors.As(err, &ve) {
		p.Errors["status"] = ve.Message
		cs, err = u.Privacy.Cases(r.Context(), s.WorkspaceID, privacy.ListCases{Status: "open", Limit: 200})
	}
	if err != nil {
		return err
	}
	now := u.Now()
	rows := make([]caseRow, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, caseRow{c, daysLeft(c.DueAt, now)})
	}
	p.Data = map[string]any{"Cases": rows, "Status": status, "Statuses": append([]string{"open"}, privacy.Statuses...)}
	return u.render(w, http.StatusOK, "dsr", "", p)
}

func (u *UI) dsrPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	c, err := u.Privacy.Case(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "privacy", "dsr_case")
	p.Data = map[string]any{"Case": caseRow{c, daysLeft(c.DueAt, u.Now())}, "Outcomes": privacy.Outcomes}
	return u.render(w, http.StatusOK, "dsrcase", "", p)
}

func (u *UI) dsrComplete(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	_, err := u.Privacy.Complete(ctx, s.WorkspaceID, r.PathValue("id"), r.PostFormValue("outcome"), r.PostFormValue("note"), consent.Actor{UserID: s.UserID})
	var ve *validate.Error
	if errors.As(err, &ve) {
		c, err := u.Privacy.Case(ctx, s.WorkspaceID, r.PathValue("id"))
		if err != nil {
			return err
		}
		p := u.newPage(r, s, "privacy", "dsr_case")
		p.Errors[ve.Field] = ve.Message
		p.Data = map[string]any{"Case": caseRow{c, daysLeft(c.DueAt, u.Now())}, "Outcomes": privacy.Outcomes}
		return u.render(w, http.StatusUnprocessableEntity, "dsrcase", "", p)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/privacy/dsr/"+r.PathValue("id"), http.StatusSeeOther)
	return nil
}

// eraseConfirm is the confirmation step: erasure cannot be undone, so it
// asks for the contact's e-mail address (or the word shown) once more.
func (u *UI) eraseConfirm(w http.ResponseWriter, r *http.Request, s *Session) error {
	c, err := u.Contacts.Get(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "privacy", "erase_title")
	p.Data = map[string]any{"C": c, "Display": display(c)}
	return u.render(w, http.StatusOK, "erase", "", p)
}

func (u *UI) erase(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	c, err := u.Contacts.Get(ctx, s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "privacy", "erase_title")
	if strings.TrimSpace(r.PostFormValue("confirm")) != "ERASE" && strings.TrimSpace(r.PostFormValue("confirm")) != "LÖSCHEN" {
		p.Errors["confirm"] = p.T("erase_confirm_wrong")
		p.Data = map[string]any{"C": c, "Display": display(c)}
		return u.render(w, http.StatusUnprocessableEntity, "erase", "", p)
	}
	res, err := u.Privacy.Erase(ctx, s.WorkspaceID, c.ID, consent.Actor{UserID: s.UserID})
	if err != nil {
		return err
	}
	p.Data = map[string]any{"C": c, "Result": res}
	return u.render(w, http.StatusOK, "erased", "", p)
}

func (u *UI) export(w http.ResponseWriter, r *http.Request, s *Session) error {
	x, err := u.Privacy.AccessExport(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The export page carries its own inline styles.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	return x.WriteHTML(w, langOf(r, s))
}

func (u *UI) retention(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	pols, err := u.Privacy.Policies(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "privacy", "retention_title")
	data := map[string]any{"Policies": pols}
	// The dry run evaluates every contact: it runs when asked for, not
	// on every visit of the page.
	if r.URL.Query().Get("plan") != "" {
		plan, err := u.Privacy.Plan(ctx, s.WorkspaceID, u.Now())
		if err != nil {
			return err
		}
		data["Plan"] = plan
	}
	p.Data = data
	return u.render(w, http.StatusOK, "retention", "", p)
}

type endpointView struct {
	webhook.Endpoint
	Deliveries []webhook.Delivery
}

func (u *UI) webhooks(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	eps, err := u.Webhooks.Endpoints(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	var out []endpointView
	for _, e := range eps {
		ds, err := u.Webhooks.Deliveries(ctx, s.WorkspaceID, e.ID, webhook.DeliveryFilter{Limit: 20})
		if err != nil {
			return err
		}
		out = append(out, endpointView{e, ds})
	}
	p := u.newPage(r, s, "privacy", "webhooks_title")
	if r.URL.Query().Get("redelivered") != "" {
		p.Flash = p.T("redelivered")
	}
	p.Data = out
	return u.render(w, http.StatusOK, "webhooks", "", p)
}

func (u *UI) redeliver(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Webhooks.Redeliver(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/privacy/webhooks?redelivered=1", http.StatusSeeOther)
	return nil
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	q := r.URL.Query()
	p := u.newPage(r, s, "privacy", "audit_title")
	f := audit.Filter{Action: q.Get("action"), ActorID: q.Get("actor"), ResourceID: q.Get("resource"), Limit: 200}
	for _, k := range []string{"from", "to"} {
		if v := q.Get(k); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				p.Errors[k] = p.T("err_date")
				continue
			}
			if k == "from" {
				f.From = t
			} else {
				f.To = t.AddDate(0, 0, 1)
			}
		}
	}
	es, err := u.Audit.List(r.Context(), s.WorkspaceID, f)
	var ve *validate.Error
	if errors.As(err, &ve) {
		p.Errors[ve.Field] = ve.Message
		es, err = nil, nil
	}
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Entries": es, "Q": map[string]string{"action": q.Get("action"), "actor": q.Get("actor"), "resource": q.Get("resource"), "from": q.Get("from"), "to": q.Get("to")}}
	return u.render(w, http.StatusOK, "audit", "", p)
}
