package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/webhook"
	"github.com/fairlead/fairlead/internal/workspace"
)

// Processor is a service provider that processes personal data on the
// workspace's behalf (Art. 28 GDPR): mail delivery, SMS, hosting.
type Processor struct {
	ID             string
	Name           string
	Service        string
	Location       string // country or region of processing, e.g. "DE", "EU", "US (SCC)"
	DPASignedOn    string // YYYY-MM-DD, the data processing agreement
	DataCategories []string
	CreatedAt      time.Time
}

// Processors stores a workspace's processors.
type Processors struct {
	db  *store.DB
	now func() time.Time
}

// NewProcessors works on db.
func NewProcessors(db *store.DB, now func() time.Time) *Processors {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Processors{db: db, now: now}
}

// List returns the workspace's processors by name.
func (ps *Processors) List(ctx context.Context, ws string) ([]Processor, error) {
	out := []Processor{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := ps.db.R.QueryContext(ctx, `SELECT id, name, service, location, dpa_signed_on, data_categories, created_at FROM admin_processors WHERE workspace_id = $1 ORDER BY name, id`, ws)
	if err != nil {
		return nil, fmt.Errorf("list processors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Processor
		var cats string
		if err := rows.Scan(&p.ID, &p.Name, &p.Service, &p.Location, &p.DPASignedOn, &cats, &p.CreatedAt); err != nil {
			return nil, err
		}
		p.DataCategories = splitList(cats)
		out = append(out, p)
	}
	return out, rows.Err()
}

func splitList(v string) []string {
	out := []string{}
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// Add records a processor; every field is required.
func (ps *Processors) Add(ctx context.Context, ws string, p Processor) (Processor, error) {
	for _, f := range []struct{ name, v string }{{"name", p.Name}, {"service", p.Service}, {"location", p.Location}, {"dpa_signed_on", p.DPASignedOn}} {
		if strings.TrimSpace(f.v) == "" {
			return Processor{}, validate.Required(f.name)
		}
		if len(f.v) > 200 {
			return Processor{}, validate.Invalid(f.name, f.name+" must have at most 200 characters")
		}
	}
	if _, err := time.Parse("2006-01-02", p.DPASignedOn); err != nil {
		return Processor{}, validate.Invalid("dpa_signed_on", "dpa_signed_on must be a date such as 2026-03-01")
	}
	if len(p.DataCategories) == 0 {
		return Processor{}, validate.Required("data_categories")
	}
	if !id.Valid(ws) {
		return Processor{}, store.ErrNotFound
	}
	p.ID, p.CreatedAt = id.New(), ps.now()
	_, err := ps.db.W.ExecContext(ctx, `INSERT INTO admin_processors (id, workspace_id, name, service, location, dpa_signed_on, data_categories, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		p.ID, ws, strings.TrimSpace(p.Name), strings.TrimSpace(p.Service), strings.TrimSpace(p.Location), p.DPASignedOn, strings.Join(p.DataCategories, ", "), p.CreatedAt)
	if err != nil {
		return Processor{}, fmt.Errorf("add processor: %w", store.MapError(err))
	}
	return p, nil
}

// Remove deletes one processor of the workspace.
func (ps *Processors) Remove(ctx context.Context, ws, processorID string) error {
	if !id.Valid(ws) || !id.Valid(processorID) {
		return store.ErrNotFound
	}
	res, err := ps.db.W.ExecContext(ctx, `DELETE FROM admin_processors WHERE workspace_id = $1 AND id = $2`, ws, processorID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return store.ErrNotFound
	}
	return nil
}

// record is the record of processing activities (Art. 30(1) GDPR) as the
// workspace's configuration describes it.
type record struct {
	Workspace  workspace.Workspace
	Imprint    string
	Purposes   []consent.Purpose
	Recipients []webhook.Endpoint
	Processors []Processor
	Retention  []privacy.Policy
	At         time.Time
}

func (u *UI) record(ctx context.Context, ws, lang string) (*record, error) {
	w, err := workspace.ByID(ctx, u.DB.R, ws)
	if err != nil {
		return nil, err
	}
	rec := &record{Workspace: w, At: u.Now()}
	set, err := u.Settings.Get(ctx, ws)
	if err != nil {
		return nil, err
	}
	rec.Imprint = set.Imprint[lang]
	if rec.Purposes, err = u.Purposes.List(ctx, ws); err != nil {
		return nil, err
	}
	if u.Webhooks != nil {
		eps, err := u.Webhooks.Endpoints(ctx, ws)
		if err != nil {
			return nil, err
		}
		for _, e := range eps {
			if !e.Disabled {
				rec.Recipients = append(rec.Recipients, e)
			}
		}
	}
	if rec.Processors, err = u.processors().List(ctx, ws); err != nil {
		return nil, err
	}
	if rec.Retention, err = u.Privacy.Policies(ctx, ws); err != nil {
		return nil, err
	}
	return rec, nil
}

func (u *UI) processors() *Processors { return NewProcessors(u.DB, u.Now) }

func (u *UI) recordPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "settings", "record_title")
	rec, err := u.record(r.Context(), s.WorkspaceID, p.Lang)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"R": rec, "Form": map[string]string{}}
	return u.render(w, http.StatusOK, "record", "", p)
}

func (u *UI) addProcessor(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	f := r.PostForm
	_, err := u.processors().Add(r.Context(), s.WorkspaceID, Processor{Name: f.Get("name"), Service: f.Get("service"), Location: f.Get("location"),
		DPASignedOn: f.Get("dpa_signed_on"), DataCategories: splitList(f.Get("data_categories"))})
	var ve *validate.Error
	if errors.As(err, &ve) {
		p := u.newPage(r, s, "settings", "record_title")
		rec, err := u.record(r.Context(), s.WorkspaceID, p.Lang)
		if err != nil {
			return err
		}
		form := map[string]string{}
		for k := range f {
			form[k] = f.Get(k)
		}
		p.Errors[ve.Field] = ve.Message
		p.Data = map[string]any{"R": rec, "Form": form}
		return u.render(w, http.StatusUnprocessableEntity, "record", "", p)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings/record#processors", http.StatusSeeOther)
	return nil
}

func (u *UI) removeProcessor(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := u.processors().Remove(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings/record#processors", http.StatusSeeOther)
	return nil
}

// transparency is the public page the record generates: purposes, data
// categories, recipients, processors and retention, without the internal
// details (agreement dates, URLs).
func (u *UI) transparency(w http.ResponseWriter, r *http.Request, _ *Session) error {
	ctx := r.Context()
	ws, err := workspace.BySlug(ctx, u.DB.R, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	lang := langOf(r, nil)
	if l := r.URL.Query().Get("lang"); l == "de" || l == "en" {
		lang = l
	}
	p := &Page{Lang: lang, Errors: map[string]string{}, Path: r.URL.Path}
	p.Title = p.T("transparency_title")
	rec, err := u.record(ctx, ws.ID, lang)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"R": rec}
	w.Header().Set("Cache-Control", "public, max-age=300")
	return u.render(w, http.StatusOK, "transparency", "", p)
}
