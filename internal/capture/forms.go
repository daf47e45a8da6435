package capture

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Form is a saved form: its current version.
type Form struct {
	WorkspaceID string          `json:"workspace_id"`
	Key         string          `json:"key"`
	Version     int             `json:"version"`
	Definition  form.Definition `json:"definition"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`

	// settings are the workspace's settings read with the form
	// (PublicForm), so that a submission does not read them again.
	settings *Effective
}

// LintError is a form that the lint refused: every finding at once.
type LintError struct {
	Findings []form.Finding
}

func (e *LintError) Error() string {
	codes := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		codes[i] = f.Code + " at " + f.Field
	}
	return "the form breaks data protection rules: " + strings.Join(codes, "; ")
}

// catalog adapts the workspace's purposes and notices to the form lint.
type catalog struct {
	purposes map[string]consent.Purpose
	notices  map[string]consent.Notice
}

func (c catalog) Purpose(key string) (form.PurposeInfo, bool) {
	p, ok := c.purposes[key]
	return form.PurposeInfo{Key: p.Key, Kind: p.Kind, DataCategories: p.DataCategories, Channels: p.Channels}, ok
}

// PurposeKeys lets an unknown purpose be reported with the accepted keys.
func (c catalog) PurposeKeys() []string {
	keys := make([]string, 0, len(c.purposes))
	for k := range c.purposes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c catalog) Notice(hash string) (form.NoticeInfo, bool) {
	n, ok := c.notices[hash]
	return form.NoticeInfo{Hash: n.Hash, Kind: n.Kind, Language: n.Language}, ok
}

func (s *Service) catalog(ctx context.Context, ws string, d form.Definition) (catalog, error) {
	c := catalog{purposes: map[string]consent.Purpose{}, notices: map[string]consent.Notice{}}
	ps, err := s.Purposes.List(ctx, ws)
	if err != nil {
		return c, err
	}
	for _, p := range ps {
		c.purposes[p.Key] = p
	}
	var hashes []string
	for _, h := range d.PrivacyNotice {
		hashes = append(hashes, h)
	}
	for _, k := range d.Consents {
		for _, h := range k.Notice {
			hashes = append(hashes, h)
		}
	}
	for _, h := range hashes {
		if !consent.ValidHash(h) {
			continue
		}
		n, err := s.Notices.Get(ctx, ws, h)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return c, err
		}
		c.notices[h] = n
	}
	return c, nil
}

// CheckForm validates and lints a definition without saving it (the
// builder's live findings).
func (s *Service) CheckForm(ctx context.Context, ws string, d form.Definition) ([]form.Finding, error) {
	c, err := s.catalog(ctx, ws, d)
	if err != nil {
		return nil, err
	}
	if err := form.Validate(d, c); err != nil {
		return nil, err
	}
	return form.Lint(d, c), nil
}

// SaveForm stores a new version of a form after validation and lint. A
// definition equal to the current version saves nothing and returns it.
func (s *Service) SaveForm(ctx context.Context, ws, actor string, d form.Definition) (Form, bool, error) {
	if !id.Valid(ws) {
		return Form{}, false, store.ErrNotFound
	}
	findings, err := s.CheckForm(ctx, ws, d)
	if err != nil {
		return Form{}, false, err
	}
	if len(findings) > 0 {
		return Form{}, false, &LintError{Findings: findings}
	}
	// Every message a form triggers carries the imprint (UWG §5a, DDG §5);
	// without one the confirmation could never be sent, so say so now.
	set, err := s.Settings.Effective(ctx, ws)
	if err != nil {
		return Form{}, false, err
	}
	if strings.TrimSpace(set.Imprint["de"]) == "" && strings.TrimSpace(set.Imprint["en"]) == "" {
		return Form{}, false, &validate.Error{Field: "imprint", Code: "imprint_missing",
			Message: "the workspace has no imprint (Impressum), which every message must carry: set it first with PATCH /api/v1/settings {\"imprint\": {\"de\": \"…\"}}"}
	}
	var buf bytes.Buffer
	if err := d.Encode(&buf); err != nil {
		return Form{}, false, err
	}
	def := buf.String()
	// What is stored is what is returned: the normalized form (empty lists, not null).
	if d, err = form.Decode(strings.NewReader(def)); err != nil {
		return Form{}, false, err
	}
	var out Form
	created := false
	defer s.formChanges.Add(1) // after the commit, as SettingsStore.Update
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		cur, err := s.form(ctx, tx, `workspace_id = $1 AND form_key = $2`, ws, d.Key)
		now := s.now()
		switch {
		case errors.Is(err, store.ErrNotFound):
			out = Form{WorkspaceID: ws, Key: d.Key, Version: 1, Definition: d, CreatedAt: now, UpdatedAt: now}
			if _, err := tx.ExecContext(ctx, `INSERT INTO forms (workspace_id, form_key, version, definition, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6)`,
				ws, d.Key, 1, def, now, now); err != nil {
				if errors.Is(store.MapError(err), store.ErrConflict) {
					return &validate.Error{Field: "key", Code: "taken", Message: "the form key " + d.Key + " is taken (keys are public addresses, /p/forms/KEY): choose another"}
				}
				return fmt.Errorf("save form: %w", err)
			}
		case err != nil:
			return err
		default:
			var old bytes.Buffer
			_ = cur.Definition.Encode(&old)
			if old.String() == def {
				out = cur
				return nil
			}
			out = cur
			out.Version, out.Definition, out.UpdatedAt = cur.Version+1, d, now
			if _, err := tx.ExecContext(ctx, `UPDATE forms SET version = $3, definition = $4, updated_at = $5 WHERE workspace_id = $1 AND form_key = $2`,
				ws, d.Key, out.Version, def, now); err != nil {
				return fmt.Errorf("save form: %w", err)
			}
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO form_versions (workspace_id, form_key, version, definition, created_at, created_by) VALUES ($1,$2,$3,$4,$5,$6)`,
			ws, d.Key, out.Version, def, now, actor)
		if err != nil {
			return fmt.Errorf("save form version: %w", err)
		}
		return nil
	})
	return out, created, err
}

func (s *Service) form(ctx context.Context, q store.Querier, where string, args ...any) (Form, error) {
	var f Form
	var def string
	err := q.QueryRowContext(ctx, `SELECT workspace_id, form_key, version, definition, created_at, updated_at FROM forms WHERE `+where, args...).
		Scan(&f.WorkspaceID, &f.Key, &f.Version, &def, &f.CreatedAt, &f.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Form{}, store.ErrNotFound
	}
	if err != nil {
		return Form{}, fmt.Errorf("read form: %w", err)
	}
	if f.Definition, err = form.Decode(strings.NewReader(def)); err != nil {
		return Form{}, fmt.Errorf("read form %s: %w", f.Key, err)
	}
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
	return f, nil
}

// Form returns the current version of a workspace's form.
func (s *Service) Form(ctx context.Context, ws, key string) (Form, error) {
	if !id.Valid(ws) {
		return Form{}, store.ErrNotFound
	}
	return s.currentForm(ctx, `workspace_id = $1 AND form_key = $2`, ws, key)
}

// PublicForm finds a form by its public key (any workspace).
//
// Every public page and submission starts here, so a form found is kept
// for up to publicFormTTL: a form saved or settings updated through this
// process retire what was kept at once; a change made by another process
// (several servers on one PostgreSQL, the CLI) is seen within the TTL.
func (s *Service) PublicForm(ctx context.Context, key string) (Form, error) {
	if len(key) > 64 {
		return Form{}, ErrFormNotFound
	}
	gen := s.publicGen()
	if f, ok := s.public.get(key, gen, time.Now()); ok {
		return f, nil
	}
	f, err := s.readPublicForm(ctx, key)
	if err != nil {
		return Form{}, err
	}
	s.public.put(key, f, gen, time.Now())
	return f, nil
}

// publicGen is the count of form saves and settings updates in this
// process: a kept public form is used only under the count it was read at.
func (s *Service) publicGen() uint64 {
	g := s.formChanges.Load()
	if s.Settings != nil {
		g += s.Settings.changes.Load()
	}
	return g
}

func (s *Service) readPublicForm(ctx context.Context, key string) (Form, error) {
	// The workspace's settings come in the same read: a submission needs
	// them, and the decoded ones are kept for as long as the row is the
	// same (SettingsStore.fromRow).
	var f Form
	var js sql.NullString
	var sealed []byte
	err := s.reads.queryRow(ctx, s.DB, `SELECT f.workspace_id, f.form_key, f.version, f.created_at, f.updated_at, ws.settings, ws.secrets
		FROM forms f LEFT JOIN workspace_settings ws ON ws.workspace_id = f.workspace_id WHERE f.form_key = $1`, key).
		Scan(&f.WorkspaceID, &f.Key, &f.Version, &f.CreatedAt, &f.UpdatedAt, &js, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return Form{}, ErrFormNotFound
	}
	if err != nil {
		return Form{}, fmt.Errorf("read form: %w", err)
	}
	if s.Settings != nil {
		set, err := s.Settings.fromRow(f.WorkspaceID, js, sealed)
		if err != nil {
			return Form{}, err
		}
		f.settings = &set
	}
	return s.withDefinition(ctx, f, `form_key = $1`, key)
}

// currentForm reads a form's current version; the definition of a
// version already seen is not read and decoded again. Public pages,
// submissions and every confirmation mail come here.
func (s *Service) currentForm(ctx context.Context, where string, args ...any) (Form, error) {
	var f Form
	err := s.DB.R.QueryRowContext(ctx, `SELECT workspace_id, form_key, version, created_at, updated_at FROM forms WHERE `+where, args...).
		Scan(&f.WorkspaceID, &f.Key, &f.Version, &f.CreatedAt, &f.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Form{}, store.ErrNotFound
	}
	if err != nil {
		return Form{}, fmt.Errorf("read form: %w", err)
	}
	return s.withDefinition(ctx, f, where, args...)
}

// withDefinition fills in the definition of f's version from the cache,
// or reads and decodes it (where selects the form, as for currentForm).
func (s *Service) withDefinition(ctx context.Context, f Form, where string, args ...any) (Form, error) {
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
	if d, ok := s.cache.def(versionKey(f.WorkspaceID, f.Key, f.Version, "")); ok {
		f.Definition = d
		return f, nil
	}
	set := f.settings
	f, err := s.form(ctx, s.DB.R, where, args...)
	if err != nil {
		return Form{}, err
	}
	f.settings = set
	s.cache.putDef(versionKey(f.WorkspaceID, f.Key, f.Version, ""), f.Definition)
	return f, nil
}

// FormVersion returns one saved version of a form.
func (s *Service) FormVersion(ctx context.Context, ws, key string, version int) (form.Definition, error) {
	if !id.Valid(ws) {
		return form.Definition{}, store.ErrNotFound
	}
	var def string
	err := s.DB.R.QueryRowContext(ctx, `SELECT definition FROM form_versions WHERE workspace_id = $1 AND form_key = $2 AND version = $3`, ws, key, version).Scan(&def)
	if errors.Is(err, sql.ErrNoRows) {
		return form.Definition{}, store.ErrNotFound
	}
	if err != nil {
		return form.Definition{}, err
	}
	return form.Decode(strings.NewReader(def))
}

// Forms lists a workspace's forms by key.
func (s *Service) Forms(ctx context.Context, ws string) ([]Form, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	keys, err := store.Strings(ctx, s.DB.R, `SELECT form_key FROM forms WHERE workspace_id = $1 ORDER BY form_key`, ws)
	if err != nil {
		return nil, err
	}
	out := make([]Form, 0, len(keys))
	for _, k := range keys {
		f, err := s.Form(ctx, ws, k)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// consentTexts returns, per consent key, the notice shown in lang.
func (s *Service) noticeIn(ctx context.Context, ws string, byLang map[string]string, lang string) (consent.Notice, error) {
	h := byLang[lang]
	if h == "" {
		for _, l := range []string{"de", "en"} {
			if byLang[l] != "" {
				h = byLang[l]
				break
			}
		}
	}
	return s.Notices.Get(ctx, ws, h)
}

// Rendered is what a public page needs to show a form in one language.
type Rendered struct {
	Form     Form
	Lang     string
	Consents map[string]consent.Notice // by consent key
	Privacy  consent.Notice
}

// Render loads the texts a form shows in lang.
func (s *Service) Render(ctx context.Context, f Form, lang string) (Rendered, error) {
	if !slices.Contains(f.Definition.Languages, lang) {
		lang = f.Definition.Languages[0]
	}
	vk := versionKey(f.WorkspaceID, f.Key, f.Version, lang)
	if r, ok := s.cache.render(vk); ok {
		r.Form = f
		return r, nil
	}
	r, err := s.render(ctx, f, lang)
	if err == nil {
		s.cache.putRender(vk, r)
	}
	return r, err
}

func (s *Service) render(ctx context.Context, f Form, lang string) (Rendered, error) {
	r := Rendered{Form: f, Lang: lang, Consents: map[string]consent.Notice{}}
	for _, k := range f.Definition.Consents {
		n, err := s.noticeIn(ctx, f.WorkspaceID, k.Notice, lang)
		if err != nil {
			return r, fmt.Errorf("form %s consent %s: %w", f.Key, k.Key, err)
		}
		r.Consents[k.Key] = n
	}
	if len(f.Definition.PrivacyNotice) > 0 {
		n, err := s.noticeIn(ctx, f.WorkspaceID, f.Definition.PrivacyNotice, lang)
		if err != nil {
			return r, fmt.Errorf("form %s privacy notice: %w", f.Key, err)
		}
		r.Privacy = n
	}
	return r, nil
}

func encodeJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Snippet is the embed snippet of a form in lang: the same fields and
// consent texts as the hosted page, posting to the hosted endpoint (so it
// works without JavaScript), plus the script that submits it in place.
func (s *Service) Snippet(ctx context.Context, f Form, lang string) (string, error) {
	r, err := s.Render(ctx, f, lang)
	if err != nil {
		return "", err
	}
	set, err := s.Settings.Effective(ctx, f.WorkspaceID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	base := set.PublicURL
	fmt.Fprintf(&b, "<form method=\"post\" action=\"%s/p/forms/%s\" data-fairlead-form data-success=\"%s\">\n", esc(base), esc(f.Key), esc(f.Definition.Success[r.Lang]))
	fmt.Fprintf(&b, "  <input type=\"hidden\" name=\"lang\" value=\"%s\">\n", r.Lang)
	for _, fd := range f.Definition.Fields {
		req := ""
		if fd.Required {
			req = " required"
		}
		fmt.Fprintf(&b, "  <label for=\"fl-%s\">%s</label>\n", esc(fd.Name), esc(fd.Label[r.Lang]))
		switch fd.Type {
		case "textarea":
			fmt.Fprintf(&b, "  <textarea id=\"fl-%s\" name=\"%s\"%s></textarea>\n", esc(fd.Name), esc(fd.Name), req)
		case "select":
			fmt.Fprintf(&b, "  <select id=\"fl-%s\" name=\"%s\"%s><option value=\"\"></option>", esc(fd.Name), esc(fd.Name), req)
			for _, o := range fd.Options {
				fmt.Fprintf(&b, "<option value=\"%s\">%s</option>", esc(o.Value), esc(o.Label[r.Lang]))
			}
			b.WriteString("</select>\n")
		default:
			fmt.Fprintf(&b, "  <input id=\"fl-%s\" name=\"%s\" type=\"%s\"%s>\n", esc(fd.Name), esc(fd.Name), esc(fd.Type), req)
		}
	}
	for _, k := range f.Definition.Consents {
		req := ""
		if k.Required {
			req = " required"
		}
		fmt.Fprintf(&b, "  <label><input type=\"checkbox\" name=\"%s\" value=\"1\"%s> %s</label>\n", esc(k.Key), req, esc(r.Consents[k.Key].Body))
	}
	b.WriteString("  <div style=\"position:absolute;left:-10000px\" aria-hidden=\"true\"><input name=\"website\" tabindex=\"-1\" autocomplete=\"off\"></div>\n")
	if r.Privacy.Hash != "" {
		fmt.Fprintf(&b, "  <p><a href=\"%s/p/notices/%s\">%s</a></p>\n", esc(base), r.Privacy.Hash, map[string]string{"de": "Datenschutzerklärung", "en": "Privacy notice"}[r.Lang])
	}
	fmt.Fprintf(&b, "  <button type=\"submit\">%s</button>\n  <p data-fairlead-result role=\"status\"></p>\n</form>\n", map[string]string{"de": "Absenden", "en": "Submit"}[r.Lang])
	fmt.Fprintf(&b, "<script src=\"%s/p/forms/%s/embed.js\" async></script>\n", esc(base), esc(f.Key))
	return b.String(), nil
}
