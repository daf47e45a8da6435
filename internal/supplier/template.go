package supplier

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/merge"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// MergeFields are the fields a letter template may use.
var MergeFields = []string{"first_name", "last_name", "full_name", "organization", "supplier.name", "notice_url", "date"}

// Sender is the letterhead of a template.
type Sender struct {
	Name       string   `json:"name"`
	Address    []string `json:"address"`
	ReturnLine string   `json:"return_line"`
	Footer     []string `json:"footer"`
}

// TemplateContent is what one template version prints.
type TemplateContent struct {
	Language   string `json:"language"`
	Subject    string `json:"subject"`
	Salutation string `json:"salutation"`
	Body       string `json:"body"`
	Closing    string `json:"closing"`
	Signature  string `json:"signature"`
	Sender     Sender `json:"sender"`
}

// Template is one immutable version of a letter template.
type Template struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	Hash      string          `json:"hash"`
	Content   TemplateContent `json:"content"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// contentHash is SHA-256 over the length-prefixed fields of the content, so
// the hash recorded with each letter names exactly the text printed.
func contentHash(c TemplateContent) string {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("fairlead letter template v1")
	for _, s := range []string{c.Language, c.Subject, c.Salutation, c.Body, c.Closing, c.Signature, c.Sender.Name, c.Sender.ReturnLine} {
		put(s)
	}
	for _, list := range [][]string{c.Sender.Address, c.Sender.Footer} {
		put(fmt.Sprint(len(list)))
		for _, s := range list {
			put(s)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parsed are a content's merge templates.
type parsed struct {
	subject, salutation, body, closing *merge.Template
}

func parseContent(c TemplateContent) (parsed, error) {
	var p parsed
	var err error
	if p.subject, err = merge.Parse("subject", c.Subject, MergeFields); err != nil {
		return p, err
	}
	if p.salutation, err = merge.Parse("salutation", c.Salutation, MergeFields); err != nil {
		return p, err
	}
	if p.body, err = merge.Parse("body", c.Body, MergeFields); err != nil {
		return p, err
	}
	if p.closing, err = merge.Parse("closing", c.Closing, MergeFields); err != nil {
		return p, err
	}
	return p, nil
}

func checkContent(c *TemplateContent) error {
	if c.Language == "" {
		c.Language = "de"
	}
	if err := checkLanguage("language", c.Language); err != nil {
		return err
	}
	c.Subject = strings.TrimSpace(c.Subject)
	if err := checkText("subject", c.Subject, 300, true); err != nil {
		return err
	}
	if err := checkText("body", c.Body, 20000, true); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"salutation", c.Salutation}, {"closing", c.Closing}, {"signature", c.Signature}, {"sender.name", c.Sender.Name}, {"sender.return_line", c.Sender.ReturnLine}} {
		if err := checkText(f.name, f.v, 300, false); err != nil {
			return err
		}
	}
	if strings.TrimSpace(c.Sender.Name) == "" {
		return validate.Required("sender.name")
	}
	for _, l := range [][]string{c.Sender.Address, c.Sender.Footer} {
		if len(l) > 8 {
			return validate.Invalid("sender", "sender.address and sender.footer have at most 8 lines")
		}
	}
	if c.Salutation == "" {
		c.Salutation = map[string]string{"de": "Guten Tag {{full_name}},", "en": "Dear {{full_name}},"}[c.Language]
	}
	if c.Closing == "" {
		c.Closing = map[string]string{"de": "Mit freundlichen Grüßen", "en": "Kind regards"}[c.Language]
	}
	if c.Sender.Address == nil {
		c.Sender.Address = []string{}
	}
	if c.Sender.Footer == nil {
		c.Sender.Footer = []string{}
	}
	_, err := parseContent(*c)
	return err
}

// checkSender refuses a letterhead, return line or footer the printer
// cannot set, at save time: it would leave every letter of every batch out.
func (s *Backflow) checkSender(c TemplateContent) error {
	if s.Printer == nil {
		return nil
	}
	sample := Letter{Ref: "check", Sender: c.Sender, Recipient: []string{"Erika Mustermann", "Musterstraße 1", "10115 Berlin"}, Date: s.now(), Lang: c.Language,
		Subject: "Betreff", Salutation: "Guten Tag,", Body: "Text", Closing: c.Closing}
	var ve *validate.Error
	if err := s.Printer.Check(sample); errors.As(err, &ve) && strings.HasPrefix(ve.Field, "sender") {
		return ve
	}
	return nil
}

// NewTemplate is the input of SaveTemplate.
type NewTemplate struct {
	Name string `json:"name"`
	TemplateContent
}

// SaveTemplate stores a template version under its name: a new template,
// or a new version when the content differs from the latest one. An
// unknown merge field is refused, naming the field. It reports whether a
// version was written.
func (s *Backflow) SaveTemplate(ctx context.Context, ws, actor string, in NewTemplate) (Template, bool, error) {
	if !id.Valid(ws) {
		return Template{}, false, store.ErrNotFound
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := checkText("name", in.Name, 200, true); err != nil {
		return Template{}, false, err
	}
	if err := checkContent(&in.TemplateContent); err != nil {
		return Template{}, false, err
	}
	if err := s.checkSender(in.TemplateContent); err != nil {
		return Template{}, false, err
	}
	hash := contentHash(in.TemplateContent)
	raw, _ := json.Marshal(in.TemplateContent)
	now := s.now()
	var out Template
	created := false
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		var tid string
		err := tx.QueryRowContext(ctx, `SELECT id FROM letter_templates WHERE workspace_id = $1 AND name = $2`, ws, in.Name).Scan(&tid)
		if errors.Is(err, sql.ErrNoRows) {
			tid = id.New()
			if _, err := tx.ExecContext(ctx, `INSERT INTO letter_templates (id, workspace_id, name, created_at) VALUES ($1,$2,$3,$4)`, tid, ws, in.Name, now); err != nil {
				return store.MapError(err)
			}
		} else if err != nil {
			return err
		}
		latest, err := s.latest(ctx, tx, ws, tid)
		if err == nil && latest.Hash == hash {
			out = latest
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var other string
		if err := tx.QueryRowContext(ctx, `SELECT template_id FROM letter_template_versions WHERE workspace_id = $1 AND hash = $2`, ws, hash).Scan(&other); err == nil {
			return &validate.Error{Field: "name", Code: "duplicate_content", Message: "this content is already a version of another template (" + other + ")"}
		}
		out = Template{ID: tid, Name: in.Name, Version: latest.Version + 1, Hash: hash, Content: in.TemplateContent, CreatedAt: now, CreatedBy: actor}
		if _, err := tx.ExecContext(ctx, `INSERT INTO letter_template_versions (workspace_id, template_id, version, hash, content, created_at, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			ws, tid, out.Version, hash, string(raw), now, actor); err != nil {
			return store.MapError(err)
		}
		created = true
		return nil
	})
	if err != nil {
		return Template{}, false, err
	}
	return out, created, nil
}

const templateCols = `t.id, t.name, v.version, v.hash, v.content, v.created_at, v.created_by`

func scanTemplate(sc interface{ Scan(...any) error }) (Template, error) {
	var t Template
	var raw string
	if err := sc.Scan(&t.ID, &t.Name, &t.Version, &t.Hash, &raw, &t.CreatedAt, &t.CreatedBy); err != nil {
		return Template{}, store.MapError(err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(raw), &t.Content); err != nil {
		return Template{}, fmt.Errorf("template %s: %w", t.ID, err)
	}
	return t, nil
}

func (s *Backflow) latest(ctx context.Context, q store.Querier, ws, templateID string) (Template, error) {
	if !id.Valid(ws) || !id.Valid(templateID) {
		return Template{}, store.ErrNotFound
	}
	return scanTemplate(q.QueryRowContext(ctx, `SELECT `+templateCols+` FROM letter_templates t JOIN letter_template_versions v ON v.workspace_id = t.workspace_id AND v.template_id = t.id
		WHERE t.workspace_id = $1 AND t.id = $2 ORDER BY v.version DESC LIMIT 1`, ws, strings.ToLower(templateID)))
}

// Template returns the latest version of a template.
func (s *Backflow) Template(ctx context.Context, ws, templateID string) (Template, error) {
	return s.latest(ctx, s.DB.R, ws, templateID)
}

// TemplateVersions lists every version of a template, newest first.
func (s *Backflow) TemplateVersions(ctx context.Context, ws, templateID string) ([]Template, error) {
	if _, err := s.Template(ctx, ws, templateID); err != nil {
		return nil, err
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+templateCols+` FROM letter_templates t JOIN letter_template_versions v ON v.workspace_id = t.workspace_id AND v.template_id = t.id
		WHERE t.workspace_id = $1 AND t.id = $2 ORDER BY v.version DESC`, ws, strings.ToLower(templateID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Template{}
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Templates lists the latest version of every template, by name.
func (s *Backflow) Templates(ctx context.Context, ws string) ([]Template, error) {
	out := []Template{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+templateCols+` FROM letter_templates t JOIN letter_template_versions v ON v.workspace_id = t.workspace_id AND v.template_id = t.id
		WHERE t.workspace_id = $1 AND v.version = (SELECT max(version) FROM letter_template_versions m WHERE m.workspace_id = t.workspace_id AND m.template_id = t.id)
		ORDER BY t.name`, ws)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Schedule creates a letter batch with its template a number of days after
// each contract concluded.
type Schedule struct {
	ID         string    `json:"id"`
	TemplateID string    `json:"template_id"`
	Purpose    string    `json:"purpose"`
	DelayDays  int       `json:"delay_days"`
	Enabled    bool      `json:"enabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ScheduleInput sets a template's schedule.
type ScheduleInput struct {
	DelayDays *int   `json:"delay_days"`
	Purpose   string `json:"purpose"`
	Enabled   *bool  `json:"enabled"`
}

// SetSchedule creates or changes the schedule of a template. It applies to
// contracts recorded from now on (their jobs are queued with the contract).
func (s *Backflow) SetSchedule(ctx context.Context, ws, templateID string, in ScheduleInput) (Schedule, error) {
	t, err := s.Template(ctx, ws, templateID)
	if err != nil {
		return Schedule{}, err
	}
	if in.DelayDays == nil {
		return Schedule{}, validate.Required("delay_days")
	}
	if *in.DelayDays < 0 || *in.DelayDays > 365 {
		return Schedule{}, validate.Invalid("delay_days", "delay_days must be 0 to 365 (days after the contract was concluded)")
	}
	if in.Purpose == "" {
		in.Purpose = Purpose
	}
	if _, _, err := s.Ledger.FactsForContacts(ctx, ws, nil, in.Purpose, "post", s.now()); err != nil {
		return Schedule{}, err
	}
	enabled := in.Enabled == nil || *in.Enabled
	now := s.now()
	sc := Schedule{ID: id.New(), TemplateID: t.ID, Purpose: in.Purpose, DelayDays: *in.DelayDays, Enabled: enabled, CreatedAt: now, UpdatedAt: now}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO letter_schedules (id, workspace_id, template_id, purpose, delay_days, enabled, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7)
			ON CONFLICT (workspace_id, template_id) DO UPDATE SET purpose = excluded.purpose, delay_days = excluded.delay_days, enabled = excluded.enabled, updated_at = excluded.updated_at`,
			sc.ID, ws, t.ID, sc.Purpose, sc.DelayDays, sc.Enabled, now); err != nil {
			return store.MapError(err)
		}
		var err error
		sc, err = scanSchedule(tx.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM letter_schedules WHERE workspace_id = $1 AND template_id = $2`, ws, t.ID))
		return err
	})
	return sc, err
}

const scheduleCols = `id, template_id, purpose, delay_days, enabled, created_at, updated_at`

func scanSchedule(sc interface{ Scan(...any) error }) (Schedule, error) {
	var x Schedule
	if err := sc.Scan(&x.ID, &x.TemplateID, &x.Purpose, &x.DelayDays, &x.Enabled, &x.CreatedAt, &x.UpdatedAt); err != nil {
		return Schedule{}, store.MapError(err)
	}
	x.CreatedAt, x.UpdatedAt = x.CreatedAt.UTC(), x.UpdatedAt.UTC()
	return x, nil
}

// Schedules lists the workspace's schedules.
func (s *Backflow) Schedules(ctx context.Context, ws string) ([]Schedule, error) {
	return s.schedules(ctx, s.DB.R, ws, true)
}

func (s *Backflow) schedules(ctx context.Context, q store.Querier, ws string, all bool) ([]Schedule, error) {
	out := []Schedule{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT `+scheduleCols+` FROM letter_schedules WHERE workspace_id = $1 AND ($2 = TRUE OR enabled = TRUE) ORDER BY created_at, id`, ws, all)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		x, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
